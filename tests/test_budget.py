"""The epoch budget resolve plans with train.max_epochs=auto, hand-worked on row counts."""

import pytest

from pipeline.training.budget import epoch_budget


@pytest.mark.parametrize("rows, model_epochs, epochs, said", [
    (1699, 2, 2, "107 optimizer steps of 16 per epoch: model.epochs 2 gives 214 steps"),  # BBC News' train split
    (480, 2, 7, "a small set: 480 training rows are 30 optimizer steps"),    # 7 x 30 = 210 >= 200, 6 x 30 = 180 not
    (100, 2, 10, "a small set"),                                             # 7 steps: 29 epochs wanted, 10 at most
    (100, 12, 12, "a small set"),                                            # model.epochs above 10 is kept
    (50_000, 2, 2, "model.epochs 2 gives 6250 steps"),                       # 3,125 steps per epoch: within
    (100_000, 2, 1, "a large set: 100000 training rows are 6250 optimizer steps"),  # 12,500 > 10,000 steps
    (400_000, 2, 1, "a large set"),                                          # never fewer than one epoch
])
def test_auto_sizes_the_epochs_to_the_training_rows(rows, model_epochs, epochs, said):
    planned, reason = epoch_budget("auto", model_epochs, rows, 16, patience=2)
    assert planned == epochs
    assert said in reason and "early stopping after 2 epoch(s) without a better validation score" in reason


def test_a_number_is_kept_as_set():
    assert epoch_budget(3, 2, 100, 16, patience=0) == (3, "train.max_epochs=3 (set)")
