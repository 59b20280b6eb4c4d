"""Multi-label classification (task=multi_label): one sigmoid per label, a decision threshold per label tuned on
the validation split, and the metrics of label sets (torchmetrics): micro and macro F1, subset accuracy (the
whole set right), Hamming loss (the share of label decisions wrong), and each label's precision, recall, F1
and support."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.classification import (multilabel_exact_match, multilabel_f1_score,
                                                    multilabel_hamming_distance, multilabel_precision,
                                                    multilabel_recall)

DEFAULT_THRESHOLD = 0.5
MIN_POSITIVES = 5  # validation rows of a label needed to tune its threshold; fewer keep DEFAULT_THRESHOLD
GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))  # the thresholds tried: 0.05 to 0.95


def tune_thresholds(probs: np.ndarray, targets: np.ndarray, min_positives: int = MIN_POSITIVES) -> list[float]:
    """Per label, the threshold of GRID that gives that label's best F1 on these (validation) rows, the nearest to
    DEFAULT_THRESHOLD among equals; DEFAULT_THRESHOLD for a label with fewer than `min_positives` positive rows."""
    thresholds = []
    for label in range(targets.shape[1]):
        truth = targets[:, label].astype(bool)
        if truth.sum() < min_positives:
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        scores = [_f1(probs[:, label] >= threshold, truth) for threshold in GRID]
        best = max(scores)
        thresholds.append(min((t for t, score in zip(GRID, scores) if score == best),
                              key=lambda t: (abs(t - DEFAULT_THRESHOLD), t)))
    return thresholds


def _f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    true_positives = float((predicted & truth).sum())
    return 2 * true_positives / max(float(predicted.sum() + truth.sum()), 1.0)


def decide(probs: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """The label sets: each label whose probability reaches its threshold (0/1 per label)."""
    return (probs >= np.asarray(thresholds, dtype=probs.dtype)).astype(np.int64)


def positive_weights(targets: torch.Tensor) -> torch.Tensor:
    """Per label, its negative rows over its positive rows (binary cross-entropy's pos_weight, the multi-label
    form of balanced class weights): a label on 1 row in 5 weighs its positives 4x."""
    positives = targets.float().sum(dim=0)
    return (len(targets) - positives) / positives.clamp(min=1)


def multilabel_metrics(preds: torch.Tensor, targets: torch.Tensor, labels: list[str], split: str = "test") -> dict:
    """Micro and macro F1, subset accuracy, Hamming loss and per-label precision/recall/F1 of decided label
    sets (0/1, rows x labels), rounded to 6 decimals, under `<split>/...` names."""
    n = len(labels)
    metrics = {f"{split}/f1_micro": multilabel_f1_score(preds, targets, n, average="micro"),
               f"{split}/f1_macro": multilabel_f1_score(preds, targets, n, average="macro"),
               f"{split}/subset_accuracy": multilabel_exact_match(preds, targets, n),
               f"{split}/hamming_loss": multilabel_hamming_distance(preds, targets, n, average="micro")}
    metrics = {key: round(float(value), 6) for key, value in metrics.items()}
    for row in per_label(preds, targets, labels):
        for name in ("precision", "recall", "f1"):
            metrics[f"{split}/{name}/{row['label']}"] = row[name]
    return metrics


def per_label(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> list[dict]:
    """One row per label: its precision, recall and F1 (rounded to 6 decimals) and support (rows that carry it)."""
    n = len(labels)
    scores = {"precision": multilabel_precision(preds, targets, n, average=None),
              "recall": multilabel_recall(preds, targets, n, average=None),
              "f1": multilabel_f1_score(preds, targets, n, average=None)}
    support = targets.sum(dim=0).tolist()
    return [{"label": label, **{name: round(float(scores[name][i]), 6) for name in scores}, "support": int(support[i])}
            for i, label in enumerate(labels)]
