"""One inference path for every consumer: evaluate (the test split), predict, the ONNX parity check and
the MLflow pyfunc.

Texts are tokenized in batches of BATCH (padded to the batch's longest text, cut as the saved tokenizer
says), a backend turns each batch into logits (a PyTorch model here, an ONNX Runtime session in
onnx_export), and a softmax gives the probabilities.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BatchEncoding, PreTrainedTokenizerBase

import pipeline.models.lstm  # noqa: F401  (registers the lstm baseline with the Auto classes)
from pipeline.models.safe_load import load_pretrained

BATCH = 32
Forward = Callable[[BatchEncoding], np.ndarray]  # a tokenized batch -> its logits


def load_model(folder: Path | str):
    """A saved sequence classifier (any architecture conf/model offers, the lstm baseline included), in eval mode.

    Loaded safely (models.safe_load.load_pretrained): no code from the folder runs, no pickled object is loaded.
    """
    return load_pretrained(AutoModelForSequenceClassification, folder).eval()


def load_folder(folder: Path | str):
    """(model, tokenizer) from a Hugging Face folder written by export."""
    return load_model(folder), load_pretrained(AutoTokenizer, folder)


def load_registered(uri: str):
    """(model, tokenizer) of a model that pyfunc.log_pyfunc logged (models:/NAME@alias, runs:/...).

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


def logits(forward: Forward, tokenizer: PreTrainedTokenizerBase, texts: list[str], num_labels: int,
           tensors: str = "pt") -> np.ndarray:
    """Logits (texts x labels) of `texts`, tokenized BATCH at a time as `tensors` ("pt" or "np")."""
    chunks = [forward(tokenizer(texts[start:start + BATCH], padding=True, truncation=True, return_tensors=tensors))
              for start in range(0, len(texts), BATCH)]
    return np.concatenate([np.empty((0, num_labels), dtype=np.float32), *chunks])


def torch_forward(model, device: str | torch.device = "cpu") -> Forward:
    """The Forward of a PyTorch sequence classifier on `device`."""
    @torch.inference_mode()
    def forward(batch: BatchEncoding) -> np.ndarray:
        return model(**batch.to(device)).logits.float().cpu().numpy()

    return forward


def softmax(values: np.ndarray) -> np.ndarray:
    exp = np.exp(values - values.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def predicted_ids(model, tokenizer: PreTrainedTokenizerBase, texts: list[str], device: str = "cpu") -> torch.Tensor:
    """The label id a PyTorch model predicts for each text, on `device`."""
    scores = logits(torch_forward(model.to(device), device), tokenizer, texts, model.config.num_labels)
    return torch.from_numpy(scores.argmax(axis=1))


def predict_texts(model, tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> pd.DataFrame:
    """Predictions for `texts` with a PyTorch model on the CPU."""
    scores = logits(torch_forward(model), tokenizer, texts, model.config.num_labels)
    return probabilities_frame(softmax(scores), label_names(model.config))
