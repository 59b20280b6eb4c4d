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


def test_the_card_says_what_is_served_and_what_the_champion_was_compared_on(compose):
    example = card_example(LABELS)
    card = model_card(compose("model=tiny"), **example)
    assert ("int8 (ONNX Runtime dynamic quantization, reduce_range=True): accepted: the registered model serves "
            "`model.int8.onnx`. Validation macro F1\n0.895 against fp32 ONNX's 0.9 (drop 0.005, allowed\n0.01); on the "
            "test split 0.91 against 0.912. Size\n23.1 MB against 90.9 MB; median batch-1 latency on the exporting "
            "machine\n9.1 ms against 15.2 ms, 1 ONNX Runtime thread per request as served (TEXT_CLASSIFIER_THREADS=1).") in card
    assert "No champion was registered when this model was evaluated" in card

    example["metrics"].update({"champion/version": 4.0, "champion/rows_known": 1.0, "champion/compared_rows": 7.0,
                               "champion/trained_on_rows": 3.0, "champion/test/f1_macro": 0.8,
                               "compared/test/f1_macro": 0.85})
    example["int8"] = {"accepted": False, "reason": "export.quantize=none"}
    card = model_card(compose("model=tiny"), **example)
    assert ("Compared with the registry champion v4 on the 7 test rows v4 never trained on (3 left out): test macro F1 "
            "0.85 against the champion's 0.8.") in card
    assert "Served in fp32, no int8 model: export.quantize=none." in card
