"""Whether the predicted probabilities can be taken at their word: expected calibration error (ECE), and
temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks") fitted on the validation
split. The temperature divides the logits before the softmax: it changes no prediction, only how sure each
one says it is; the exported model carries it (serving.text_classifier.CALIBRATION_FILE)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from pipeline.serving.text_classifier import calibrated

BINS = 15  # equal-width confidence bins, as in Guo et al.
TEMPERATURES = (0.05, 20.0)  # the search range of the temperature


def reliability(probs: np.ndarray, targets: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per confidence bin ((i/bins, (i+1)/bins], the top probability of each row): its rows, their mean
    confidence and their accuracy; empty bins are left out."""
    return binned(probs.max(axis=1), probs.argmax(axis=1) == targets, bins)


def binned(confidence: np.ndarray, right: np.ndarray, bins: int = BINS) -> list[dict]:
    """Per bin (i/bins, (i+1)/bins] of `confidence`: its rows, their mean confidence and the share of them `right`
    (`accuracy`); empty bins are left out."""
    index = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    return [{"bin": int(b), "low": b / bins, "high": (b + 1) / bins, "rows": int((index == b).sum()),
             "confidence": float(confidence[index == b].mean()), "accuracy": float(right[index == b].mean())}
            for b in range(bins) if (index == b).any()]


def calibration_gap(bins: list[dict]) -> float:
    """ECE of binned rows: the rows-weighted mean gap |accuracy - confidence| over the bins (0: calibrated; 0
    without rows)."""
    rows = sum(b["rows"] for b in bins)
    return float(sum(b["rows"] / rows * abs(b["accuracy"] - b["confidence"]) for b in bins)) if rows else 0.0


def expected_calibration_error(probs: np.ndarray, targets: np.ndarray, bins: int = BINS) -> float:
    """ECE: the rows-weighted mean gap |accuracy - confidence| over the confidence bins (0: calibrated)."""
    return calibration_gap(reliability(probs, targets, bins))


def negative_log_likelihood(logits: np.ndarray, targets: np.ndarray, temperature: float) -> float:
    return float(-log_softmax(logits / temperature, axis=1)[np.arange(len(targets)), targets].mean())


def fit_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of `targets` under softmax(logits / T),
    searched on log T within TEMPERATURES; 1.0 (no change) without rows or without a wrong prediction
    (then the likelihood only grows as T shrinks: there is nothing to calibrate against)."""
    if len(targets) == 0 or (logits.argmax(axis=1) == targets).all():
        return 1.0
    low, high = np.log(TEMPERATURES)
    found = minimize_scalar(lambda log_t: negative_log_likelihood(logits, targets, float(np.exp(log_t))),
                            bounds=(low, high), method="bounded", options={"xatol": 1e-6})
    return round(float(np.exp(found.x)), 4)


def calibration_metrics(logits: np.ndarray, targets: np.ndarray, temperature: float) -> dict[str, float]:
    """`calibration/temperature`, and the test ECE of the raw softmax (`test/ece`) and of the calibrated
    probabilities (`test/ece_calibrated`)."""
    return {"calibration/temperature": temperature,
            "test/ece": round(expected_calibration_error(calibrated(logits, 1.0), targets), 6),
            "test/ece_calibrated": round(expected_calibration_error(calibrated(logits, temperature), targets), 6)}
