"""Multi-label pieces against hand-worked values: the data, the split, the loss, the thresholds, the metrics,
the report and the served predictions."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from pipeline.core.errors import PipelineError
from pipeline.data.clean import clean
from pipeline.data.label_sets import JOIN, check_separator, label_set, labels_of, rows_per_label
from pipeline.data.sources import load_frame
from pipeline.data.split import split
from pipeline.data.tokenize import multi_hot
from pipeline.evaluation.baseline import tfidf_baseline
from pipeline.evaluation.champion import decided
from pipeline.evaluation.metrics import f1_interval
from pipeline.evaluation.multilabel import binary_ece, confusion_rows, label_calibration, multilabel_metrics, wrong_sets
from pipeline.evaluation.thresholds import decide, tune_thresholds
from pipeline.serving import text_classifier
from pipeline.serving.text_classifier import label_sets_frame, saved_thresholds, sigmoid


def test_binary_cross_entropy_with_positive_weights_by_hand():
    logits, targets = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    # label 1: -log(sigmoid(0)) = ln 2 = 0.693147; label 2: -log(1 - sigmoid(2)) = ln(1 + e^2) = 2.126928
    assert float(F.binary_cross_entropy_with_logits(logits, targets)) == pytest.approx((0.693147 + 2.126928) / 2, abs=1e-6)
    # label 1 on 1 row of 4: its positives weigh 3; label 2 on 2 of 4: 1
    from pipeline.training.module import class_weights

    weights = class_weights("balanced", torch.tensor([[1, 1], [0, 1], [0, 0], [0, 0]]), 2)
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
    # the served copy (text_classifier imports nothing from the project) decides the same sets
    random = np.random.default_rng(0).random((200, 3))
    assert (text_classifier.decide(random, [0.35, 0.6, 0.5]) == decide(random, [0.35, 0.6, 0.5])).all()
    assert text_classifier.DEFAULT_THRESHOLD == 0.5 and tune_thresholds(probs, targets, min_positives=99) == [0.5] * 3


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
    assert metrics["test/accuracy"] == 0.5  # row 2 wholly right: subset accuracy
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


def test_a_label_set_joined_by_another_separator_is_one_error_with_the_fix():
    sets = [label_set(cell, "|") for cell in ("billing", "bug", "billing;bug", "bug|refund")]
    with pytest.raises(PipelineError, match="label 'billing;bug' looks like the labels billing, bug joined by ';'") as err:
        check_separator(sets, "|", "data.csv")
    assert err.value.code == "data-label-separator" and err.value.fix == "set -S 'data.label_separator=;'"
    check_separator([label_set(cell, "|") for cell in ("rock;pop", "jazz")], "|", "data.csv")  # rock, pop alone: none


def data_config(path, source="csv", **extra):
    return OmegaConf.create({"source": source, "path": str(path), "text_column": "text", "label_column": "tags",
                             "label_separator": "|", "drop_incomplete": False, **extra})


def test_label_sets_are_read_from_a_joined_cell_and_from_lists(tmp_path):
    csv = tmp_path / "tags.csv"
    csv.write_text('text,tags\nRefund not received,billing\nApp crashes when I pay,"bug | billing"\n')
    frame = load_frame(data_config(csv), multi_label=True)
    assert frame["label"].tolist() == ["billing", f"billing{JOIN}bug"]
    jsonl = tmp_path / "tags.jsonl"
    jsonl.write_text('{"text": "Refund not received", "tags": ["billing"]}\n'
                     '{"text": "App crashes when I pay", "tags": ["bug", "billing", "bug"]}\n')
    assert load_frame(data_config(jsonl, "jsonl"), multi_label=True)["label"].tolist() == frame["label"].tolist()
    parquet = tmp_path / "tags.parquet"
    pd.DataFrame({"text": ["Refund not received", "App crashes when I pay"],
                  "tags": [["billing"], ["bug", "billing"]]}).to_parquet(parquet)
    assert load_frame(data_config(parquet, "parquet"), multi_label=True)["label"].tolist() == frame["label"].tolist()


def test_a_row_without_labels_is_an_error_unless_empty_sets_are_allowed(tmp_path):
    csv = tmp_path / "tags.csv"
    csv.write_text("text,tags\nRefund not received,billing\nThanks for the quick answer,\n")
    with pytest.raises(PipelineError, match="1 row has an empty text or no label \\(line 3\\)") as err:
        load_frame(data_config(csv), multi_label=True)
    assert "data.allow_empty_labels=true" in err.value.fix
    frame = load_frame(data_config(csv, allow_empty_labels=True), multi_label=True)
    cleaned, counts = clean(frame, empty_label_ok=True)
    assert cleaned["label"].tolist() == ["billing", ""] and counts["dropped_incomplete"] == 0
    assert multi_hot(cleaned["label"], ["billing", "bug"]) == [[1.0, 0.0], [0.0, 0.0]]


def test_duplicates_and_conflicts_compare_whole_label_sets():
    frame = pd.DataFrame({"text": ["a crash", "a crash", "a refund", "a refund"],
                          "label": [label_set(cell, "|") for cell in ("bug|billing", "billing|bug", "billing", "billing|bug")]})
    cleaned, counts = clean(frame)
    assert counts["dropped_duplicate"] == 1 and counts["dropped_conflicting_label"] == 2
    assert cleaned["text"].tolist() == ["a crash"]


def label_set_frame(rows: int = 120) -> pd.DataFrame:
    """Texts with 1 to 3 of 5 labels; `rare` on 4 rows only, each with another label."""
    sets = [["a"], ["b"], ["a", "b"], ["c"], ["c", "d"], ["d"], ["a", "c", "d"]]
    labels = [sets[i % len(sets)] + (["rare"] if i % 30 == 5 else []) for i in range(rows)]
    return pd.DataFrame({"text": [f"text number {i}" for i in range(rows)],
                         "label": [label_set(labels_i, "|") for labels_i in labels]})


def test_the_split_gives_every_label_a_row_in_every_split_and_counts_each_label_of_a_set():
    frame = label_set_frame()
    assert rows_per_label(frame["label"], True).to_dict() == {"a": 52, "c": 51, "d": 51, "b": 34, "rare": 4}  # 7 sets, 18 rows of the first
    parts = split(frame, 0.1, 0.1, seed=0, multi_label=True)
    assert sum(len(part) for part in parts.values()) == len(frame)
    for name, part in parts.items():
        assert set(rows_per_label(part["label"], True).index) == {"a", "b", "c", "d", "rare"}, name
    assert split(frame, 0.1, 0.1, seed=0, multi_label=True)["test"].equals(parts["test"])  # stable


def test_a_label_on_too_few_rows_is_one_error_naming_it():
    frame = label_set_frame()
    frame.loc[frame["label"].str.contains("rare"), "label"] = frame["label"].str.replace(f"{JOIN}rare", "")
    frame.loc[0, "label"] = label_set(["a", "lonely"], "|")
    frame.loc[1, "label"] = label_set(["b", "lonely"], "|")
    with pytest.raises(PipelineError, match=r"1 class\(es\) have fewer than 3 rows.*lonely \(2\)") as err:
        split(frame, 0.1, 0.1, seed=0, multi_label=True)
    assert err.value.code == "data-too-few-rows"


def test_balanced_class_weights_of_label_sets_are_positive_weights_and_the_loss_uses_them():
    from pipeline.training.module import class_weights, per_document

    targets = torch.tensor([[1, 1], [0, 1], [0, 0], [0, 0]])
    assert class_weights("balanced", targets, 2).tolist() == [3.0, 1.0]
    logits, document = torch.tensor([[1.0, -1.0], [3.0, 1.0], [0.0, 0.0]]), torch.tensor([7, 7, 9])
    means, sets = per_document(logits, torch.tensor([[1, 0], [1, 0], [0, 1]]), document)
    assert means.tolist() == [[2.0, 0.0], [0.0, 0.0]] and sets.tolist() == [[1, 0], [0, 1]]


def test_the_training_loss_of_label_sets_is_weighted_binary_cross_entropy_by_hand():
    from transformers import BertConfig, BertForSequenceClassification

    from pipeline.training.module import TextClassifier

    config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=1, intermediate_size=8,
                        num_labels=2, problem_type="multi_label_classification")
    module = TextClassifier(BertForSequenceClassification(config), 1e-3, 0.0, 0.0)
    loss = module.loss(torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]]), torch.tensor([3.0, 1.0]))
    assert float(loss) == pytest.approx((3 * math.log(2) + math.log(1 + math.e ** 2)) / 2, abs=1e-6)


def test_errors_list_exactly_the_wrong_label_sets_with_what_was_missed_and_added():
    labels = ["billing", "bug", "refund"]
    targets = torch.tensor([[1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 0]])
    preds = torch.tensor([[1, 0, 1], [0, 0, 1], [0, 0, 0], [0, 1, 0]])
    rows = wrong_sets(["one", "two", "three", "four"], targets, preds, labels)
    assert rows == [{"text": "one", "true": "billing|bug", "predicted": "billing|refund", "missed": "bug", "extra": "refund"},
                    {"text": "three", "true": "billing", "predicted": "", "missed": "billing", "extra": ""},
                    {"text": "four", "true": "", "predicted": "bug", "missed": "", "extra": "bug"}]
    assert confusion_rows(preds[:1], targets[:1], labels) == [
        {"actual": "billing", "predicted": "billing"}, {"actual": "bug", "predicted": "(none)"},
        {"actual": "(none)", "predicted": "refund"}]


def test_calibration_error_of_one_label_by_hand():
    probs, truth = np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 0, 0, 0])
    # bin (0.8667, 0.9333]: mean probability 0.9, share carrying the label 0.5 -> 0.4, half the rows;
    # bin (0.0667, 0.1333]: 0.1 against 0 -> 0.1, half the rows
    assert binary_ece(probs, truth) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    metrics = label_calibration(np.stack([probs, 1 - probs], axis=1), np.stack([truth, 1 - truth], axis=1), ["x", "y"])
    assert metrics["test/ece_label/x"] == metrics["test/ece_label/y"] == metrics["test/ece"] == pytest.approx(0.25)


def test_the_bootstrap_interval_of_label_sets_holds_the_score():
    targets = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]] * 10)
    preds = torch.tensor([[1, 0], [0, 0], [1, 1], [1, 0]] * 10)
    macro, micro = f1_interval(preds, targets, 2), f1_interval(preds, targets, 2, average="micro")
    assert macro["test/f1_macro_low"] <= 0.733333 <= macro["test/f1_macro_high"]  # (4/5 + 2/3) / 2
    assert micro["test/f1_micro_low"] <= 0.75 <= micro["test/f1_micro_high"]  # 2 * 3 / (2 * 3 + 1 + 1)


def test_the_one_vs_rest_baseline_finds_the_words_of_each_label():
    words = {"billing": "invoice charged twice", "bug": "crash error freeze"}
    texts, targets = [], []
    for i in range(60):
        has = [i % 2 == 0, i % 3 == 0]
        texts.append(" ".join([f"filler{i}"] + [words[name] for name, on in zip(words, has) if on]))
        targets.append([int(on) for on in has])
    data = (texts, torch.tensor(targets))
    scores = tfidf_baseline((texts[:40], data[1][:40]), (texts[40:50], data[1][40:50]), (texts[50:], data[1][50:]), 2)
    assert scores["baseline/test/f1_macro"] == scores["baseline/test/f1_micro"] == scores["baseline/test/accuracy"] == 1.0


def test_served_label_sets_are_the_labels_at_or_over_their_thresholds(tmp_path):
    labels = ["billing", "bug", "refund"]
    probs = np.array([[0.9, 0.3, 0.5], [0.1, 0.2, 0.3]])
    frame = label_sets_frame(probs, [0.5, 0.25, 0.6], labels)
    assert frame["labels"].tolist() == [["billing", "bug"], []]
    assert frame["prob/refund"].tolist() == [0.5, 0.3]
    assert decided(frame, labels).tolist() == [[1, 1, 0], [0, 0, 0]]
    assert sigmoid(np.array([[0.0, math.log(3)]]))[0].tolist() == pytest.approx([0.5, 0.75])
    (tmp_path / "config.json").write_text(json.dumps({"problem_type": "multi_label_classification"}))
    (tmp_path / "thresholds.json").write_text(json.dumps({"thresholds": {"bug": 0.3, "billing": 0.7}}))
    assert saved_thresholds(tmp_path, labels) == [0.7, 0.3, 0.5]
    (tmp_path / "config.json").write_text(json.dumps({"problem_type": "single_label_classification"}))
    assert saved_thresholds(tmp_path, labels) is None


def test_a_model_of_label_sets_never_challenges_a_champion_of_single_labels(compose, small_frame, tmp_path, monkeypatch):
    from conftest import champion_and_another_task
    from pipeline.evaluation.champion import score_champion
    from pipeline.tracking.registry import register, task_of

    monkeypatch.chdir(tmp_path)
    client, labels, release_sets = champion_and_another_task(
        compose, small_frame["text"].tolist(), tmp_path, "config.json", {"problem_type": "multi_label_classification"})
    assert client.get_model_version("tasks", "1").tags["task"] == "single_label"
    with pytest.raises(PipelineError, match="of the task single_label; this model's task is multi_label") as refused:
        release_sets()
    assert refused.value.code == "registry-other-task"
    with pytest.raises(PipelineError, match="this model's task is multi_label"):
        score_champion(client, "tasks", ["a text"], torch.tensor([[1, 0]]), torch.tensor([[1, 0]]), labels)
    assert len(client.search_model_versions("name='tasks'")) == 1
    older = register(client, "older", client.get_model_version("tasks", "1").source, {})  # before the task tag
    assert task_of(older) == "single_label"


def test_a_hugging_face_sequence_of_class_labels_keeps_its_names_and_order(tmp_path):
    from datasets import ClassLabel, Dataset, Features, List, Value

    features = Features({"text": Value("string"), "tags": List(ClassLabel(names=["refund", "bug", "billing"]))})
    folder = tmp_path / "tickets"
    folder.mkdir()
    Dataset.from_dict({"text": ["Refund not received", "App crashes when I pay"], "tags": [[0], [1, 2]]},
                      features=features).to_parquet(str(folder / "train.parquet"))  # the features travel in it
    frame = load_frame(data_config(folder, "hf", split="train", config_name=None, revision=None), multi_label=True)
    assert frame["label"].tolist() == ["refund", f"billing{JOIN}bug"]
    assert frame.attrs["labels"] == ["refund", "bug", "billing"]


def test_a_row_lent_to_one_labels_gap_never_empties_a_split_of_another_label():
    # 9 rows, every label on 3 or 4 of them: filling each label's gaps without regard to the others left d with
    # no test row here; a row is lent only if each of its labels keeps a row in the split it leaves
    sets = "d|a,c|d|a,b|a,b|a,d|b,c|b|c".split("|")
    frame = pd.DataFrame({"text": [f"t4 {i}" for i in range(9)],
                          "label": [label_set(cell.split(","), "|") for cell in sets]})
    parts = split(frame, 0.2, 0.2, seed=4, multi_label=True)
    for name, part in parts.items():
        assert set(rows_per_label(part["label"], True).index) == {"a", "b", "c", "d"}, name


def test_labels_as_numbers_none_and_lists_written_as_text(tmp_path):
    jsonl = tmp_path / "tags.jsonl"
    jsonl.write_text('{"text": "one", "tags": 3}\n{"text": "two", "tags": [1, null, 2.0]}\n{"text": "three", "tags": null}\n')
    frame = load_frame(data_config(jsonl, "jsonl", allow_empty_labels=True), multi_label=True)
    assert frame["label"].tolist() == ["3", f"1{JOIN}2", ""]
    sets = [label_set(cell, "|") for cell in ("['billing', 'bug']", "billing")]
    with pytest.raises(PipelineError, match="label '\\['billing', 'bug'\\]' looks like a list written as text") as err:
        check_separator(sets, "|", "data.csv")
    assert err.value.code == "data-label-separator"


def test_one_label_and_rows_without_it_is_a_detector_of_that_label():
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(40)], "label": ["spam" if i % 2 else "" for i in range(40)]})
    parts = split(frame, 0.2, 0.2, seed=0, multi_label=True)
    assert all((part["label"] == "spam").any() and (part["label"] == "").any() for part in parts.values())
    with pytest.raises(PipelineError, match="only one class"):
        split(frame.assign(label="spam"), 0.2, 0.2, seed=0, multi_label=True)
