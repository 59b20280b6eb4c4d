"""The model card says how good the model is in a way a person can act on: the interval, calibration,
per-class support, which gate applied and why, and where the error report is."""

from conftest import card_example
from pipeline.evaluation.model_card import model_card

LABELS = ["business", "sport", "tech"]


def test_the_card_shows_interval_calibration_support_gate_and_links_the_error_report(compose):
    card = model_card(compose("model=tiny", "data=csv"), **card_example(LABELS))
    assert "Test macro F1 0.912, 95 % bootstrap interval 0.871 to 0.948 (10 test rows)" in card
    assert "baseline fitted on the same training split scores 0.843" in card
    assert "temperature 1.73, fitted on the validation split" in card
    assert "0.061 with the raw softmax, 0.018 calibrated" in card
    assert "| business | 0.9 | 0.8 | 0.847059 | 10 |" in card and "| tech | 0.9 | 0.8 | 0.847059 | 4 |" in card
    assert "Quality gate (validation split): val/f1 >= 0.85; eval.gate.threshold=auto on your data" in card
    assert "Epochs: train.max_epochs=auto: a small set." in card
    assert ("It reads up to 128 tokens of a text (model.max_seq_len=128 (set)); longer texts keep their start and end "
            "(data.long_text=head_tail). Of the training texts 25% were longer, and 40% of their tokens went unread; "
            "0.12% of their tokens were [UNK].") in card
    for path in ("`reports/errors.csv`", "`reports/per_class.csv`", "`reports/figures/confusion_matrix.png`",
                 "`reports/figures/reliability.png`", "under `evaluation/` in its MLflow run `0123abcd`",
                 "`reports/suspect_labels.csv`"):
        assert path in card


def test_a_label_with_a_bar_does_not_break_the_table(compose):
    example = card_example(["a|b", "c"])
    card = model_card(compose("model=tiny"), **example)
    assert "| a\\|b | 0.9 | 0.8 | 0.847059 | 10 |" in card
