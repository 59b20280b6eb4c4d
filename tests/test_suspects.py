"""Suspect labels: training examples whose given label the out-of-fold baseline strongly disagrees with; the
baseline on texts without words."""

import torch

from pipeline.evaluation.suspects import suspect_labels

LABELS = ["business", "sports"]


def test_flipped_labels_are_flagged_and_nothing_is_dropped(small_frame):
    frame = small_frame[small_frame["label"].isin(LABELS)].reset_index(drop=True)  # 40 business, 40 sports articles
    texts = frame["text"].tolist()
    targets = torch.tensor([LABELS.index(label) for label in frame["label"]])
    flipped = [3, 17, 45, 60]  # two of each topic given the other topic's label
    given = targets.clone()
    given[flipped] = 1 - given[flipped]
    rows = suspect_labels(texts, given, LABELS, seed=0)
    found = {texts.index(row["text"]) for row in rows}
    assert set(flipped) <= found and len(found) <= len(flipped) + 2
    for row in rows:
        i = texts.index(row["text"])
        assert row["given"] == LABELS[given[i]] and row["suggested"] == LABELS[targets[i]]
        assert row["given_probability"] < 0.5 < row["suggested_probability"]
    assert [row["given_probability"] for row in rows] == sorted(row["given_probability"] for row in rows)
    assert len(texts) == 80 and len(given) == 80  # the data is not changed


def test_a_label_with_one_training_row_cannot_be_checked():
    assert suspect_labels(["a b", "c d", "c e"], torch.tensor([0, 1, 1]), LABELS, seed=0) is None


def test_the_baseline_scores_texts_without_words():
    from pipeline.evaluation.baseline import tfidf_baseline

    texts = ["1 2 3", "4 5 6", ":) :)", ":( :("] * 5
    targets = torch.tensor([0, 0, 1, 1] * 5)
    scores = tfidf_baseline((texts, targets), (texts[:4], targets[:4]), (texts[:4], targets[:4]), 2)
    assert scores["baseline/val/f1_macro"] == 1.0  # character n-grams tell ":)" from "1 2 3"


def test_a_large_training_split_is_sampled_keeping_every_class():
    from pipeline.evaluation.baseline import fitting_rows

    targets = torch.tensor([0, 1, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0])  # 9 of class 0, 2 of class 1, 1 of class 2
    assert fitting_rows(targets, limit=12) == list(range(12))  # within the limit: every row, in order
    rows = fitting_rows(targets, limit=6, seed=3)  # half: 4.5 -> 5 of class 0, 1 of class 1, 0.5 -> 1 of class 2
    assert rows == sorted(rows) and [int(targets[i]) for i in rows].count(0) == 5
    assert sorted(int(targets[i]) for i in rows)[5:] == [1, 2] and len(set(rows)) == 7
    assert fitting_rows(targets, limit=6, seed=3) == rows  # the same sample for the same seed
