"""A Lightning MLflow logger that keeps logging, to the local store, when the tracking server dies mid-run."""

from __future__ import annotations

import time
from argparse import Namespace
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

from pipeline.core.errors import warn
from pipeline.core.redact import redact
from pipeline.tracking.store import (LOCAL_URI, TRAIN_RETRIES, TRAIN_TIMEOUT_S, absolute, experiment_id, http_limits,
                                     is_server, server_unreachable)

ORIGINAL_URI_TAG, ORIGINAL_RUN_TAG = "original_tracking_uri", "original_run_id"
METRICS_PER_REQUEST = 1000  # MLflow's limit for one log_batch
T = TypeVar("T")


class FallbackMLFlowLogger(MLFlowLogger):
    """MLFlowLogger that moves its run to the local sqlite store when the tracking server stops answering.

    On the first failed request (refused, timed out, 5xx) it warns once (tracking-lost), creates a run
    with the same name, tags and params in the local store, tagged with the original URI (password
    masked) and run id, replays the metrics logged so far (kept in memory for this) and the end status,
    and logs there from then on. Requests to the server retry briefly (pipeline.tracking.store.TRAIN_*).
    Runs nested with `child` follow their parent to the local store.

    Log through the logger (log_hyperparams, log_metrics, log_artifact), not `experiment`, so the move
    covers it; read `run_id` and `tracking_uri` at the end: they name the run and store in use then.
    """

    def __init__(self, experiment_name: str, tracking_uri: str, run_name: str, tags: Mapping[str, str],
                 parent: FallbackMLFlowLogger | None = None, run_id: str | None = None):
        super().__init__(experiment_name=experiment_name, run_name=run_name, tracking_uri=tracking_uri,
                         tags=dict(tags), run_id=run_id)
        self._parent = parent
        self._params: list[dict[str, Any] | Namespace] = []
        self._metrics: list[Metric] = []
        self._status: str | None = None  # set by finalize, replayed onto the local run

    @property
    def tracking_uri(self) -> str:
        """The store logged to now: the server, or the local sqlite store once the server was lost."""
        return self._tracking_uri

    @property
    def experiment(self) -> MlflowClient:
        """The MlflowClient of the store in use; the run (and the experiment, if new) is created on first use."""
        return self._guarded(self._open)

    def child(self, run_name: str, tags: Mapping[str, str], run_id: str | None = None) -> FallbackMLFlowLogger:
        """A logger for a run nested under this one (tag mlflow.parentRunId), in the store this one uses now;
        `run_id` continues an existing nested run (after a resume)."""
        return FallbackMLFlowLogger(self._experiment_name, self._tracking_uri, run_name,
                                    {**tags, MLFLOW_PARENT_RUN_ID: self.run_id}, parent=self, run_id=run_id)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace) -> None:
        self._guarded(super().log_hyperparams, params)
        self._params.append(params)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log the metrics at `step` (MLFlowLogger's prefix and key clean-up are not needed here)."""
        timestamp = int(time.time() * 1000)
        batch = [Metric(key, float(value), timestamp, step or 0) for key, value in metrics.items()]
        self._guarded(lambda: self.experiment.log_batch(self.run_id, metrics=batch))
        self._metrics.extend(batch)

    @rank_zero_only
    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set tags on the run (kept, so a move to the local store carries them)."""
        self._guarded(lambda: [self.experiment.set_tag(self.run_id, key, value) for key, value in tags.items()])
        self.tags.update(tags)

    @rank_zero_only
    def log_artifact(self, path: str) -> None:
        """Upload a file to the run."""
        self._guarded(lambda: self.experiment.log_artifact(self.run_id, path))

    @rank_zero_only
    def finalize(self, status: str = "success") -> None:
        self._guarded(super().finalize, status)
        self._status = status

    @rank_zero_experiment
    def _open(self) -> MlflowClient:
        """MLFlowLogger's client and run, in the experiment pipeline.tracking.store.experiment_id gets or creates."""
        if not self._initialized and self._experiment_id is None:
            self._experiment_id = experiment_id(self._mlflow_client, self._experiment_name)
        return MLFlowLogger.experiment.fget(self)

    def _guarded(self, call: Callable[..., T], *args: Any) -> T:
        """`call(*args)`; if the server does not answer, move to the local store and call again there."""
        if not is_server(self._tracking_uri):
            return call(*args)
        try:
            with http_limits(TRAIN_RETRIES, TRAIN_TIMEOUT_S):
                return call(*args)
        except (MlflowException, requests.RequestException) as err:
            if not server_unreachable(err):
                raise
        self._move_to_local()
        return call(*args)

    def _move_to_local(self) -> None:
        """Re-create the run (and its parent's) in the local store and log there from now on."""
        if not is_server(self._tracking_uri):
            return
        server, run_id, local = self._tracking_uri, self._run_id, absolute(LOCAL_URI)
        if self._parent is not None:
            self._parent._move_to_local()  # first, so this run nests under the parent's local run
        else:
            tagged = f", in a run tagged {ORIGINAL_RUN_TAG}={run_id}" if run_id else ""
            warn("tracking-lost", f"MLflow server {redact(server)} stopped answering; logging continues in "
                 f"{local}{tagged}")
        self._tracking_uri, self._mlflow_client = local, MlflowClient(local)
        self._initialized, self._experiment_id, self._run_id = False, None, None
        self.tags.pop(MLFLOW_RUN_NAME, None)  # set again from run_name when the local run is created
        self.tags[ORIGINAL_URI_TAG] = redact(server)
        if run_id is not None:
            self.tags[ORIGINAL_RUN_TAG] = run_id
        if self._parent is not None:
            self.tags[MLFLOW_PARENT_RUN_ID] = self._parent.run_id
        for params in self._params:
            super().log_hyperparams(params)
        for start in range(0, len(self._metrics), METRICS_PER_REQUEST):
            self.experiment.log_batch(self.run_id, metrics=self._metrics[start:start + METRICS_PER_REQUEST])
        if self._status is not None:
            super().finalize(self._status)
