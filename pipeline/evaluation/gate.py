"""The quality gate (`eval.gate`): the one place that says whether a model passed and what follows.

train asks `passes` after each round and records `verdict` in training.json; evaluate reports it beside
the test metrics (`as_metrics`); export enforces it (`enforce`) after exporting; registry promotion and
retrain read `passed`. The gate looks at the validation split only.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pipeline.core.errors import PipelineError, warn


def passes(score: float, gate: DictConfig) -> bool:
    """Whether a validation score meets the gate's threshold."""
    return score >= gate.threshold


def verdict(score: float, gate: DictConfig, refine_rounds: int) -> dict:
    """The gate's outcome for the best score reached, as training.json records it."""
    return {"metric": gate.metric, "threshold": gate.threshold, "value": round(score, 6),
            "passed": passes(score, gate), "refine_rounds": refine_rounds}


def passed(training: dict) -> bool:
    """Whether the model train saved passed the gate (`training` is models/trained/training.json)."""
    return bool(training["gate"]["passed"])


def as_metrics(verdict: dict) -> dict[str, float]:
    """The verdict as numbers for reports/metrics.json (DVC metrics are numbers)."""
    return {"gate/passed": float(verdict["passed"]), "gate/refine_rounds": float(verdict["refine_rounds"]),
            "gate/value": verdict["value"], "gate/threshold": float(verdict["threshold"])}


def describe(verdict: dict) -> str:
    """'gate val/f1 >= 0.9 passed after 0 refine round(s)'."""
    outcome = "passed" if verdict["passed"] else "failed"
    return f"gate {verdict['metric']} >= {verdict['threshold']} {outcome} after {verdict['refine_rounds']} refine round(s)"


def shortfall(verdict: dict) -> str:
    """'val/f1 0.85 < 0.9 (missed by 0.0500) after 2 refine round(s)'."""
    return (f"{verdict['metric']} {verdict['value']} < {verdict['threshold']} (missed by "
            f"{verdict['threshold'] - verdict['value']:.4f}) after {verdict['refine_rounds']} refine round(s)")


def enforce(verdict: dict, fail_on_gate: bool, exported_to: str) -> None:
    """After export: a failed gate stops the pipeline (exit 2), or only warns with `eval.fail_on_gate=false`."""
    if verdict["passed"]:
        return
    if not fail_on_gate:
        warn("gate-failed-continuing", f"quality gate failed: {shortfall(verdict)}; eval.fail_on_gate=false, "
             "so carrying on")
        return
    raise PipelineError("gate-failed", f"quality gate failed: {shortfall(verdict)}; the model was exported to "
                        f"{exported_to}/ for inspection, not promoted", "params.yaml eval.gate",
                        "add data, raise refine.max_rounds or train.max_epochs, or lower eval.gate.threshold "
                        "(-S eval.fail_on_gate=false to only warn)")
