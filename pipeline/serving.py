"""Inference on an exported folder, shared by the MLflow pyfunc model and the test-split scoring."""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import pipeline.models.lstm  # noqa: F401  (registers the lstm baseline with the Auto classes)
from pipeline.models.factory import load_pretrained

BATCH = 32


def load_model(folder: Path | str):
    """A saved sequence classifier (any architecture conf/model offers, the lstm baseline included), in eval mode.

    Loaded safely (factory.load_pretrained): no code from the folder runs, no pickled object is loaded.
    """
    return load_pretrained(AutoModelForSequenceClassification, folder).eval()


def load_folder(folder: Path | str):
    """(model, tokenizer) from a Hugging Face folder written by export."""
    return load_model(folder), load_pretrained(AutoTokenizer, folder)


def load_registered(uri: str):
    """(model, tokenizer) of a model that registry.register logged (models:/NAME@alias, runs:/...).

    The exported folder is read from the model's artifacts as files, like load_folder: MLflow's own
    loader would unpickle python_model.pkl, which runs whatever code the artifact store holds.
    """
    import mlflow.artifacts

    with tempfile.TemporaryDirectory(prefix="registered-model-") as tmp:
        root = Path(mlflow.artifacts.download_artifacts(uri, dst_path=tmp))
        flavor = yaml.safe_load((root / "MLmodel").read_text())["flavors"]["python_function"]
        return load_folder(root / flavor["artifacts"]["model"]["path"])


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
