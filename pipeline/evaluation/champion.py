"""Champion against challenger: both scored on the test rows the champion never trained on, and the
promotion decision.

A new version becomes champion only if the validation gate passed and its test macro F1 beats the current
champion's on the same test rows (the first model that passes the gate becomes champion). The champion's
training rows are the hashes its training run logged (pipeline.data.fingerprint); a test row among them is
left out for both, so a file that grew, another seed or another split cannot hand the champion rows it
learned. Too few rows left (registry.min_compared_rows) and nothing is promoted.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import torch
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.data.fingerprint import ARTIFACT, text_hash
from pipeline.data.pairs import text_columns_of
from pipeline.evaluation.metrics import macro_f1
from pipeline.serving.inference import load_registered
from pipeline.tracking.registry import (MULTI_LABEL_TASK, SINGLE_LABEL_TASK, check_same_task, current_champion,
                                        registry_error)

PROMOTE_METRIC = "test/f1_macro"
COMPARED = f"compared/{PROMOTE_METRIC}"  # the challenger's score on the rows the champion is scored on


def trained_texts(client: MlflowClient, version) -> set[str] | None:
    """The text hashes the version's training run logged, or None for a version trained before they were."""
    folder, name = ARTIFACT.rsplit("/", 1)
    try:
        if name not in {Path(item.path).name for item in client.list_artifacts(version.run_id, folder)}:
            return None
        with tempfile.TemporaryDirectory(prefix="training-rows-") as tmp:
            return set(json.loads(Path(client.download_artifacts(version.run_id, ARTIFACT, tmp)).read_text())["texts"])
    except MlflowException as err:
        raise registry_error(client, f"reading what v{version.version} trained on", err) from None


def unseen_rows(trained: set[str] | None, texts: list) -> np.ndarray:
    """True for each text whose hash is not in `trained` (every text when `trained` is None: unknown)."""
    return np.array([trained is None or text_hash(text) not in trained for text in texts], dtype=bool)


def compared_rows(client: MlflowClient, name: str, metrics: dict, texts: list) -> np.ndarray | None:
    """The test rows evaluate scored the champion on (metrics.json's champion/version), None without one."""
    if "champion/version" not in metrics:
        return None
    number = str(int(metrics["champion/version"]))
    try:
        version = client.get_model_version(name, number)
    except MlflowException as err:
        raise registry_error(client, f"reading {name} v{number}", err) from None
    return unseen_rows(trained_texts(client, version), texts)


def score_champion(client: MlflowClient, name: str, texts: list, targets: torch.Tensor, preds: torch.Tensor,
                   labels: list[str]) -> dict[str, float]:
    """The champion's version, how many test rows it is compared on (those it never trained on) and how many
    it trained on, and its and our (`preds`) macro F1 on those rows (empty without a champion).

    Scored by label name, so a champion trained on other data is compared on the same rows.
    """
    version = current_champion(client, name)
    if version is None:
        return {}
    check_same_task(name, version, labels, text_columns_of(texts),
                    MULTI_LABEL_TASK if targets.dim() == 2 else SINGLE_LABEL_TASK)
    trained = trained_texts(client, version)
    unseen = unseen_rows(trained, texts)
    scores = {"champion/version": float(version.version), "champion/rows_known": float(trained is not None),
              "champion/compared_rows": float(unseen.sum()), "champion/trained_on_rows": float((~unseen).sum())}
    if not unseen.any():
        return scores
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        classifier = load_registered(f"models:/{name}/{version.version}")
    except MlflowException as err:
        raise registry_error(client, f"downloading the champion {name} v{version.version}", err) from None
    keep = torch.from_numpy(unseen)
    theirs = decided(classifier.predict([text for text, kept in zip(texts, unseen) if kept]), labels)
    return {**scores, f"champion/{PROMOTE_METRIC}": macro_f1(theirs, targets[keep], len(labels)),
            COMPARED: macro_f1(preds[keep], targets[keep], len(labels))}


def decided(frame, labels: list[str]) -> torch.Tensor:
    """A registered model's predictions (its predict frame) by label name, in `labels` order: each text's label id
    (len(labels) for a label not among them), or for label sets a 0/1 row per text."""
    ids = {label: i for i, label in enumerate(labels)}
    if "labels" in frame:
        return torch.tensor([[int(label in chosen) for label in labels] for chosen in map(set, frame["labels"])],
                            dtype=torch.long)
    return torch.tensor([ids.get(label, len(labels)) for label in frame["label"].astype(str)])


def promotion(gate_passed: bool, metrics: dict[str, float], min_rows: int) -> tuple[bool, str]:
    """Whether the challenger (its metrics.json, with the champion's score beside it) takes the champion alias,
    and why."""
    if not gate_passed:
        return False, "the quality gate failed"
    if "champion/version" not in metrics:
        return True, "first model that passed the gate"
    version = int(metrics["champion/version"])
    compared, trained_on = int(metrics["champion/compared_rows"]), int(metrics["champion/trained_on_rows"])
    needed = min(min_rows, compared + trained_on)
    if compared < needed:
        return False, (f"only {compared} of the {compared + trained_on} test rows are rows champion v{version} never "
                       f"trained on; a fair comparison needs {needed} (registry.min_compared_rows)")
    ours, theirs = metrics[COMPARED], metrics[f"champion/{PROMOTE_METRIC}"]
    verb = "beats" if ours > theirs else "does not beat"
    return ours > theirs, f"{PROMOTE_METRIC} {ours} {verb} champion v{version}'s {theirs} on {rows_compared(metrics)}"


def rows_compared(metrics: dict[str, float]) -> str:
    """In words, the test rows this model and the champion of its metrics.json (champion/version) were both
    scored on: the promotion's reason and the model card say it alike."""
    version, compared = int(metrics["champion/version"]), int(metrics["champion/compared_rows"])
    trained_on = int(metrics["champion/trained_on_rows"])
    if not metrics["champion/rows_known"]:
        return f"the same {compared} test rows (v{version} has no record of what it trained on)"
    if trained_on:
        return f"the {compared} test rows v{version} never trained on ({trained_on} left out)"
    return f"the same {compared} test rows, none of which v{version} trained on"
