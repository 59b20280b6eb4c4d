"""The epoch budget resolve plans with train.max_epochs=auto, hand-worked on row and class counts."""

import pytest

from pipeline.training.budget import epoch_budget


@pytest.mark.parametrize("rows, classes, model_epochs, epochs, said", [
    (1699, 5, 2, 2, "107 optimizer steps of 16 per epoch: model.epochs 2 gives 214 steps"),  # BBC News' train split
    (480, 2, 2, 7, "a small set: 480 training rows are 30 optimizer steps"),  # 7 x 30 = 210 >= 200, 6 x 30 = 180 not
    (100, 2, 2, 10, "a small set"),                                      # 7 steps: 29 epochs wanted, 10 at most
    (100, 2, 12, 12, "a small set"),                                     # model.epochs above 10 is kept
    (4410, 77, 2, 9, "many classes: 77 classes of 57 training rows"),    # Banking77: 57.3 x 9 = 516 >= 500, x 8 = 458
    (2000, 200, 2, 10, "many classes: 200 classes of 10"),               # 50 epochs wanted, 10 at most
    (4842, 6, 2, 2, "model.epochs 2 gives 606 steps"),                   # TREC: 807 rows a class, 303 steps
    (50_000, 2, 2, 2, "model.epochs 2 gives 6250 steps"),                # 3,125 steps per epoch: within
    (100_000, 2, 2, 1, "a large set: 100000 training rows are 6250 optimizer steps"),  # 12,500 > 10,000 steps
    (100_000, 1000, 2, 1, "a large set"),                                # 100 rows a class want 5, steps win
    (400_000, 2, 2, 1, "a large set"),                                   # never fewer than one epoch
])
def test_auto_sizes_the_epochs_to_the_training_rows_and_classes(rows, classes, model_epochs, epochs, said):
    planned, reason = epoch_budget("auto", model_epochs, rows, classes, 16, patience=2)
    assert planned == epochs
    assert said in reason and "early stopping after 2 epoch(s) without a better validation score" in reason


def test_a_number_is_kept_as_set():
    assert epoch_budget(3, 2, 100, 2, 16, patience=0) == (3, "train.max_epochs=3 (set)")
