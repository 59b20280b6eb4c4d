"""Test-split metrics (torchmetrics), under the names reports/metrics.json and MLflow use: `test/accuracy`,
`test/f1_macro` (with its bootstrap interval `test/f1_macro_low`, `test/f1_macro_high`), `test/precision_macro`,
`test/recall_macro`, `test/{precision,recall,f1}/<label>`."""

from __future__ import annotations

import re

import torch
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_f1_score, multiclass_precision, multiclass_recall,
                                                    multilabel_f1_score)


BOOTSTRAP_ROUNDS = 1000
PER_CLASS = ("precision", "recall", "f1")


def classification_metrics(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> dict[str, float]:
    """Accuracy, macro F1/precision/recall and per-class precision/recall/F1, rounded to 6 decimals."""
    n = len(labels)
    metrics = {
        "test/accuracy": multiclass_accuracy(preds, targets, n, average="micro"),
        "test/f1_macro": macro_f1(preds, targets, n),
        "test/precision_macro": multiclass_precision(preds, targets, n, average="macro"),
        "test/recall_macro": multiclass_recall(preds, targets, n, average="macro"),
    }
    metrics = {key: round(float(value), 6) for key, value in metrics.items()}
    for row, key in zip(per_class(preds, targets, labels), metric_keys(labels)):
        for name in PER_CLASS:
            metrics[f"test/{name}/{key}"] = row[name]
    return metrics


def macro_f1(preds: torch.Tensor, targets: torch.Tensor, n: int, average: str = "macro") -> float:
    """Macro F1 over the n labels; a prediction with id n (a label the data lacks) counts as a wrong class. Label
    sets (0/1 rows x n labels) score each label's decisions; `average="micro"` pools them."""
    return round(_f1(preds, targets, n, average), 6)


def _f1(preds: torch.Tensor, targets: torch.Tensor, n: int, average: str) -> float:
    if targets.dim() == 2 and average == "macro":  # over the labels some row carries or is given, as multiclass does
        present = ((preds + targets) > 0).any(dim=0)
        scores = multilabel_f1_score(preds, targets, n, average=None)
        return float(scores[present].mean()) if present.any() else 0.0
    if targets.dim() == 2:
        return float(multilabel_f1_score(preds, targets, n, average=average))
    return float(multiclass_f1_score(preds, targets, n + 1, average=average))


def f1_interval(preds: torch.Tensor, targets: torch.Tensor, n: int, rounds: int = BOOTSTRAP_ROUNDS,
                seed: int = 0, average: str = "macro") -> dict[str, float]:
    """The 95 % percentile-bootstrap interval of the test macro (or micro) F1 (`test/f1_macro_low`,
    `test/f1_macro_high`): the test rows resampled with replacement `rounds` times; how much of a difference
    between runs is noise."""
    if len(targets) == 0:
        return {}
    rows = torch.randint(len(targets), (rounds, len(targets)), generator=torch.Generator().manual_seed(seed))
    scores = torch.tensor([_f1(preds[i], targets[i], n, average) for i in rows])
    low, high = torch.quantile(scores, torch.tensor([0.025, 0.975], dtype=scores.dtype)).tolist()
    return {f"test/f1_{average}_low": round(low, 6), f"test/f1_{average}_high": round(high, 6)}


def per_class(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> list[dict]:
    """One row per label (reports/per_class.csv): its precision, recall and F1, rounded to 6 decimals, and
    support (its test rows)."""
    n = len(labels)
    scores = {"precision": multiclass_precision(preds, targets, n, average=None),
              "recall": multiclass_recall(preds, targets, n, average=None),
              "f1": multiclass_f1_score(preds, targets, n, average=None)}
    support = torch.bincount(targets, minlength=n).tolist()
    return [{"label": label, **{name: round(float(scores[name][i]), 6) for name in PER_CLASS}, "support": support[i]}
            for i, label in enumerate(labels)]


def confusion(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> dict:
    """The confusion matrix: matrix[true][predicted] counts, rows and columns in label order."""
    return {"labels": labels, "matrix": multiclass_confusion_matrix(preds, targets, len(labels)).tolist()}


def confusion_rows(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> list[dict]:
    """One {actual, predicted} row per test example, for `dvc plots` (the confusion template)."""
    return [{"actual": labels[t], "predicted": labels[p]} for t, p in zip(targets.tolist(), preds.tolist())]


def metric_keys(labels: list[str]) -> list[str]:
    """Each label as it may stand in a metric name: letters, digits, _ - . and spaces (a / would nest it), and not
    `.` or `..` alone (MLflow reads names as paths). If two labels would read the same (`a/b`, `a_b`), every key
    starts with its label's index in labels.json (`0_a_b`)."""
    safe = [re.sub(r"[^\w\-. ]", "_", label) for label in labels]
    safe = ["_" * len(key) if key in (".", "..") else key for key in safe]
    return safe if len(set(safe)) == len(safe) else [f"{i}_{key}" for i, key in enumerate(safe)]
