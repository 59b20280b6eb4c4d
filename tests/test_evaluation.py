"""Evaluation on hand-checked cases: the test metrics, the confusion matrix, and the evaluate stage's outputs."""

import csv
import json

import pandas as pd
import pytest
import torch
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from transformers import BertConfig, BertForSequenceClassification

from conftest import cpu_env_report
from pipeline.core import paths
from pipeline.core.atomic import write_json, write_yaml
from pipeline.core.outputs import read_json
from pipeline.data.tokenize import to_dataset
from pipeline.evaluation.metrics import classification_metrics, confusion, confusion_rows, f1_interval
from pipeline.models.bpe import train_bpe

LABELS = ["business", "sport", "tech"]


def test_metrics_match_a_hand_worked_example():
    # true:      business business business sport sport tech
    # predicted: business business sport    sport tech  tech
    targets, preds = torch.tensor([0, 0, 0, 1, 1, 2]), torch.tensor([0, 0, 1, 1, 2, 2])
    # business: TP 2, FP 0, FN 1 -> P 1, R 2/3, F1 0.8
    # sport:    TP 1, FP 1, FN 1 -> P 1/2, R 1/2, F1 1/2
    # tech:     TP 1, FP 1, FN 0 -> P 1/2, R 1, F1 2/3
    expected = {
        "test/accuracy": 0.666667,  # 4 of 6
        "test/f1_macro": 0.655556,  # (0.8 + 0.5 + 0.666667) / 3
        "test/precision_macro": 0.666667,  # (1 + 0.5 + 0.5) / 3
        "test/recall_macro": 0.722222,  # (0.666667 + 0.5 + 1) / 3
        "test/precision/business": 1.0, "test/recall/business": 0.666667, "test/f1/business": 0.8,
        "test/precision/sport": 0.5, "test/recall/sport": 0.5, "test/f1/sport": 0.5,
        "test/precision/tech": 0.5, "test/recall/tech": 1.0, "test/f1/tech": 0.666667,
    }
    assert classification_metrics(preds, targets, LABELS) == expected
    assert confusion(preds, targets, LABELS) == {"labels": LABELS, "matrix": [[2, 1, 0], [0, 1, 1], [0, 0, 1]]}
    assert confusion_rows(preds, targets, LABELS)[2:5] == [
        {"actual": "business", "predicted": "sport"}, {"actual": "sport", "predicted": "sport"},
        {"actual": "sport", "predicted": "tech"}]


def test_label_names_mlflow_refuses_are_made_safe_in_metric_names(tmp_path):
    labels = ["a+b", "c/d?", ".", "..", "...", "v1.2"]
    metrics = classification_metrics(torch.arange(6), torch.arange(6), labels)
    assert {"test/f1/a_b", "test/f1/c_d_", "test/f1/_", "test/f1/__", "test/f1/...", "test/f1/v1.2"} <= set(metrics)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")  # MLflow refuses `test/f1/.` and `test/f1/..`
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, [Metric(key, value, 0, 0) for key, value in metrics.items()])
    assert client.get_run(run_id).data.metrics == metrics


def test_labels_that_read_the_same_in_metric_names_keep_apart():
    metrics = classification_metrics(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1]), ["a/b", "a_b", "c"])
    assert {key: value for key, value in metrics.items() if key.startswith("test/recall/")} == {
        "test/recall/0_a_b": 1.0, "test/recall/1_a_b": 0.5, "test/recall/2_c": 0.0}


@pytest.fixture
def evaluated(tmp_path, monkeypatch, compose):
    """The evaluate stage on 4 test texts, with a model that always answers `sport` (its head's bias), run as
    `python -m pipeline.stages.evaluate` after a plan made for a GPU: it evaluates on the device this machine has."""
    from pipeline.stages import evaluate
    from pipeline.stages.baseline import baseline

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    texts = ["Shares fell.", "The striker scored.", "A late winner.", "A new phone chip."]
    test = pd.DataFrame({"text": texts, "label": ["business", "sport", "sport", "tech"]})
    to_dataset({"train": test, "validation": test, "test": test}, LABELS).save_to_disk(paths.DATASET)
    tokenizer = train_bpe(texts * 10, 300, 32)
    tokenizer.save_pretrained(paths.TOKENIZER)
    write_json(paths.LABELS, LABELS)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=3, id2label=dict(enumerate(LABELS)),
                        pad_token_id=tokenizer.pad_token_id)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, 5.0, 0.0]))
    model.save_pretrained(paths.TRAINED)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = client.create_run(client.create_experiment("evaluate")).info.run_id
    gate = {"metric": "val/f1", "threshold": 0.9, "baseline": 1.0, "value": 0.95, "passed": True, "refine_rounds": 1}
    write_json(paths.TRAINING_SUMMARY, {"mlflow_run_id": run_id, "mlflow_local_fallback": False, "gate": gate})
    baseline(seed=0)
    write_yaml(paths.PLAN, {"target": "rtx3090", "settings": {"accelerator": "gpu"}})
    OmegaConf.save(compose("tracking.uri=sqlite:///mlflow.db"), "params.yaml")
    evaluate.main()
    return read_json(paths.METRICS), client.get_run(run_id), client


def test_evaluate_writes_hand_checked_metrics_confusion_and_logs_them(evaluated, tmp_path):
    metrics, run, client = evaluated
    # every text predicted sport; true: business, sport, sport, tech
    expected = {
        "test/accuracy": 0.5, "test/f1_macro": 0.222222, "test/precision_macro": 0.166667,
        "test/recall_macro": 0.333333,
        "test/precision/business": 0.0, "test/recall/business": 0.0, "test/f1/business": 0.0,
        "test/precision/sport": 0.5, "test/recall/sport": 1.0, "test/f1/sport": 0.666667,
        "test/precision/tech": 0.0, "test/recall/tech": 0.0, "test/f1/tech": 0.0,
        "gate/passed": 1.0, "gate/refine_rounds": 1.0, "gate/value": 0.95, "gate/threshold": 0.9,
    }
    low, high = metrics.pop("test/f1_macro_low"), metrics.pop("test/f1_macro_high")
    assert 0.0 <= low <= expected["test/f1_macro"] <= high <= 1.0
    # the TF-IDF baseline, trained on these very 4 texts (train = validation = test here), gets each one right
    baseline = {key: metrics.pop(key) for key in [*metrics] if key.startswith("baseline/")}
    assert baseline == {**{f"baseline/{split}/{name}": 1.0 for split in ("val", "test") for name in ("f1_macro", "f1_micro", "accuracy")},
                        "baseline/train_rows": 4}
    # Calibration, fitted on validation (the same 4 texts): logits (0, 5, 0) over T give sport e^a / (e^a + 2)
    # with a = 5 / T, the others 1 / (e^a + 2); the mean NLL (2 sport, 2 not) is log(e^a + 2) - a / 2, least at
    # e^a = 2: T = 5 / ln 2 = 7.2135, where sport gets 1/2 and the others 1/4. Raw: every row at confidence
    # 0.986703 with accuracy 1/2, ECE 0.486703; calibrated: confidence 1/2, accuracy 1/2, ECE 0.
    calibration = {key: metrics.pop(key) for key in ("calibration/temperature", "test/ece", "test/ece_calibrated")}
    assert calibration == pytest.approx({"calibration/temperature": 7.2135, "test/ece": 0.486703,
                                         "test/ece_calibrated": 0.0}, abs=2e-4)
    assert metrics == expected  # no champion registered yet: no champion/ keys
    expected.update({"test/f1_macro_low": low, "test/f1_macro_high": high, **baseline, **calibration})
    metrics.update({"test/f1_macro_low": low, "test/f1_macro_high": high, **baseline, **calibration})
    assert json.loads(paths.METRICS.read_text()) == expected
    with paths.CONFUSION.open() as handle:
        assert list(csv.DictReader(handle)) == [{"actual": label, "predicted": "sport"}
                                                for label in ("business", "sport", "sport", "tech")]
    assert run.data.metrics == expected
    # The calibrated probabilities: sport 1/2, the others 1/4 each (a tie: the runner-up is the earlier label,
    # business). Wrong: the business and the tech text.
    with paths.ERRORS.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["text"], r["true"], r["predicted"], r["runner_up"]) for r in rows] == [
        ("Shares fell.", "business", "sport", "business"), ("A new phone chip.", "tech", "sport", "business")]
    assert [float(r[key]) for r in rows for key in ("probability", "runner_up_probability")] == \
        pytest.approx([0.5, 0.25] * 2, abs=1e-4)
    with paths.PER_CLASS.open() as handle:
        assert list(csv.DictReader(handle)) == [
            {"label": "business", "precision": "0.0", "recall": "0.0", "f1": "0.0", "support": "1"},
            {"label": "sport", "precision": "0.5", "recall": "1.0", "f1": "0.666667", "support": "2"},
            {"label": "tech", "precision": "0.0", "recall": "0.0", "f1": "0.0", "support": "1"}]
    for name in ("errors.csv", "per_class.csv", "metrics.json", "confusion_matrix.png", "reliability.png"):
        logged = client.download_artifacts(run.info.run_id, f"evaluation/{name}", str(tmp_path / "logged"))
        if name.endswith(".png"):
            assert open(logged, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
            assert (paths.FIGURES / name).read_bytes() == open(logged, "rb").read()
    logged = client.download_artifacts(run.info.run_id, "evaluation/confusion_matrix.json", str(tmp_path))
    assert json.loads(open(logged).read()) == {"labels": LABELS, "matrix": [[0, 1, 0], [0, 2, 0], [0, 1, 0]]}
    # what it trained on, for a later champion contest: the 4 training texts' hashes (by coreutils:
    # `printf 'Shares fell.' | sha256sum` starts 81b7f23475f558c8)
    trained = json.loads(open(client.download_artifacts(run.info.run_id, "data/training_rows.json", str(tmp_path))).read())
    assert trained["rows"] == 4 and "81b7f23475f558c8" in trained["texts"]


@pytest.mark.parametrize("overrides, cut", [(("model=minilm", "model.max_seq_len=128", "data.truncation_side=left"), 128),
                                            (("model=minilm",), 512),  # auto: whole articles are cut at the positions
                                            (("model=tiny",), 128), (("model=lstm",), 256)])
def test_serving_tokenizes_the_test_texts_exactly_as_preprocess_did(tmp_path, monkeypatch, compose, small_frame,
                                                                    overrides, cut):
    """evaluate and predict (transformers) and the registered model (the tokenizers library alone) tokenize raw
    texts with the saved tokenizer: the same ids, cut at the same place (the longest BBC articles are longer than
    the cut), as the processed split holds."""
    from datasets import load_from_disk
    from transformers import AutoTokenizer

    from pipeline.models.safe_load import load_pretrained
    from pipeline.serving.text_classifier import tokenizer_encode
    from pipeline.stages.preprocess import preprocess

    monkeypatch.chdir(tmp_path)
    cpu_env_report()
    small_frame.to_csv("news.csv", index=False)
    preprocess(compose("data=csv", "data.path=news.csv", *overrides))
    test = load_from_disk(str(paths.DATASET / "test"))
    tokenizer = load_pretrained(AutoTokenizer, paths.TOKENIZER)
    served = tokenizer(list(test["text"]), padding=True, truncation=True)
    unpadded = [[token for token, mask in zip(ids, masks) if mask] for ids, masks in
                zip(served["input_ids"], served["attention_mask"])]
    assert unpadded == test["input_ids"]
    assert max(len(ids) for ids in unpadded) == cut
    portable = tokenizer_encode(paths.TOKENIZER)(list(test["text"]))
    assert portable.pop("document").tolist() == list(range(len(test)))  # one row per text
    assert set(portable) == set(served)
    for name in served:
        assert portable[name].tolist() == served[name], name


def test_the_f1_interval_holds_the_score_narrows_with_more_rows_and_is_exact_for_a_perfect_model():
    pattern_targets = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    pattern_preds = torch.tensor([0, 1, 2, 0, 1, 2, 0, 2, 1, 1])  # 3 of 10 wrong
    widths = []
    for repeats in (5, 200):  # 50 and 2,000 rows, the same error rate
        preds, targets = pattern_preds.repeat(repeats), pattern_targets.repeat(repeats)
        interval = f1_interval(preds, targets, 3)
        score = classification_metrics(preds, targets, ["a", "b", "c"])["test/f1_macro"]
        assert interval["test/f1_macro_low"] < score < interval["test/f1_macro_high"]
        widths.append(interval["test/f1_macro_high"] - interval["test/f1_macro_low"])
    assert widths[1] < widths[0] / 3  # sqrt(40) ~ 6x narrower in theory
    perfect = f1_interval(pattern_targets, pattern_targets, 3)
    assert perfect == {"test/f1_macro_low": 1.0, "test/f1_macro_high": 1.0}


def test_the_tfidf_baseline_scores_bbc_news_as_linear_models_are_known_to(bbc_frame):
    """TF-IDF with a linear classifier is a classic on BBC News: published accuracies are about 0.97."""
    from pipeline.evaluation.baseline import tfidf_baseline

    frame = bbc_frame.sample(frac=1, random_state=0)
    labels = sorted(frame["label"].unique())
    texts, ids = frame["text"].tolist(), torch.tensor([labels.index(label) for label in frame["label"]])
    parts = [(texts[a:b], ids[a:b]) for a, b in ((0, 1780), (1780, 2000), (2000, len(texts)))]
    scores = tfidf_baseline(*parts, len(labels))
    assert scores["baseline/val/f1_macro"] > 0.94 and scores["baseline/test/f1_macro"] > 0.94


def test_figures_take_any_label_text_and_many_labels(tmp_path):
    from pipeline.evaluation.figures import confusion_png

    labels = ["a$\\foo$b", "100%", *[f"intent_{i}" for i in range(75)]]  # mathtext-like and 77 labels
    matrix = [[int(i == j) for j in range(len(labels))] for i in range(len(labels))]
    confusion_png(matrix, labels, tmp_path / "confusion.png")
    assert (tmp_path / "confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
