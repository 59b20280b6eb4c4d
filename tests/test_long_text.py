"""Texts longer than the model's length (data.long_text): the cuts, worked by hand; what the tokenizer covers and
what a cut loses (data_stats), by hand; a text cut into windows scored as the mean of its windows' logits on every
path (evaluate's, predict's, the ONNX file's, the registered model's), against windows built by hand."""

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from mlflow.tracking import MlflowClient
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from conftest import export_tiny, train_stage
from pipeline.core import paths
from pipeline.data.loader import document_batches
from pipeline.data.text_windows import MAX_WINDOWS, windows
from pipeline.data.tokenize import tokenize
from pipeline.serving.inference import load_folder, model_logits, predict_folder
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.text_classifier import TextClassifier, document_mean
from pipeline.training.module import per_document

CLS_SEP = [1] + [0] * 9 + [1]  # [CLS], 9 body tokens at positions 1-9, [SEP] at 10


@pytest.mark.parametrize("strategy, side, expected", [
    ("truncate", "right", [[0, 1, 2, 3, 4, 10]]),                   # room for 4 of the 9 body tokens
    ("truncate", "left", [[0, 6, 7, 8, 9, 10]]),
    ("head_tail", "right", [[0, 1, 7, 8, 9, 10]]),                  # a quarter of the room (1) for the head
    ("chunks", "right", [[0, 1, 2, 3, 4, 10], [0, 4, 5, 6, 7, 10], [0, 6, 7, 8, 9, 10]]),  # 4 wide, 1 shared;
])                                                                  # the last ends at the text's end
def test_long_texts_are_cut_as_worked_by_hand(strategy, side, expected):
    assert windows(CLS_SEP, 6, strategy, side) == expected
    assert windows(CLS_SEP, 11, strategy, side) == [list(range(11))]  # a text that fits is kept whole


def test_a_very_long_text_gets_at_most_max_windows_spread_from_start_to_end():
    special = [1] + [0] * 40 + [1]  # 40 body tokens in windows of 4: 13 windows 3 apart would reach the end
    starts = [positions[1] - 1 for positions in windows(special, 6, "chunks")]
    assert MAX_WINDOWS == 8 and starts == [0, 5, 10, 15, 21, 26, 31, 36]  # 36 / 7 = 5.14 apart, rounded


def test_a_texts_logits_are_the_mean_of_its_windows():
    rows = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0], [0.0, 9.0]])
    assert document_mean(rows, np.array([0, 0, 0, 1]), 2).tolist() == [[3.0, 3.0], [0.0, 9.0]]
    means, labels = per_document(torch.tensor(rows), torch.tensor([4, 4, 4, 2]), torch.tensor([7, 7, 7, 9]))
    assert means.tolist() == [[3.0, 3.0], [0.0, 9.0]] and labels.tolist() == [4, 2]


def test_validation_batches_keep_a_texts_windows_together():
    documents = [0, 0, 0, 1, 2, 2, 3, 3, 3, 3, 3]
    assert document_batches(documents, 4) == [[0, 1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]
    assert document_batches(documents, 4, rank=1, replicas=2) == [[3], [6, 7, 8, 9, 10]]


def word_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer that knows five words: `the cat sat` is 3 tokens, `on` and `mat` are [UNK]."""
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "the": 4, "cat": 5, "sat": 6}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                           special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")


@pytest.mark.parametrize("strategy, rows, lost", [("truncate", 2, 0.5), ("chunks", 3, 0.0)])
def test_coverage_counts_unknown_tokens_characters_and_what_the_cut_loses(tmp_path, strategy, rows, lost):
    texts = ["the cat sat on the mat", "the cat"]  # 6 tokens (2 [UNK]) in 22 characters and 6 words; 2 in 7 and 2
    features = Features({"text": Value("string"), "labels": ClassLabel(names=["a", "b"])})
    data = DatasetDict({"train": Dataset.from_dict({"text": texts, "labels": [0, 1]}, features=features)})
    tokenized, coverage = tokenize(data, word_tokenizer(), 5, strategy, cache=tmp_path)
    # max_len 5 leaves room for 3 of the first text's 6 tokens: truncated, it loses 3 of them; in windows of 3
    # (none shared: a quarter of 3 rounds to 0) it loses none, in 2 rows
    assert coverage["train"] == {
        "texts": 2, "rows": rows, "characters": 29, "words": 8, "tokens": 8, "unknown_share": 0.25,
        "fragment_share": 0.0, "tokens_per_character": round(8 / 29, 4), "tokens_per_word": 1.0, "cut": 1, "cut_share": 0.5, "lost_share_of_cut": lost,
        "length_p50": 4, "length_p90": 8, "length_p95": 8, "length_p100": 8, "max_seq_len": 5}
    first = [2, 4, 5, 6, 3]  # [CLS] the cat sat [SEP]
    if strategy == "truncate":
        assert tokenized["train"]["input_ids"] == [first, [2, 4, 5, 3]]
    else:
        assert tokenized["train"]["input_ids"] == [first, [2, 1, 4, 1, 3], [2, 4, 5, 3]]  # on the mat
        assert tokenized["train"]["document"] == [0, 0, 1] and tokenized["train"]["labels"] == [0, 0, 1]


# 36 words the tiny BPE (trained on BBC News) keeps whole: one token each
WORDS = ("the said and was for that with its has have are from but will been not also more which year "
         "new would their were had this they about after over first people than government two last").split()


@pytest.fixture
def chunked_export(compose, small_frame, tmp_path):
    """A tiny exported model whose tokenizer cuts texts into windows of 16 (14 body tokens, 3 shared)."""
    folder = export_tiny(compose, small_frame["text"].tolist(), tmp_path / "export", ["business", "sport"])
    config = folder / "tokenizer_config.json"
    settings = pd.read_json(config, typ="series").to_dict()
    settings.update(long_text="chunks", model_max_length=16)
    config.write_text(pd.Series(settings).to_json())
    return folder


def test_every_path_scores_a_chunked_text_as_the_mean_of_its_windows_built_by_hand(chunked_export, tmp_path,
                                                                                    monkeypatch):
    model, tokenizer = load_folder(chunked_export)
    text = " ".join(WORDS)
    ids = tokenizer(text)["input_ids"]
    assert len(ids) == 38 and ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    body = ids[1:-1]
    # windows of 14 body tokens, 11 apart (3 shared), the last ending at the text's end: starts 0, 11, 22
    by_hand = [[ids[0], *body[start:start + 14], ids[-1]] for start in (0, 11, 22)]
    with torch.inference_mode():
        expected = np.mean([model(input_ids=torch.tensor([window])).logits[0].numpy() for window in by_hand], axis=0)
    short = "the said and"
    texts = [short, text, short]
    with torch.inference_mode():
        short_logits = model(**tokenizer(short, return_tensors="pt")).logits[0].numpy()

    evaluated = model_logits(model, tokenizer, texts)  # evaluate's path (and errors.csv's)
    assert evaluated[1] == pytest.approx(expected, abs=1e-5)
    assert evaluated[0] == pytest.approx(short_logits, abs=1e-5) and evaluated[2] == pytest.approx(short_logits, abs=1e-5)
    probabilities = torch.softmax(torch.from_numpy(evaluated), dim=1).numpy()
    predicted = predict_folder(chunked_export, texts)
    assert predicted["score"].tolist() == pytest.approx(probabilities.max(axis=1), abs=1e-5)
    labels = [model.config.id2label[i] for i in probabilities.argmax(axis=1)]
    assert predicted["label"].tolist() == labels
    assert TextClassifier(chunked_export, "onnx").logits(texts) == pytest.approx(evaluated, abs=1e-4)  # the served file
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("chunks")).info.run_id
    mlflow.set_tracking_uri(client.tracking_uri)
    served = mlflow.pyfunc.load_model(log_pyfunc(client.tracking_uri, run, chunked_export))
    answers = served.predict(pd.DataFrame({"text": texts}))
    assert answers["score"].tolist() == pytest.approx(probabilities.max(axis=1), abs=1e-4)
    assert answers["label"].tolist() == labels


@pytest.mark.parametrize("strategy", ["head_tail", "chunks"])
def test_training_and_evaluation_read_long_texts_by_the_strategy(tmp_path, monkeypatch, compose, small_frame, strategy):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small_frame.to_csv("data.csv", index=False)
    cfg = compose("gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "model.max_seq_len=64",
                  f"data.long_text={strategy}", "train.max_epochs=1", "eval.gate.threshold=0", "refine.max_rounds=0",
                  "train.checkpoint_every_n_steps=0")
    summary = train_stage(cfg)
    from pipeline.core.outputs import read_json

    stats = read_json(paths.DATA_STATS)
    train = stats["tokens"]["train"]
    assert train["texts"] == stats["rows"]["train"] and train["cut_share"] > 0.9  # BBC articles are long
    if strategy == "chunks":
        assert train["rows"] > 2 * train["texts"]
    else:
        assert train["rows"] == train["texts"]
    assert len(summary["rounds"]) == 1
    shipped = read_json(paths.TOKENIZER / "tokenizer_config.json")  # what export copies beside the model
    assert (shipped["long_text"], shipped["model_max_length"]) == (strategy, 64)
    from pipeline.data.loader import split_examples

    texts, targets = split_examples("validation")
    assert len(texts) == stats["rows"]["validation"] == len(targets)  # one row per text, whatever the windows
