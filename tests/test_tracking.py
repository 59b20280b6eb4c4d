"""Which MLflow store runs go to, and the tags that say where a run came from."""

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
