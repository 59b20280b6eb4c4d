"""The LSTM baseline: a transformers-compatible classifier that trains, reloads, ignores padding and exports."""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoModelForSequenceClassification

from pipeline.models.bpe import train_bpe
from pipeline.models.lstm import LSTMForSequenceClassification, lstm_config
from pipeline.serving.onnx_export import TOLERANCE, export_onnx

POSITIVE = ["a good film with great acting", "great food and a lovely evening", "kind and helpful staff",
            "a wonderful trip, we loved it", "good value, great service", "lovely people and a good show",
            "the best concert of the year", "kind words and a warm welcome"]
NEGATIVE = ["bad film, awful acting", "terrible food from a rude waiter", "slow, unhelpful, grumpy staff",
            "an awful trip, we hated it", "poor value and bad service", "rude crowds at a boring show",
            "worst gig ever, dreadful noise", "cold stares, grim silence"]
TEXTS = POSITIVE + NEGATIVE
LABELS = ["negative", "positive"]
ARCH = {"family": "lstm", "embedding_dim": 16, "hidden_size": 24, "num_layers": 2, "dropout": 0.1,
        "vocab_size": 4000, "num_parameters": 123}


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(TEXTS, 300, 64)


def build(tokenizer, seed: int = 0) -> LSTMForSequenceClassification:
    torch.manual_seed(seed)
    config = lstm_config(OmegaConf.create(ARCH), vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         num_labels=2, id2label=dict(enumerate(LABELS)),
                         label2id={label: i for i, label in enumerate(LABELS)})
    return AutoModelForSequenceClassification.from_config(config)


def logits(model, tokenizer, texts: list[str]) -> torch.Tensor:
    with torch.inference_mode():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits


def test_config_from_arch_and_forward_with_labels(tokenizer):
    model = build(tokenizer)
    config = model.config
    assert isinstance(model, LSTMForSequenceClassification)
    assert (config.model_type, config.vocab_size, config.embedding_dim, config.hidden_size, config.num_layers,
            config.dropout, config.pad_token_id) == ("lstm-classifier", len(tokenizer), 16, 24, 2, 0.1,
                                                     tokenizer.pad_token_id)
    assert model.lstm.bidirectional is False and model.embeddings.padding_idx == tokenizer.pad_token_id
    assert not model.embeddings.weight[tokenizer.pad_token_id].any()

    batch = tokenizer(TEXTS[:3], padding=True, return_tensors="pt")
    output = model(**batch, labels=torch.tensor([1, 1, 0]))
    assert output.logits.shape == (3, 2)
    assert output.loss.ndim == 0 and math.isfinite(output.loss.item())
    assert model(**batch).loss is None


def test_logits_do_not_depend_on_right_padding(tokenizer):
    model = build(tokenizer).eval()
    with torch.no_grad():  # the initial zero biases and padding row would hide a model that reads padding
        for param in model.parameters():
            param.normal_(std=0.5)
    short, long = "good food", "the worst concert of the year, with rude people and a boring show"
    batch = tokenizer([short, long], padding=True, return_tensors="pt")
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # the short text is padded
    alone = logits(model, tokenizer, [short])
    assert torch.allclose(alone[0], logits(model, tokenizer, [short, long])[0], rtol=0, atol=1e-6)
    assert torch.allclose(alone[0], logits(model, tokenizer, [long, short])[1], rtol=0, atol=1e-6)


def test_save_and_reload_through_auto_class(tokenizer, tmp_path):
    model = build(tokenizer).eval()
    model.save_pretrained(tmp_path, safe_serialization=True)
    assert (tmp_path / "model.safetensors").is_file()

    # attn_implementation="sdpa" is what the pipeline passes to transformer models by default
    for kwargs in ({}, {"attn_implementation": "sdpa"}):
        loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path, **kwargs).eval()
        # by name: once a served PyTorch model has loaded in this process (another test), its travelling copy of
        # this code (module `lstm`, imported by text_classifier.py) holds the auto class's registration
        assert type(loaded).__name__ == "LSTMForSequenceClassification"
        assert loaded.config.model_type == model.config.model_type
        assert loaded.config.id2label == {0: "negative", 1: "positive"}
        assert loaded.config.label2id == {"negative": 0, "positive": 1}
        assert torch.equal(logits(loaded, tokenizer, TEXTS), logits(model, tokenizer, TEXTS))


@pytest.mark.parametrize("with_token_type_ids", [False, True])
def test_onnx_export_matches_pytorch(tokenizer, tmp_path, with_token_type_ids):
    if with_token_type_ids:  # export_onnx then feeds input_ids, attention_mask, token_type_ids
        tokenizer = train_bpe(TEXTS, 300, 64)
        tokenizer.model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
        assert "token_type_ids" in tokenizer(TEXTS[:1])
    build(tokenizer).save_pretrained(tmp_path / "model")

    # Exported from a batch of 2 and checked on all 16 texts (longer padding) and on 1: torch's warning about
    # LSTM exports with a batch size other than 1 does not apply, the batch and sequence axes stay dynamic.
    check = export_onnx(tmp_path / "model", tokenizer, tmp_path / "model.onnx", TEXTS)
    assert check["checked_examples"] == len(TEXTS)
    assert check["max_abs_logit_diff"] <= TOLERANCE


@pytest.mark.parametrize("backend", ["onnx", "pytorch"])
def test_the_served_classifier_predicts_like_the_model(tokenizer, tmp_path, backend):
    """What a registered lstm serves with (text_classifier, on ONNX Runtime or PyTorch) gives the model's logits."""
    from pipeline.serving.text_classifier import TextClassifier

    model = build(tokenizer).eval()
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    export_onnx(tmp_path, tokenizer, tmp_path / "model.onnx", TEXTS[:2])
    served = TextClassifier(tmp_path, backend).logits(TEXTS)
    assert torch.allclose(torch.from_numpy(served), logits(model, tokenizer, TEXTS), atol=TOLERANCE)


def test_a_few_adamw_steps_reduce_the_training_loss(tokenizer):
    model = build(tokenizer).train()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = torch.tensor([1] * len(POSITIVE) + [0] * len(NEGATIVE))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.6  # about ln 2 for an untrained two-class head
    assert losses[-1] < 0.3 * losses[0]
