"""Which MLflow store runs go to, the experiment and tags that say where a run came from, and the system metrics in
it."""

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from conftest import train_stage
from pipeline.tracking.store import (DVC_EXPERIMENT_TAG, EXPERIMENT_KIND_TAG, MODEL_TRAINING, experiment_id, run_tags,
                                     tracking_uri, ui_link)


def test_embedded_sqlite_store_is_the_default_made_absolute(compose, monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert compose().tracking.uri == "sqlite:///mlflow.db"
    assert tracking_uri(compose().tracking) == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_a_relative_store_is_the_project_roots_when_dvc_runs_a_copy(compose, monkeypatch, tmp_path):
    """A queued experiment runs in a temporary copy of the project; DVC_ROOT names the project."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "copy").mkdir()
    monkeypatch.chdir(tmp_path / "copy")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
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


def test_experiment_kind_is_the_one_the_installed_mlflow_ui_reads():
    """MLflow's Python package defines no constant for it: its UI bundle reads the tag and names the kinds."""
    bundle = Path(mlflow.__file__).parent / "server/js/build/static/js"
    ui = "".join(path.read_text() for path in bundle.glob("main.*.js"))
    assert f'"{EXPERIMENT_KIND_TAG}"' in ui
    assert f'CUSTOM_MODEL_DEVELOPMENT="{MODEL_TRAINING}"' in ui


def test_an_experiment_gets_the_kind_unless_it_has_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    old = client.create_experiment("old")
    genai = client.create_experiment("genai", tags={EXPERIMENT_KIND_TAG: "genai_development"})
    assert experiment_id(client, "old") == old and experiment_id(client, "genai") == genai
    new = experiment_id(client, "new")
    kinds = [client.get_experiment(found).tags[EXPERIMENT_KIND_TAG] for found in (old, genai, new)]
    assert kinds == [MODEL_TRAINING, "genai_development", MODEL_TRAINING]


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


def test_a_run_in_a_copy_of_the_project_goes_to_the_projects_store_named_after_the_dvc_experiment(
        workdir, compose, monkeypatch, tmp_path):
    """As in a queued DVC experiment: the stage runs in a copy (here `workdir`) with DVC_ROOT and DVC_EXP_NAME set.
    The run, the experiment (tagged for MLflow's training view) and the artifacts are the project's."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    monkeypatch.setenv("DVC_EXP_NAME", "lucky-lark")
    summary = train_stage(compose(*TINY, "tracking.system_metrics=false"))
    assert summary["mlflow_tracking_uri"] == f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(summary["mlflow_tracking_uri"])
    run = client.get_run(summary["mlflow_run_id"])
    assert run.info.run_name == "lucky-lark" and run.data.tags[DVC_EXPERIMENT_TAG] == "lucky-lark"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING
    assert experiment.artifact_location == str(tmp_path / "mlruns" / "text-classification")
    assert (Path(run.info.artifact_uri) / "plan.yaml").is_file()


def test_the_ui_link_opens_the_model_training_view():
    assert ui_link("http://127.0.0.1:5000/", "7") == "http://127.0.0.1:5000/#/experiments/7?workflowType=machine_learning"
    local = ui_link("sqlite:////work/mlflow.db", "1")
    assert local.startswith("`mlflow ui --backend-store-uri sqlite:////work/mlflow.db --host 127.0.0.1 --port 5000`")
    assert local.endswith(", then http://127.0.0.1:5000/#/experiments/1?workflowType=machine_learning")
