"""The epoch budget resolve plans with train.max_epochs=auto, hand-worked on row and class counts."""

import pytest

from pipeline.training.budget import budget, epoch_budget


@pytest.mark.parametrize("rows, classes, base_epochs, epochs, said", [
    (1699, 5, 2, 2, "107 optimizer steps of 16 per epoch: finetune.epochs 2 gives 214 steps"),  # BBC News' train split
    (480, 2, 2, 7, "a small set: 480 training rows are 30 optimizer steps"),  # 7 x 30 = 210 >= 200, 6 x 30 = 180 not
    (100, 2, 2, 10, "a small set"),                                      # 7 steps: 29 epochs wanted, 10 at most
    (100, 2, 12, 12, "a small set"),                                     # finetune.epochs above 10 is kept
    (4410, 77, 2, 9, "many classes: 77 classes of 57 training rows"),    # Banking77: 57.3 x 9 = 516 >= 500, x 8 = 458
    (2000, 200, 2, 10, "many classes: 200 classes of 10"),               # 50 epochs wanted, 10 at most
    (4842, 6, 2, 2, "finetune.epochs 2 gives 606 steps"),                   # TREC: 807 rows a class, 303 steps
    (50_000, 2, 2, 2, "finetune.epochs 2 gives 6250 steps"),                # 3,125 steps per epoch: within
    (100_000, 2, 2, 1, "a large set: 100000 training rows are 6250 optimizer steps"),  # 12,500 > 10,000 steps
    (100_000, 1000, 2, 1, "a large set"),                                # 100 rows a class want 5, steps win
    (400_000, 2, 2, 1, "a large set"),                                   # never fewer than one epoch
])
def test_auto_sizes_the_epochs_to_the_training_rows_and_classes(rows, classes, base_epochs, epochs, said):
    planned, reason = epoch_budget("auto", base_epochs, rows, classes, 16, patience=2)
    assert planned == epochs
    assert said in reason and "early stopping after 2 epoch(s) without a better validation score" in reason


def test_a_number_is_kept_as_set():
    assert epoch_budget(3, 2, 100, 2, 16, patience=0) == (3, "train.max_epochs=3 (set)")


@pytest.mark.parametrize("finetune, epochs", [("full", 2), ("head_only", 2), ("lora", 4)])
def test_auto_starts_from_the_fine_tuning_modes_epochs(compose, finetune, epochs):
    """MiniLM's own 2 epochs for full and head-only fine-tuning; LoRA's adapters take 4 (conf/finetune/lora.yaml)."""
    coverage = {"texts": 4842, "rows": 4842, "cut": 0, "cut_share": 0.0, "lost_share_of_cut": 0.0, "unknown_share": 0.0,
                "fragment_share": 0.0, "tokens_per_character": 0.23, "tokens_per_word": 1.19}
    stats = {"rows": {"train": 4842}, "labels": ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"],  # TREC's train split
             "tokens": {"max_seq_len": 128, "max_seq_len_reason": "model.max_seq_len=128 (set)", "long_text": "truncate",
                        "train": coverage}, "scripts": {"train": {"unspaced_share": 0.0}}}
    decided = budget(compose("model=minilm", f"finetune={finetune}"), stats, {"baseline/val/f1_macro": 0.8})
    assert decided["settings"]["max_epochs"] == epochs
    assert f"finetune.epochs {epochs} gives {303 * epochs} steps" in decided["reasons"]["max_epochs"]
    assert decided["reasons"]["long_text"] == "data.long_text=truncate: no training text is longer than 128 tokens"
    assert decided["reading"] == {"data/train/unknown_share": 0.0, "data/train/fragment_share": 0.0,
                                  "data/train/tokens_per_character": 0.23, "data/train/tokens_per_word": 1.19,
                                  "data/train/cut_share": 0.0, "data/train/lost_share_of_cut": 0.0,
                                  "data/train/unspaced_share": 0.0}
