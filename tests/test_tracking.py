"""Which MLflow store runs go to, the tags that say where a run came from, and the system metrics in it."""

import pytest
from mlflow.tracking import MlflowClient

from conftest import train_stage
from pipeline.tracking.store import run_tags, tracking_uri


def test_embedded_sqlite_store_is_the_default_made_absolute(compose, monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert compose().tracking.uri == "sqlite:///mlflow.db"
    assert tracking_uri(compose().tracking) == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_environment_variable_overrides_the_store(compose, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri(compose().tracking) == "http://127.0.0.1:5999"


def test_tags_name_commit_gpu_profile_and_params_hash(compose):
    tags = run_tags(compose("gpu=cpu", "model=tiny"))
    assert tags["gpu_profile"] == "cpu" and tags["model"] == "tiny"
    assert len(tags["dvc_params_hash"]) == 12
    assert tags["dvc_params_hash"] != run_tags(compose("gpu=cpu", "model=minilm"))["dvc_params_hash"]
    assert len(tags["git_commit"]) == 40 or tags["git_commit"] == "unknown"


TINY = ("gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "train.max_epochs=1", "eval.gate.threshold=0")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, small_frame):
    path = tmp_path_factory.mktemp("system-metrics")
    small_frame.to_csv(path / "data.csv", index=False)
    return path


@pytest.mark.parametrize("on", [True, False])
def test_train_runs_log_system_metrics_unless_turned_off(on, workdir, compose, monkeypatch):
    """Real tiny runs to a sqlite store, sampled every 0.1 s; without NVML (this machine) there are no GPU metrics."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.1")
    summary = train_stage(compose(*TINY, f"tracking.system_metrics={on}"))
    run = MlflowClient(summary["mlflow_tracking_uri"]).get_run(summary["mlflow_run_id"])
    system = {key for key in run.data.metrics if key.startswith("system/")}
    if on:
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system
    else:
        assert system == set()
    assert "val/f1" in run.data.metrics and run.info.status == "FINISHED"
