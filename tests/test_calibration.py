"""Calibration: expected calibration error on a hand-worked case, and temperature scaling of a deliberately
over-confident model (its logits are the true logits times 4: the temperature should find about 4)."""

import numpy as np
import pytest

from pipeline.evaluation.calibration import calibration_metrics, expected_calibration_error, fit_temperature, reliability


def test_ece_matches_a_hand_worked_example():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    targets = np.array([0, 1, 0, 1])
    # 10 bins: (0.8, 0.9] holds 2 rows, confidence 0.9, accuracy 1/2: gap 0.4; (0.5, 0.6]: 0.6 vs 1: gap 0.4;
    # (0.6, 0.7]: 0.7 vs 1: gap 0.3. ECE = (2 x 0.4 + 0.4 + 0.3) / 4 = 0.375
    assert expected_calibration_error(probs, targets, bins=10) == pytest.approx(0.375)
    assert [(b["bin"], b["rows"]) for b in reliability(probs, targets, bins=10)] == [(5, 1), (6, 1), (8, 2)]
    assert expected_calibration_error(np.array([[1.0, 0.0]]), np.array([0])) == 0.0  # sure and right


def over_confident(rows: int, seed: int, scale: float = 4.0):
    """Labels drawn from softmax(true logits): a model whose logits are `scale` x the true ones is over-confident."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, size=(rows, 4))
    probs = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    targets = np.array([rng.choice(4, p=p) for p in probs])
    return scale * true_logits, targets


def test_temperature_scaling_lowers_the_ece_of_an_over_confident_model():
    val_logits, val_targets = over_confident(4000, seed=0)
    test_logits, test_targets = over_confident(4000, seed=1)
    temperature = fit_temperature(val_logits, val_targets)
    assert temperature == pytest.approx(4.0, rel=0.1)  # the scale the logits were given
    metrics = calibration_metrics(test_logits, test_targets, temperature)
    assert metrics["test/ece"] > 0.15  # confident far beyond its accuracy
    assert metrics["test/ece_calibrated"] < 0.03 < metrics["test/ece"] / 5


def test_a_calibrated_model_keeps_a_temperature_near_one():
    logits, targets = over_confident(4000, seed=2, scale=1.0)
    assert fit_temperature(logits, targets) == pytest.approx(1.0, rel=0.1)
    assert fit_temperature(logits[:0], targets[:0]) == 1.0  # no rows: no change
    right = logits.argmax(axis=1)
    assert fit_temperature(logits, right) == 1.0  # no wrong prediction: nothing to calibrate against
