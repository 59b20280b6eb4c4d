"""The quality gate (`eval.gate`): the one place that says whether a model passed and what follows.

resolve settles the threshold (`resolve`: the one set, else 0.9 on the packaged set, else the classical
baseline's validation score) into the plan; train asks `passes` after each round and records `verdict` in
training.json; evaluate reports it beside the test metrics (`as_metrics`); export enforces it (`enforce`)
after exporting; registry promotion and retrain read `passed`. The gate looks at the validation split only.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pipeline.core.errors import PipelineError, warn

PACKAGED_THRESHOLD = 0.9  # the packaged BBC News set: a fine-tuned MiniLM reaches about 0.97 there
BASELINE_SCORE = {"val/f1": "baseline/val/f1_macro", "val/f1_micro": "baseline/val/f1_micro",
                  "val/accuracy": "baseline/val/accuracy"}  # reports/baseline.json


def resolve(gate: DictConfig, data_source: str, baseline: dict) -> dict:
    """The gate the plan states: {metric, threshold, baseline (its validation score), reason}."""
    score = baseline[BASELINE_SCORE[gate.metric]]
    named = f"the TF-IDF + logistic regression baseline's {gate.metric} is {score}"
    if gate.threshold != "auto":
        threshold, reason = float(gate.threshold), f"eval.gate.threshold={gate.threshold} (set); {named}"
    elif data_source == "packaged":
        threshold, reason = PACKAGED_THRESHOLD, (f"eval.gate.threshold=auto on the packaged set: {PACKAGED_THRESHOLD}, "
                                                 f"the level chosen for it; {named}")
    else:
        threshold, reason = score, (f"eval.gate.threshold=auto on your data: {named}, and fine-tuning must at least "
                                    "match it (-S eval.gate.threshold=<number> sets your own)")
    return {"metric": gate.metric, "threshold": threshold, "baseline": score, "reason": reason}


def passes(score: float, gate: dict) -> bool:
    """Whether a validation score meets the resolved gate's threshold."""
    return score >= gate["threshold"]


def verdict(score: float, gate: dict, refine_rounds: int) -> dict:
    """The outcome of the resolved gate (the plan's) for the best score reached, as training.json records it."""
    return {"metric": gate["metric"], "threshold": gate["threshold"], "baseline": gate["baseline"],
            "value": round(score, 6), "passed": passes(score, gate), "refine_rounds": refine_rounds}


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
    """'val/f1 0.85 < 0.9 (missed by 0.0500) after 2 refine round(s); the TF-IDF + logistic regression
    baseline scores 0.87'."""
    return (f"{verdict['metric']} {verdict['value']} < {verdict['threshold']} (missed by "
            f"{verdict['threshold'] - verdict['value']:.4f}) after {verdict['refine_rounds']} refine round(s); "
            f"the TF-IDF + logistic regression baseline scores {verdict['baseline']}")


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
                        "read reports/errors.csv and reports/suspect_labels.csv, add data, raise refine.max_rounds "
                        "or train.max_epochs, or set eval.gate.threshold (-S eval.fail_on_gate=false to only warn)")
