"""Multi-label classification (task=multi_label): the metrics of label sets decided by their thresholds
(evaluation.thresholds), with torchmetrics: micro and macro F1, subset accuracy (the whole set right:
`test/accuracy`), Hamming loss (the share of label decisions wrong), each label's precision, recall, F1 and
support, and each label's calibration error; the rows of the report (errors, confusion)."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.classification import (multilabel_exact_match, multilabel_f1_score,
                                                    multilabel_hamming_distance, multilabel_precision,
                                                    multilabel_recall)

from pipeline.data.pairs import text_fields
from pipeline.evaluation.calibration import BINS, binned, calibration_gap
from pipeline.evaluation.metrics import PER_CLASS, macro_f1, metric_keys

NONE = "(none)"  # the confusion rows' stand-in for "no label": a missed label is predicted NONE, an extra one true NONE
ERROR_FIELDS = ["true", "predicted", "missed", "extra"]  # errors.csv's columns after the text columns


def thresholds_of(metrics: dict, labels: list[str]) -> dict[str, float]:
    """The decision threshold of each label that evaluate tuned (metrics.json `threshold/<label>`), by label."""
    return {label: metrics[f"threshold/{key}"] for label, key in zip(labels, metric_keys(labels))}


def multilabel_metrics(preds: torch.Tensor, targets: torch.Tensor, labels: list[str], split: str = "test") -> dict:
    """Micro and macro F1, precision and recall, subset accuracy (`accuracy`), Hamming loss and per-label
    precision/recall/F1 of decided label sets (0/1, rows x labels), rounded to 6 decimals, under `<split>/...`."""
    n = len(labels)
    metrics = {f"{split}/accuracy": multilabel_exact_match(preds, targets, n),
               f"{split}/f1_macro": macro_f1(preds, targets, n),
               f"{split}/f1_micro": multilabel_f1_score(preds, targets, n, average="micro"),
               f"{split}/precision_macro": multilabel_precision(preds, targets, n, average="macro"),
               f"{split}/recall_macro": multilabel_recall(preds, targets, n, average="macro"),
               f"{split}/hamming_loss": multilabel_hamming_distance(preds, targets, n, average="micro")}
    metrics = {key: round(float(value), 6) for key, value in metrics.items()}
    for row, key in zip(per_label(preds, targets, labels), metric_keys(labels)):
        for name in PER_CLASS:
            metrics[f"{split}/{name}/{key}"] = row[name]
    return metrics


def per_label(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> list[dict]:
    """One row per label (reports/per_class.csv): its precision, recall and F1 (rounded to 6 decimals) and support
    (the test rows that carry it)."""
    n = len(labels)
    scores = {"precision": multilabel_precision(preds, targets, n, average=None),
              "recall": multilabel_recall(preds, targets, n, average=None),
              "f1": multilabel_f1_score(preds, targets, n, average=None)}
    support = targets.sum(dim=0).tolist()
    return [{"label": label, **{name: round(float(scores[name][i]), 6) for name in PER_CLASS}, "support": int(support[i])}
            for i, label in enumerate(labels)]


def label_calibration(probs: np.ndarray, targets: np.ndarray, labels: list[str], bins: int = BINS) -> dict[str, float]:
    """Each label's expected calibration error (`test/ece_label/<label>`: over equal-width bins of its probability, the
    rows-weighted gap between the mean probability and the share of rows that carry the label) and their mean
    (`test/ece`). No temperature is fitted for sigmoids (`calibration/temperature` 1)."""
    errors = [binary_ece(probs[:, i], targets[:, i], bins) for i in range(len(labels))]
    return {"calibration/temperature": 1.0, "test/ece": round(float(np.mean(errors)), 6) if errors else 0.0,
            **{f"test/ece_label/{key}": round(error, 6) for key, error in zip(metric_keys(labels), errors)}}


def binary_ece(probs: np.ndarray, truth: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error of one label's probabilities against its 0/1 truth."""
    return calibration_gap(binned(probs, truth, bins))


def reliability(probs: np.ndarray, targets: np.ndarray, bins: int = BINS) -> list[dict]:
    """calibration.reliability's bins for every label decision pooled: mean probability against the share of
    decisions whose label the row carries."""
    return binned(probs.ravel(), targets.ravel(), bins)


def wrong_sets(texts: list, targets: torch.Tensor, preds: torch.Tensor, labels: list[str]) -> list[dict]:
    """One row per test example whose predicted label set is not its true one, in test order: its text(s), both
    sets, the labels it missed and the labels it added (each joined by `|`)."""
    rows = []
    for text, truth, predicted in zip(texts, targets.tolist(), preds.tolist()):
        if truth == predicted:
            continue
        named = {name: "|".join(labels[i] for i, (t, p) in enumerate(zip(truth, predicted)) if keep(t, p))
                 for name, keep in (("true", lambda t, p: t), ("predicted", lambda t, p: p),
                                    ("missed", lambda t, p: t and not p), ("extra", lambda t, p: p and not t))}
        rows.append({**text_fields(text), **named})
    return rows


def confusion(preds: torch.Tensor, targets: torch.Tensor) -> list[list[int]]:
    """confusion_rows as counts: matrix[true][predicted] over the labels and, last, NONE (a label missed is
    (label, NONE), one added (NONE, label))."""
    n = targets.shape[1]
    matrix = torch.zeros(n + 1, n + 1, dtype=torch.long)
    found, missed, extra = (targets * preds).sum(dim=0), (targets * (1 - preds)).sum(dim=0), ((1 - targets) * preds).sum(dim=0)
    matrix[range(n), range(n)] = found
    matrix[:n, n], matrix[n, :n] = missed, extra
    return matrix.tolist()


def confusion_rows(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> list[dict]:
    """{actual, predicted} rows of every label decision that matters, for `dvc plots` (the confusion template): a
    label found is (label, label), a label missed (label, NONE), a label added (NONE, label)."""
    rows = []
    for truth, predicted in zip(targets.tolist(), preds.tolist()):
        for label, t, p in zip(labels, truth, predicted):
            if t or p:
                rows.append({"actual": label if t else NONE, "predicted": label if p else NONE})
    return rows
