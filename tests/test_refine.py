"""Evaluate-then-refine: rounds continue from the best weights while the validation gate fails."""

import json

import pytest
from mlflow.tracking import MlflowClient

from conftest import ROOT, resolve_stage
from pipeline.config.compose import compose_config
from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.evaluation import gate
from pipeline.stages.preprocess import preprocess


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, small_frame):
    path = tmp_path_factory.mktemp("refine")
    small_frame.to_csv(path / "data.csv", index=False)
    return path


def run_training(workdir, monkeypatch, threshold):
    from pipeline.stages.train import train

    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose_config(["gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "train.max_epochs=1",
                          "train.lr=0.005", f"eval.gate.threshold={threshold}", "refine.max_rounds=2",
                          "refine.extra_epochs=2"], conf_dir=ROOT / "conf")
    if not paths.DATASET.exists():
        preprocess(cfg)
    return train(cfg, resolve_stage(cfg)), MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}")


@pytest.fixture(scope="module")
def unreachable(workdir):
    """A run whose gate (val/f1 >= 1.0) no round reaches: every refinement round runs."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return run_training(workdir, monkeypatch, threshold=1.0)


def test_unreachable_gate_uses_every_round_as_nested_runs_and_fails(unreachable, workdir):
    summary, mlflow = unreachable
    rounds = summary["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert [r["lr"] for r in rounds] == pytest.approx([5e-3, 2.5e-3, 1.25e-3])
    baseline = json.loads((workdir / "reports/baseline.json").read_text())["baseline/val/f1_macro"]
    assert summary["gate"] == {"metric": "val/f1", "threshold": 1.0, "baseline": baseline,
                               "value": max(r["score"] for r in rounds), "passed": False, "refine_rounds": 2}
    assert max(r["score"] for r in rounds[1:]) > rounds[0]["score"], f"refinement never improved val/f1: {rounds}"

    for child in rounds[1:]:
        run = mlflow.get_run(child["mlflow_run_id"])
        assert run.data.tags["mlflow.parentRunId"] == summary["mlflow_run_id"]
        assert float(run.data.params["refine.lr"]) == pytest.approx(child["lr"])
        assert "val/f1" in run.data.metrics
    curve = (workdir / "reports/plots/val.csv").read_text().splitlines()
    assert [line.split(",")[:2] for line in curve[1:]] == [["0", "0"], ["1", "1"], ["2", "1"], ["3", "2"], ["4", "2"]]


def test_gate_that_fails_first_passes_after_refinement_and_stops_there(unreachable, workdir, monkeypatch):
    first = unreachable[0]["rounds"]
    improving = next(r for r in first[1:] if r["score"] > first[0]["score"])
    threshold = (first[0]["score"] + improving["score"]) / 2
    summary, mlflow = run_training(workdir, monkeypatch, threshold=threshold)
    assert summary["gate"]["passed"] is True
    assert summary["gate"]["refine_rounds"] == improving["round"]
    assert [r["score"] for r in summary["rounds"]] == [r["score"] for r in first[: improving["round"] + 1]]
    assert mlflow.get_run(summary["mlflow_run_id"]).data.metrics["gate/passed"] == 1.0


def test_failed_gate_stops_the_pipeline_unless_told_to_warn(capsys):
    verdict = {"metric": "val/f1", "threshold": 0.9, "baseline": 0.87, "value": 0.85, "passed": False,
               "refine_rounds": 2}
    with pytest.raises(PipelineError, match=r"val/f1 0.85 < 0.9 \(missed by 0.0500\) after 2 refine round\(s\); "
                                            r"the TF-IDF \+ logistic regression baseline scores 0.87") as err:
        gate.enforce(verdict, fail_on_gate=True, exported_to="models/export")
    assert err.value.code == "gate-failed" and "models/export/" in err.value.what
    gate.enforce(verdict, fail_on_gate=False, exported_to="models/export")
    assert capsys.readouterr().err.startswith("warning[gate-failed-continuing]: quality gate failed")
    gate.enforce({**verdict, "value": 0.9, "passed": True}, fail_on_gate=True, exported_to="models/export")


def test_verdict_is_hand_checked_at_the_threshold():
    threshold = {"metric": "val/accuracy", "threshold": 0.8, "baseline": 0.7}
    assert gate.verdict(0.8, threshold, refine_rounds=1) == {"metric": "val/accuracy", "threshold": 0.8, "baseline": 0.7,
                                                             "value": 0.8, "passed": True, "refine_rounds": 1}
    assert gate.verdict(0.7999999, threshold, refine_rounds=0)["passed"] is False
    assert gate.as_metrics(gate.verdict(0.75, threshold, 2)) == {"gate/passed": 0.0, "gate/refine_rounds": 2.0,
                                                                 "gate/value": 0.75, "gate/threshold": 0.8}


BASELINE = {"baseline/val/f1_macro": 0.873, "baseline/val/accuracy": 0.91}


@pytest.mark.parametrize("overrides, source, threshold, baseline, said", [
    ([], "csv", 0.873, 0.873, "auto on your data"),                  # your data: at least the baseline
    (["eval.gate.metric=val/accuracy"], "csv", 0.91, 0.91, "auto on your data"),
    ([], "packaged", 0.9, 0.873, "auto on the packaged set: 0.9"),    # the packaged set: its own level
    (["eval.gate.threshold=0.5"], "csv", 0.5, 0.873, "eval.gate.threshold=0.5 (set)"),  # a set threshold wins
    (["eval.gate.threshold=0.95"], "packaged", 0.95, 0.873, "(set)"),
])
def test_the_gate_resolves_to_the_set_threshold_else_by_data(compose, overrides, source, threshold, baseline, said):
    rule = gate.resolve(compose(*overrides).eval.gate, source, BASELINE)
    assert (rule["threshold"], rule["baseline"]) == (threshold, baseline)
    assert said in rule["reason"] and "TF-IDF" in rule["reason"]
