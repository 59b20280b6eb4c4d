"""evaluate's report for a person to act on, from the test logits: reports/errors.csv (every misclassified
example), reports/per_class.csv (precision, recall, F1 and support per label), the confusion matrix (CSV for
`dvc plots`, and PNG) and the reliability diagram (PNG), before and after temperature scaling."""

from __future__ import annotations

import numpy as np
import torch

from pipeline.core import paths
from pipeline.core.atomic import write_csv
from pipeline.evaluation import errors, figures
from pipeline.evaluation.calibration import reliability
from pipeline.evaluation.metrics import confusion, confusion_rows, per_class
from pipeline.serving.text_classifier import calibrated, softmax

FILES = (paths.ERRORS, paths.PER_CLASS, paths.CONFUSION_PNG, paths.RELIABILITY_PNG)  # logged to the MLflow run


def write_report(texts: list, targets: torch.Tensor, logits: np.ndarray, labels: list[str], metrics: dict) -> dict:
    """Write the report files (probabilities calibrated by metrics' `calibration/temperature`); returns the
    confusion matrix ({labels, matrix})."""
    temperature = metrics["calibration/temperature"]
    probs = calibrated(logits, temperature)
    preds = torch.from_numpy(probs.argmax(axis=1))
    matrix = confusion(preds, targets, labels)
    write_csv(paths.CONFUSION, confusion_rows(preds, targets, labels))
    write_csv(paths.ERRORS, errors.misclassified(texts, targets, probs, labels), errors.fields(texts))
    write_csv(paths.PER_CLASS, per_class(preds, targets, labels))
    figures.confusion_png(matrix["matrix"], labels, paths.CONFUSION_PNG)
    figures.reliability_png(reliability(softmax(logits), targets.numpy()), reliability(probs, targets.numpy()),
                            (metrics["test/ece"], metrics["test/ece_calibrated"]), temperature, paths.RELIABILITY_PNG)
    return matrix
