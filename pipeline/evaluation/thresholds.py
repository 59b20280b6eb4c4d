"""Decision thresholds of label sets (task=multi_label): each label's threshold tuned on the validation split, and
the sets they decide. Training's validation scores, the one-vs-rest baseline and evaluate all tune and decide
here (the served copy of `decide` is serving/text_classifier.py's, which must import nothing from the project;
tests/test_multilabel.py checks the two agree)."""

from __future__ import annotations

import numpy as np

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
    """The label sets of sigmoid probabilities: 1 where a label's probability reaches its threshold, else 0."""
    return (probs >= np.asarray(thresholds, dtype=probs.dtype)).astype(np.int64)
