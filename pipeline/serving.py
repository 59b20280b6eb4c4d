"""Inference on an exported folder, shared by the MLflow pyfunc model and the test-split scoring."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import pipeline.models.lstm  # noqa: F401  (registers the lstm baseline with the Auto classes)

BATCH = 32


def load_model(folder: Path | str):
    """A saved sequence classifier (any architecture conf/model offers, the lstm baseline included), in eval mode."""
    return AutoModelForSequenceClassification.from_pretrained(folder).eval()


def load_folder(folder: Path | str):
    """(model, tokenizer) from a Hugging Face folder written by export."""
    return load_model(folder), AutoTokenizer.from_pretrained(folder)


def label_names(config) -> list[str]:
    return [config.id2label[i] for i in range(config.num_labels)]


def probabilities_frame(probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """One row per text: the predicted label, its probability, and every label's probability."""
    frame = pd.DataFrame(probs, columns=[f"prob/{label}" for label in labels])
    frame.insert(0, "label", [labels[i] for i in probs.argmax(axis=1)])
    frame.insert(1, "score", probs.max(axis=1))
    return frame


@torch.inference_mode()
def predict_texts(model, tokenizer, texts: list[str]) -> pd.DataFrame:
    """Predictions for `texts` with a PyTorch model, in batches."""
    probabilities = [torch.empty(0, model.config.num_labels)]
    for start in range(0, len(texts), BATCH):
        batch = tokenizer(texts[start:start + BATCH], padding=True, truncation=True, return_tensors="pt")
        probabilities.append(model(**batch).logits.softmax(dim=-1))
    return probabilities_frame(torch.cat(probabilities).numpy(), label_names(model.config))


class TextClassifierModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc flavour: input a DataFrame with a `text` column (or a list of strings)."""

    def load_context(self, context):
        self.model, self.tokenizer = load_folder(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        texts = list(model_input["text"]) if isinstance(model_input, pd.DataFrame) else list(model_input)
        return predict_texts(self.model, self.tokenizer, [str(text) for text in texts])
