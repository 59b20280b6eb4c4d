"""Training examples whose label looks wrong: the classical baseline's out-of-fold probabilities (each
example scored by a model that never saw it), read by cleanlab's find_label_issues (confident learning,
Northcutt et al. 2021). A report for a person to check (reports/suspect_labels.csv); no row is dropped."""

from __future__ import annotations

import numpy as np
import torch
from cleanlab.filter import find_label_issues
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from pipeline.data.pairs import text_columns_of, text_fields
from pipeline.evaluation.baseline import tfidf_model

FOLDS = 5
FIELDS = ["given", "suggested", "given_probability", "suggested_probability"]  # after the text columns


def fields(texts: list) -> list[str]:
    """The report's columns: the text (and pair text) columns, then FIELDS."""
    return text_columns_of(texts) + FIELDS


def suspect_labels(texts: list, targets: torch.Tensor, labels: list[str], seed: int) -> list[dict] | None:
    """The suspect examples, most suspect first (lowest out-of-fold probability of the given label); None
    where a label has fewer than 2 training rows (no fold could score it with a model that saw the label), or for
    label sets (task=multi_label), which confident learning's single-label check does not read."""
    if targets.dim() == 2:
        return None
    given = targets.numpy()
    folds = int(min(FOLDS, np.bincount(given, minlength=len(labels)).min()))  # every label in every fold
    if folds < 2:
        return None
    probs = cross_val_predict(tfidf_model(texts), texts, given, method="predict_proba",
                              cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    rows = []
    for i in find_label_issues(given, probs, return_indices_ranked_by="self_confidence"):
        suggested = int(probs[i].argmax())
        rows.append({**text_fields(texts[i]), "given": labels[given[i]], "suggested": labels[suggested],
                     "given_probability": round(float(probs[i, given[i]]), 6),
                     "suggested_probability": round(float(probs[i, suggested]), 6)})
    return rows
