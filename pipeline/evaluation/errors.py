"""The error report: every misclassified test example, for a person to read (reports/errors.csv)."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.data.pairs import text_columns_of, text_fields

FIELDS = ["true", "predicted", "probability", "runner_up", "runner_up_probability"]  # after the text columns


def fields(texts: list) -> list[str]:
    """The report's columns: the text (and pair text) columns, then FIELDS."""
    return text_columns_of(texts) + FIELDS


def misclassified(texts: list, targets: torch.Tensor, probs: np.ndarray, labels: list[str]) -> list[dict]:
    """One row per wrong prediction, in test order: the text (both texts of a pair), its true label, the predicted label and its
    probability, and the runner-up label and its probability (ties go to the earlier label)."""
    order = np.argsort(-probs, axis=1, kind="stable")
    rows = []
    for text, target, ranked, row in zip(texts, targets.tolist(), order, probs):
        if ranked[0] == target:
            continue
        second = ranked[1] if len(ranked) > 1 else ranked[0]
        rows.append({**text_fields(text), "true": labels[target], "predicted": labels[ranked[0]],
                     "probability": round(float(row[ranked[0]]), 6), "runner_up": labels[second],
                     "runner_up_probability": round(float(row[second]), 6)})
    return rows
