"""MLflow outages against real servers: unreachable before training (stop, or fall back to the local store),
and a server killed during training."""

import shutil
import signal
import socket
import time

import lightning as L
import pytest
import torch
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from conftest import free_port, running_mlflow_server, stop_process_group, train_stage
from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.tracking.fallback_logger import ORIGINAL_RUN_TAG, ORIGINAL_URI_TAG, FallbackMLFlowLogger
from pipeline.training.resume import ROOT as RESUME_ROOT
from pipeline.tracking.store import reachable_tracking_uri
from pipeline.tracking.system_metrics import SystemMetrics

PLAIN, WITH_PASSWORD = "http://127.0.0.1:{port}", "http://user:secret@127.0.0.1:{port}"


def masked(uri: str) -> str:
    return uri.replace(":secret@", ":***@")


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """The local store is sqlite:///mlflow.db in the working directory: a fresh one per test."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)


def tracking(uri: str, fallback_local: bool = False):
    return OmegaConf.create({"uri": uri, "experiment": "outage", "fallback_local": fallback_local})


def test_fallback_local_is_off_by_default(compose):
    assert compose().tracking.fallback_local is False


def test_local_stores_are_not_checked(tmp_path):
    assert reachable_tracking_uri(tracking("sqlite:///mlflow.db")) == f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.mark.parametrize("template", [PLAIN, WITH_PASSWORD])
def test_unreachable_server_stops_before_training(template):
    uri = template.format(port=free_port())  # nothing listens there: connection refused
    started = time.monotonic()
    with pytest.raises(PipelineError) as raised:
        reachable_tracking_uri(tracking(uri))
    assert time.monotonic() - started < 5
    err = raised.value
    assert err.code == "tracking-unreachable" and err.where == "params.yaml tracking.uri"
    assert masked(uri) in str(err) and "secret" not in str(err)
    assert "start the server" in err.fix and "MLFLOW_TRACKING_URI" in err.fix
    assert "-S tracking.fallback_local=true" in err.fix


def test_a_server_that_never_answers_is_reported_within_seconds(monkeypatch):
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers a request
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        uri = f"http://127.0.0.1:{silent.getsockname()[1]}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        started = time.monotonic()
        with pytest.raises(PipelineError, match="does not answer") as raised:
            reachable_tracking_uri(tracking("sqlite:///mlflow.db"))
        assert time.monotonic() - started < 10
    assert raised.value.where == "MLFLOW_TRACKING_URI"


@pytest.mark.parametrize("template", [PLAIN, WITH_PASSWORD])
def test_fallback_local_logs_to_the_local_store_with_a_warning(template, tmp_path, capsys):
    uri = template.format(port=free_port())
    assert reachable_tracking_uri(tracking(uri, fallback_local=True)) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    warning = capsys.readouterr().err
    assert warning.startswith("warning[tracking-fallback-local]: ") and masked(uri) in warning
    assert "secret" not in warning


TINY = ("gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "train.max_epochs=1", "eval.gate.threshold=0")


def test_train_stops_before_any_work_when_the_server_is_down(compose):
    from pipeline.stages.train import train

    cfg = compose(*TINY, f"tracking.uri=http://127.0.0.1:{free_port()}")
    with pytest.raises(PipelineError, match="does not answer") as raised:
        train(cfg, {"settings": {"accelerator": "cpu"}})  # nothing else of the plan is read before the check
    assert raised.value.code == "tracking-unreachable"
    assert not paths.TRAINED.exists() and not paths.PLOTS.exists() and not RESUME_ROOT.exists()


def test_fallback_local_trains_evaluates_and_registers_in_the_local_store(compose, small_frame, capsys, monkeypatch):
    from pipeline.core.outputs import read_json
    from pipeline.evaluation.release import release
    from pipeline.stages.evaluate import evaluate
    from pipeline.tracking.registry import model_name

    small_frame.to_csv("data.csv", index=False)
    cfg = compose(*TINY, f"tracking.uri=http://127.0.0.1:{free_port()}", "tracking.fallback_local=true")
    summary = train_stage(cfg)
    assert "warning[tracking-fallback-local]" in capsys.readouterr().err
    assert summary["mlflow_local_fallback"] is True
    assert summary["mlflow_tracking_uri"] == f"sqlite:///{paths.TRAINED.resolve().parents[1] / 'mlflow.db'}"

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri, called in train, sets it
    evaluate(cfg, "cpu")  # finds train's run in the local store though tracking.uri names the dead server
    local = MlflowClient(summary["mlflow_tracking_uri"])
    assert local.get_run(summary["mlflow_run_id"]).data.metrics["test/f1_macro"] > 0
    shutil.copytree(paths.TRAINED, paths.EXPORT)  # what release logs, served with PyTorch: no ONNX needed here
    shutil.copytree(paths.TOKENIZER, paths.EXPORT, dirs_exist_ok=True)
    decision = release(local, model_name(cfg.registry, cfg.data), paths.EXPORT, summary, read_json(paths.METRICS),
                       read_json(paths.LABELS), "pytorch", cfg.registry.min_compared_rows)
    assert local.get_model_version(decision["model_name"], str(decision["version"])).run_id == summary["mlflow_run_id"]


class TinyRegressor(L.LightningModule):
    """Two linear layers on random tensors; remembers the train/loss it logged at each step."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
        self.losses: list[float] = []

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        loss = nn.functional.mse_loss(self.net(inputs), targets)
        self.log("train/loss", loss)
        self.losses.append(loss.item())
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class KillServer(L.Callback):
    """Kills the tracking server (SIGKILL to its process group, as a crash) after a given training step."""

    def __init__(self, process, after_step: int):
        self.process, self.after_step = process, after_step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.after_step:
            stop_process_group(self.process, signal.SIGKILL)


def fit(logger: FallbackMLFlowLogger, *callbacks: L.Callback) -> list[float]:
    """Two epochs of 8 steps on CPU, logging every step; returns the logged train/loss values."""
    torch.manual_seed(0)
    data = DataLoader(TensorDataset(torch.randn(32, 8), torch.randn(32, 1)), batch_size=4)
    model = TinyRegressor()
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, log_every_n_steps=1, logger=logger, callbacks=list(callbacks),
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, data)
    return model.losses


def test_server_killed_during_a_refine_round_moves_both_runs_to_the_local_store(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    with running_mlflow_server(tmp_path) as server:
        uri = server["url"].replace("http://", "http://user:secret@")  # the server ignores the credentials
        assert reachable_tracking_uri(tracking(uri)) == uri
        parent = FallbackMLFlowLogger("outage", uri, "tiny-run", {"stage": "train"})
        parent.log_hyperparams({"lr": 0.01, "model": {"layers": 2}})
        first_round = fit(parent, SystemMetrics())
        server_parent = parent.run_id
        assert "system/cpu_utilization_percentage" in MlflowClient(uri).get_run(server_parent).data.metrics
        child = parent.child("refine-1", {"refine_round": "1"})
        child.log_hyperparams({"refine.lr": 0.005})
        server_child = child.run_id
        started = time.monotonic()
        refine_round = fit(child, KillServer(server["process"], after_step=5), SystemMetrics())
        assert time.monotonic() - started < 60, "the system metrics monitor held up the round"
        assert server["process"].poll() is not None, "the server was not killed"
    parent.log_metrics({"gate/passed": 1.0})
    (tmp_path / "plan.yaml").write_text("target: cpu\n")
    parent.log_artifact(str(tmp_path / "plan.yaml"))

    stderr = capsys.readouterr().err
    assert stderr.count("warning[tracking-lost]") == 1 and masked(uri) in stderr and "secret" not in stderr
    local = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert parent.tracking_uri == child.tracking_uri == local
    assert parent.run_id != server_parent and child.run_id != server_child
    store = MlflowClient(local)

    def history(run_id: str) -> list[float]:
        return [m.value for m in sorted(store.get_metric_history(run_id, "train/loss"), key=lambda m: m.step)]

    moved = store.get_run(parent.run_id)
    assert moved.data.tags[ORIGINAL_RUN_TAG] == server_parent and moved.data.tags[ORIGINAL_URI_TAG] == masked(uri)
    assert moved.data.tags[MLFLOW_RUN_NAME] == "tiny-run" and moved.data.tags["stage"] == "train"
    assert moved.data.params == {"lr": "0.01", "model/layers": "2"}
    assert history(parent.run_id) == pytest.approx(first_round)  # logged to the server, replayed here
    assert moved.data.metrics["gate/passed"] == 1.0 and moved.info.status == "FINISHED"
    assert [a.path for a in store.list_artifacts(parent.run_id)] == ["plan.yaml"]

    refined = store.get_run(child.run_id)
    assert refined.data.tags[ORIGINAL_RUN_TAG] == server_child and refined.data.tags["refine_round"] == "1"
    assert refined.data.tags[MLFLOW_PARENT_RUN_ID] == parent.run_id and refined.data.tags[MLFLOW_RUN_NAME] == "refine-1"
    assert refined.data.params == {"refine.lr": "0.005"}
    assert len(refine_round) == 16 and history(child.run_id) == pytest.approx(refine_round)  # before and after
