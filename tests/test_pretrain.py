"""Masked-LM pretraining of a tiny BERT on BBC articles: it learns, it reproduces, and a classifier loads it."""

from __future__ import annotations

import lightning as L
import pandas as pd
import pytest
import torch
from lightning.pytorch.loggers import CSVLogger
from omegaconf import OmegaConf
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer

from pipeline.models.architectures import scratch_config

from pipeline.models.bpe import train_bpe
from pipeline.training.pretrain import pretrain_mlm

TINY = OmegaConf.create({"family": "bert", "num_layers": 2, "hidden_size": 64, "num_heads": 2, "intermediate_size": 128,
                         "vocab_size": 2000, "max_position_embeddings": 64})
RUN = {"batch_size": 16, "lr": 3e-3, "max_len": 64}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A tiny model gains nothing from more threads, and on a busy CPU runs many times slower with them."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def setup(small_frame):
    texts = small_frame["text"].tolist()
    tokenizer = train_bpe(texts, TINY.vocab_size, RUN["max_len"])
    config = scratch_config(TINY, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    return config, tokenizer, texts


@pytest.fixture(scope="module")
def pretrained(setup, tmp_path_factory):
    """100 steps of pretraining, logged to CSV: (summary, saved folder, logged metrics)."""
    config, tokenizer, texts = setup
    root = tmp_path_factory.mktemp("pretrain")
    logger = CSVLogger(root / "logs", name="mlm")
    summary = pretrain_mlm(config, tokenizer, texts, steps=100, seed=0, out_dir=root / "model",
                           log_every_n_steps=10, logger=logger, **RUN)
    return summary, root / "model", pd.read_csv(logger.log_dir + "/metrics.csv")


def test_mlm_loss_falls_clearly_and_is_logged(pretrained):
    summary, _, metrics = pretrained
    assert summary["steps"] == 100 and summary["texts"] == 200
    assert summary["first_loss"] > 7.0  # about ln(vocabulary): an untrained model guesses uniformly
    assert summary["last_loss"] < summary["first_loss"] - 0.7
    logged = metrics.dropna(subset=["pretrain/loss"])
    assert len(logged) == 10
    assert logged["pretrain/loss"].iloc[-3:].mean() < logged["pretrain/loss"].iloc[:3].mean() - 0.5


def test_same_seed_gives_byte_identical_weights_and_another_seed_does_not(setup, tmp_path):
    config, tokenizer, texts = setup
    weights = {}
    for name, seed in (("first", 7), ("again", 7), ("other", 8)):
        pretrain_mlm(config, tokenizer, texts[:64], steps=8, seed=seed, out_dir=tmp_path / name, **RUN)
        weights[name] = (tmp_path / name / "model.safetensors").read_bytes()
    assert weights["first"] == weights["again"]
    assert weights["first"] != weights["other"]


def test_classifier_loads_the_pretrained_encoder_with_a_new_head(pretrained, setup):
    _, folder, _ = pretrained
    config, tokenizer, texts = setup
    mlm = AutoModelForMaskedLM.from_pretrained(folder)
    classifier, info = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=5,
                                                                          output_loading_info=True)
    assert set(info["missing_keys"]) == {"classifier.weight", "classifier.bias",
                                         "bert.pooler.dense.weight", "bert.pooler.dense.bias"}
    assert all(key.startswith("cls.") for key in info["unexpected_keys"])  # the MLM head, not needed
    encoder = mlm.bert.state_dict()
    loaded = classifier.bert.state_dict()
    assert set(encoder) == {key for key in loaded if not key.startswith("pooler.")}
    for key, value in encoder.items():
        assert torch.equal(loaded[key], value), key
    L.seed_everything(0, verbose=False)  # the weights pretraining started from
    initial = AutoModelForMaskedLM.from_config(config).bert.state_dict()
    for key in ("embeddings.word_embeddings.weight", "encoder.layer.1.attention.self.query.weight"):
        assert not torch.equal(encoder[key], initial[key]), f"{key} was not trained"
    saved_tokenizer = AutoTokenizer.from_pretrained(folder)
    assert saved_tokenizer(texts[:3])["input_ids"] == tokenizer(texts[:3])["input_ids"]
