"""The pipeline against a real `mlflow server` on 127.0.0.1: refinement, promotion, and serving the champion."""

import json
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import commit_all, run, running_mlflow_server
from pipeline.predict import predict

MODEL_NAME = "text-classifier-csv-news"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A tracking server with its own sqlite store and proxied artifacts; stopped by its process group."""
    with running_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


def exp_run(project: Path, server: str, *settings: str, check: bool = True) -> dict:
    """`dvc exp run` on tiny with the given `-S` settings, tracked on the server; returns its files."""
    args = ["gpu=cpu", "model=tiny", "data=csv", "data.path=data/news.csv", "train.max_epochs=1", "train.lr=0.005",
            f"tracking.uri={server}", *settings]
    run([sys.executable, "-m", "dvc", "exp", "run", *[part for arg in args for part in ("-S", arg)]], project,
        check=check)
    read = lambda path: json.loads((project / path).read_text())  # noqa: E731
    return {"training": read("models/trained/training.json"), "metrics": read("reports/metrics.json"),
            "registry": read("reports/registry.json")}


def alias_version(mlflow: MlflowClient, alias: str) -> int:
    return int(mlflow.get_model_version_by_alias(MODEL_NAME, alias).version)


@pytest.mark.slow  # 3.5 min: `make test-fast` skips it
def test_refine_promote_and_serve_through_a_tracking_server(project, small_frame, mlflow_server, monkeypatch):
    url = mlflow_server["url"]
    mlflow = MlflowClient(url)
    (project / "data").mkdir()
    small_frame.to_csv(project / "data/news.csv", index=False)
    commit_all(project)

    # 1. An unreachable gate, only warned about: every refine round runs; registered, not promoted.
    refine = ["refine.max_rounds=2", "refine.extra_epochs=2"]
    probe = exp_run(project, url, "eval.gate.threshold=1.0", "eval.fail_on_gate=false", *refine)
    assert probe["registry"]["version"] == 1 and probe["registry"]["champion"] is False
    rounds = probe["training"]["rounds"]
    improving = next((r for r in rounds[1:] if r["score"] > rounds[0]["score"]), None)
    assert improving is not None, f"refinement never improved val/f1: {rounds}"

    # 2. A gate between the first fit and a refined round: it fails at first, passes after refinement.
    threshold = (rounds[0]["score"] + improving["score"]) / 2
    passed = exp_run(project, url, f"eval.gate.threshold={threshold}", *refine)
    gate = passed["training"]["gate"]
    assert gate["passed"] is True and gate["refine_rounds"] == improving["round"] >= 1
    assert [r["score"] for r in passed["training"]["rounds"]] == [r["score"] for r in rounds[:improving["round"] + 1]]
    parent = passed["training"]["mlflow_run_id"]
    children = mlflow.search_runs([mlflow.get_run(parent).info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == improving["round"]
    assert all("val/f1" in child.data.metrics and "refine.lr" in child.data.params for child in children)
    assert passed["metrics"]["gate/passed"] == 1.0
    assert mlflow.get_run(parent).data.metrics["test/f1_macro"] == passed["metrics"]["test/f1_macro"]
    assert passed["registry"]["version"] == 2 and passed["registry"]["champion"] is True
    assert alias_version(mlflow, "champion") == 2 and alias_version(mlflow, "challenger") == 2
    assert list(mlflow_server["artifacts"].rglob("model*.onnx")), "artifacts did not go through the server"

    # The champion served from the registry predicts what the ONNX file it serves predicts (int8 by default,
    # where it was accepted), and fp32 ONNX what the exported folder does.
    int8 = json.loads((project / "models/export/quantization.json").read_text())
    served_file = "models/export/model.int8.onnx" if int8["accepted"] else "models/export/model.onnx"
    served_f1 = int8["test/f1_macro_int8"] if int8["accepted"] else passed["metrics"]["test/f1_macro"]
    texts = small_frame.groupby("label").head(2)["text"].tolist()
    monkeypatch.chdir(project)
    local = {source: predict(source, texts)["label"].tolist()
             for source in ("models/export", "models/export/model.onnx", served_file)}
    served = run([sys.executable, "-m", "pipeline.predict", f"models:/{MODEL_NAME}@champion", *texts], project)
    from_registry = [json.loads(line)["label"] for line in served.stdout.splitlines()]
    assert from_registry == local[served_file]
    assert local["models/export"] == local["models/export/model.onnx"]

    # 3. A worse challenger (a learning rate too small to learn) passes the gate but does not take the champion.
    worse = exp_run(project, url, "train.lr=1e-5", "eval.gate.threshold=0", "refine.max_rounds=0")
    assert worse["metrics"]["champion/version"] == 2.0
    assert worse["metrics"]["champion/test/f1_macro"] == pytest.approx(served_f1, abs=1e-6)
    assert worse["metrics"]["compared/test/f1_macro"] < worse["metrics"]["champion/test/f1_macro"]
    assert worse["registry"]["version"] == 3 and worse["registry"]["champion"] is False
    assert "does not beat champion v2" in worse["registry"]["reason"]
    assert alias_version(mlflow, "challenger") == 3 and alias_version(mlflow, "champion") == 2
    assert not (project / "mlflow.db").exists()  # everything went to the server
