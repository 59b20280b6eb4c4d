"""Champion against challenger: the registry champion scored on this test split, and the promotion decision.

A new version becomes champion only if the validation gate passed and its test macro F1 beats the current
champion's on the same test split (the first model that passes the gate becomes champion).
"""

from __future__ import annotations

import mlflow
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.evaluation.metrics import macro_f1
from pipeline.serving.inference import load_registered
from pipeline.tracking.registry import check_same_task, current_champion, registry_error

PROMOTE_METRIC = "test/f1_macro"


def score_champion(client: MlflowClient, name: str, texts: list[str], targets: torch.Tensor,
                   labels: list[str]) -> dict[str, float]:
    """The champion's version and test macro F1 on this split, computed as ours (empty without a champion).

    Scored by label name, so a champion trained on other data is compared on the same split.
    """
    version = current_champion(client, name)
    if version is None:
        return {}
    check_same_task(name, version, labels)
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        classifier = load_registered(f"models:/{name}/{version.version}")
    except MlflowException as err:
        raise registry_error(client, f"downloading the champion {name} v{version.version}", err) from None
    predicted = classifier.predict(texts)["label"].astype(str)
    ids = {label: i for i, label in enumerate(labels)}
    preds = torch.tensor([ids.get(label, len(labels)) for label in predicted])
    return {"champion/version": float(version.version), f"champion/{PROMOTE_METRIC}": macro_f1(preds, targets, len(labels))}


def promotion(gate_passed: bool, metrics: dict[str, float]) -> tuple[bool, str]:
    """Whether the challenger (its metrics.json, with the champion's score beside it) takes the champion alias, and why."""
    if not gate_passed:
        return False, "the quality gate failed"
    if "champion/version" not in metrics:
        return True, "first model that passed the gate"
    ours, theirs = metrics[PROMOTE_METRIC], metrics[f"champion/{PROMOTE_METRIC}"]
    version = int(metrics["champion/version"])
    verb = "beats" if ours > theirs else "does not beat"
    return ours > theirs, f"{PROMOTE_METRIC} {ours} {verb} champion v{version}'s {theirs} on the same test split"
