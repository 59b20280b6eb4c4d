"""System metrics in a training run: MLflow's own monitor (the one mlflow.start_run(log_system_metrics=True)
starts), run by a Lightning callback on the run Lightning's logger created (tracking.system_metrics)."""

from __future__ import annotations

import logging

import lightning as L
from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

from pipeline.core.redact import redact


class Redacted(logging.Filter):
    """Masks secrets in a log line: the monitor's warnings name the tracking URI it failed to reach, password included."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


logging.getLogger(SystemMetricsMonitor.__module__).addFilter(Redacted())


class SystemMetrics(L.Callback):
    """Samples CPU, memory, disk, network and, through NVML where there is a driver, GPU use and memory into the
    fit's run (system/cpu_utilization_percentage, system/gpu_0_utilization_percentage, ...) from the start of the
    fit to its end: every 10 s, or every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds. Main process only; a run
    fitted again (resumed, or retried after out of memory) carries on its steps.

    The logger must be a FallbackMLFlowLogger. If it moves to the local store (the server was lost), the monitor
    is not waited for: it stops at its own next failed request.
    """

    def __init__(self):
        self._monitor: SystemMetricsMonitor | None = None
        self._uri: str | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self._uri = trainer.logger.tracking_uri
            self._monitor = SystemMetricsMonitor(trainer.logger.run_id, resume_logging=True, tracking_uri=self._uri)
            self._monitor.start()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._finish(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._finish(trainer)

    def _finish(self, trainer: L.Trainer) -> None:
        """Stop sampling and log what is left, before Lightning ends the run (both hooks run before that)."""
        if self._monitor is not None and trainer.logger.tracking_uri == self._uri:
            self._monitor.finish()
        self._monitor = None
