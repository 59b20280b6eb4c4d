"""train.class_weights: the weights, and the training loss they give, against hand-worked values."""

import math

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from conftest import train_stage
from pipeline.core.errors import PipelineError
from pipeline.training.module import TextClassifier, class_weights


def test_balanced_weights_are_rows_over_classes_times_class_rows():
    labels = torch.tensor([0, 0, 0, 1, 2, 2])  # 6 rows, 3 classes: 6 / (3 x 3), 6 / (3 x 1), 6 / (3 x 2)
    assert class_weights("balanced", labels, 3).tolist() == pytest.approx([2 / 3, 2.0, 1.0])
    assert class_weights("none", labels, 3) is None
    assert class_weights([1, 4, 2.5], labels, 3).tolist() == [1.0, 4.0, 2.5]
    with pytest.raises(PipelineError, match="2 weights for 3 labels"):
        class_weights([1, 4], labels, 3)


@pytest.mark.parametrize("weights, expected", [
    (None, (-math.log(0.25) - math.log(0.75)) / 2),                    # 0.836988: the plain mean
    (torch.tensor([2.0, 1.0]), (-2 * math.log(0.25) - math.log(0.75)) / 3),  # 1.020090: weighted mean
])
def test_the_training_loss_is_the_weighted_cross_entropy(weights, expected):
    config = BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                        num_labels=2)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # every text gets logits (0, ln 3): probabilities 0.25 and 0.75
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([0.0, math.log(3)]))
    module = TextClassifier(model, lr=1e-3, weight_decay=0.0, warmup_ratio=0.0, class_weights=weights)
    batch = {"input_ids": torch.tensor([[1, 5, 2], [1, 7, 2]]), "attention_mask": torch.ones(2, 3, dtype=torch.long),
             "labels": torch.tensor([0, 1])}
    assert module.training_step(batch, 0).item() == pytest.approx(expected, abs=1e-5)


def test_train_fits_with_balanced_weights_and_refuses_a_wrong_count(tmp_path, monkeypatch, compose, small_frame):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small_frame.to_csv("data.csv", index=False)
    tiny = ("gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "train.max_epochs=1", "eval.gate.threshold=0",
            "refine.max_rounds=0", "train.checkpoint_every_n_steps=0")
    summary = train_stage(compose(*tiny, "train.class_weights=balanced"))
    assert summary["rounds"][0]["score"] >= 0 and summary["gate"]["passed"]
    with pytest.raises(PipelineError, match="2 weights for 5 labels"):
        train_stage(compose(*tiny, "train.class_weights=[1,2]"))
