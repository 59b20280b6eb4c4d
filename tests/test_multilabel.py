"""Multi-label pieces against hand-worked values: the loss, the thresholds, the metrics."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipeline.core.errors import PipelineError
from pipeline.data.label_sets import check_separator, label_set, labels_of, shown
from pipeline.evaluation.multilabel import decide, multilabel_metrics, positive_weights, tune_thresholds


def test_binary_cross_entropy_with_positive_weights_by_hand():
    logits, targets = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    # label 1: -log(sigmoid(0)) = ln 2 = 0.693147; label 2: -log(1 - sigmoid(2)) = ln(1 + e^2) = 2.126928
    assert float(F.binary_cross_entropy_with_logits(logits, targets)) == pytest.approx((0.693147 + 2.126928) / 2, abs=1e-6)
    # label 1 on 1 row of 4: its positives weigh 3; label 2 on 2 of 4: 1
    weights = positive_weights(torch.tensor([[1, 1], [0, 1], [0, 0], [0, 0]]))
    assert weights.tolist() == [3.0, 1.0]
    weighted = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=weights)
    assert float(weighted) == pytest.approx((3 * math.log(2) + math.log(1 + math.e ** 2)) / 2, abs=1e-6)


def test_thresholds_are_tuned_per_label_and_rare_labels_keep_one_half():
    probs = np.array([[0.9, 0.8, 0.7], [0.35, 0.6, 0.2], [0.3, 0.55, 0.1], [0.1, 0.2, 0.1],
                      [0.95, 0.9, 0.1], [0.8, 0.65, 0.1], [0.7, 0.7, 0.1]])
    targets = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 0], [0, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]])
    # label 1: positives at 0.35 and above, negatives at 0.3 and below: only 0.35 of the grid separates them;
    # label 2: positives 0.6 to 0.9, negatives 0.55 and 0.2: 0.6 is the one grid value that separates them;
    # label 3: one positive row, under 5: 0.5
    assert tune_thresholds(probs, targets) == [0.35, 0.6, 0.5]
    assert decide(probs[:3], [0.35, 0.6, 0.5]).tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_a_tie_between_thresholds_goes_to_the_one_nearest_one_half():
    probs = np.array([[0.9], [0.8], [0.75], [0.7], [0.65], [0.1], [0.05]])
    targets = np.array([[1], [1], [1], [1], [1], [0], [0]])
    assert tune_thresholds(probs, targets) == [0.5]  # 0.15 to 0.65 all separate them


def test_micro_and_macro_f1_subset_accuracy_and_hamming_loss_by_hand():
    preds = torch.tensor([[1, 0, 1], [0, 1, 1]])
    targets = torch.tensor([[1, 1, 0], [0, 1, 1]])
    metrics = multilabel_metrics(preds, targets, ["a", "b", "c"])
    # true positives 3 (a in row 1, b and c in row 2), one false positive (c, row 1), one false negative (b, row 1)
    assert metrics["test/f1_micro"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert metrics["test/f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3, abs=1e-6)
    assert metrics["test/subset_accuracy"] == 0.5  # row 2 wholly right
    assert metrics["test/hamming_loss"] == pytest.approx(2 / 6, abs=1e-6)  # 2 of 6 decisions wrong
    assert (metrics["test/precision/b"], metrics["test/recall/b"]) == (1.0, 0.5)
    assert (metrics["test/precision/c"], metrics["test/recall/c"]) == (0.5, 1.0)


@pytest.mark.parametrize("cell, separator, labels", [
    ("bug|billing", "|", ["billing", "bug"]), (" bug | billing |bug", "|", ["billing", "bug"]),
    (["bug", "billing"], "|", ["billing", "bug"]), ("a;b", ";", ["a", "b"]), ("", "|", []), ([], "|", []),
    ("a|b", ";", ["a|b"]),
])
def test_a_label_set_is_its_distinct_labels_sorted_whatever_the_cell(cell, separator, labels):
    assert labels_of(label_set(cell, separator)) == labels
    assert shown(label_set(cell, separator)) == "|".join(labels)


def test_a_label_set_joined_by_another_separator_is_one_error_with_the_fix():
    sets = [label_set(cell, "|") for cell in ("billing", "bug", "billing;bug", "bug|refund")]
    with pytest.raises(PipelineError, match="label 'billing;bug' looks like the labels billing, bug joined by ';'") as err:
        check_separator(sets, "|", "data.csv")
    assert err.value.code == "data-label-separator" and err.value.fix == "set -S 'data.label_separator=;'"
    check_separator([label_set(cell, "|") for cell in ("rock;pop", "jazz")], "|", "data.csv")  # rock, pop alone: none
