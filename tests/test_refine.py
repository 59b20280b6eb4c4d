"""Evaluate-then-refine: rounds continue from the best weights while the validation gate fails."""

import json

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline import paths
from pipeline.errors import PipelineError
from pipeline.gpu.policy import resolve_plan
from pipeline.stages.export import check_gate
from pipeline.stages.preprocess import preprocess

NO_GPU = {"torch": {"cuda_available": False, "cuda_build": None}, "gpus": [], "gpu_profile": None}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, small_frame):
    path = tmp_path_factory.mktemp("refine")
    small_frame.to_csv(path / "data.csv", index=False)
    return path


def run_training(workdir, monkeypatch, compose, threshold):
    from pipeline.stages.train import train

    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose("gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "train.max_epochs=1",
                  "train.lr=0.005", f"eval.gate.threshold={threshold}", "refine.max_rounds=2",
                  "refine.extra_epochs=2")
    if not paths.DATASET.exists():
        preprocess(cfg)
    plan = resolve_plan(NO_GPU, cfg.gpu, cfg.model, cfg.train)
    paths.PLAN.write_text(OmegaConf.to_yaml(OmegaConf.create(plan)))
    return train(cfg, plan), MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


def test_unreachable_gate_uses_every_round_as_nested_runs_and_fails(workdir, monkeypatch, compose):
    summary, mlflow = run_training(workdir, monkeypatch, compose, threshold=1.0)
    rounds = summary["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert [r["lr"] for r in rounds] == pytest.approx([5e-3, 2.5e-3, 1.25e-3])
    assert summary["gate"] == {"metric": "val/f1", "threshold": 1.0, "value": max(r["score"] for r in rounds),
                               "passed": False, "refine_rounds": 2}
    assert max(r["score"] for r in rounds[1:]) > rounds[0]["score"], f"refinement never improved val/f1: {rounds}"

    for child in rounds[1:]:
        run = mlflow.get_run(child["mlflow_run_id"])
        assert run.data.tags["mlflow.parentRunId"] == summary["mlflow_run_id"]
        assert float(run.data.params["refine.lr"]) == pytest.approx(child["lr"])
        assert "val/f1" in run.data.metrics
    curve = (workdir / "reports/plots/val.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in curve[1:]] == [["0", "0"], ["1", "1"], ["2", "1"], ["3", "2"], ["4", "2"]]


def test_gate_that_fails_first_passes_after_refinement_and_stops_there(workdir, monkeypatch, compose):
    first = json.loads((workdir / paths.TRAINING_SUMMARY).read_text())["rounds"]
    improving = next(r for r in first[1:] if r["score"] > first[0]["score"])
    threshold = (first[0]["score"] + improving["score"]) / 2
    summary, mlflow = run_training(workdir, monkeypatch, compose, threshold=threshold)
    assert summary["gate"]["passed"] is True
    assert summary["gate"]["refine_rounds"] == improving["round"]
    assert [r["score"] for r in summary["rounds"]] == [r["score"] for r in first[: improving["round"] + 1]]
    assert mlflow.get_run(summary["mlflow_run_id"]).data.metrics["gate/passed"] == 1.0


def test_failed_gate_stops_the_pipeline_unless_told_to_warn(tmp_path, monkeypatch, compose, capsys):
    monkeypatch.chdir(tmp_path)
    paths.TRAINED.mkdir(parents=True)
    gate = {"metric": "val/f1", "threshold": 0.9, "value": 0.85, "passed": False, "refine_rounds": 2}
    paths.TRAINING_SUMMARY.write_text(json.dumps({"gate": gate}))
    with pytest.raises(PipelineError, match=r"val/f1 0.85 < 0.9 \(missed by 0.0500\) after 2 refine round"):
        check_gate(compose())
    check_gate(compose("eval.fail_on_gate=false"))
    assert "carrying on" in capsys.readouterr().err
