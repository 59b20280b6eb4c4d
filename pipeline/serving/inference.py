"""Inference inside the project: PyTorch models and transformers tokenizers, on the one path of
text_classifier (tokenize BATCH texts, logits, softmax) that the registered models serve with.

evaluate scores the test split here, predict an exported folder, export checks ONNX against it, and
champion scoring loads registered models (load_registered) without running any of their code.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

import pipeline.models.lstm  # noqa: F401  (registers the lstm baseline with the Auto classes)
from pipeline.models.safe_load import load_pretrained
from pipeline.data.normalise import PAIRS_SETTING
from pipeline.serving.text_classifier import (Batch, Encode, Text, TextClassifier, cut_settings, logits, predictions,
                                              saved_temperature, saved_thresholds, torch_forward, windowed)


def load_model(folder: Path | str, trust_remote_code: bool = False):
    """A saved sequence classifier (any architecture conf/model offers, the lstm baseline included), in eval mode.

    Loaded safely (models.safe_load.load_pretrained): no pickled object is loaded, and code from the folder
    runs only with `trust_remote_code` (model.trust_remote_code); without it such a model is refused.
    """
    return load_pretrained(AutoModelForSequenceClassification, folder, trust_remote_code).eval()


def load_folder(folder: Path | str, trust_remote_code: bool = False):
    """(model, tokenizer) from a Hugging Face folder written by export."""
    return load_model(folder, trust_remote_code), load_pretrained(AutoTokenizer, folder, trust_remote_code)


def load_registered(uri: str) -> TextClassifier:
    """The classifier of a model that pyfunc.log_pyfunc logged (models:/NAME@alias, runs:/...), on the
    backend it was logged with.

    Its files are read as files: MLflow's own loader would run the model's code (served_model.py, or
    python_model.pkl for older versions) from wherever the artifact store says.
    """
    import mlflow.artifacts

    with tempfile.TemporaryDirectory(prefix="registered-model-") as tmp:
        root = Path(mlflow.artifacts.download_artifacts(uri, dst_path=tmp))
        flavor = yaml.safe_load((root / "MLmodel").read_text())["flavors"]["python_function"]
        config = flavor.get("config") or {"backend": "pytorch"}  # older versions: PyTorch
        return TextClassifier(root / flavor["artifacts"]["model"]["path"], config["backend"],
                              config.get("onnx_file", "model.onnx"))


def available_device() -> str:
    """cuda where torch can use a GPU on this machine, else cpu (whatever the plan was made for)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def label_names(config) -> list[str]:
    return [config.id2label[i] for i in range(config.num_labels)]


def hf_encode(tokenizer: PreTrainedTokenizerBase) -> Encode:
    """The Encode of a transformers tokenizer: cut to its model_max_length as its `long_text` says (preprocess
    saved it; truncation without), padded to the batch's longest."""
    settings = tokenizer.init_kwargs
    cut = cut_settings(settings.get("long_text"), tokenizer.model_max_length, tokenizer.truncation_side)
    pad = (tokenizer.pad_token_id or 0, tokenizer.pad_token_type_id, tokenizer.padding_side)
    pairs = reads_pairs(tokenizer)

    def encode(texts: list[Text]) -> Batch:
        whole = tokenizer(texts, truncation=False, return_token_type_ids=True, return_special_tokens_mask=True,
                          verbose=False)
        sequences = [whole.sequence_ids(i) if pairs else None for i in range(len(texts))]
        encoded = list(zip(whole["input_ids"], whole["token_type_ids"], whole["special_tokens_mask"], sequences))
        return windowed(encoded, cut, pad, list(tokenizer.model_input_names))

    return encode


def reads_pairs(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the model of this tokenizer was trained on pairs of texts (preprocess saved it)."""
    return bool(tokenizer.init_kwargs.get(PAIRS_SETTING))


def model_logits(model, tokenizer: PreTrainedTokenizerBase, texts: list[Text], device: str = "cpu") -> np.ndarray:
    """Logits (texts x labels) of a PyTorch model on `device`."""
    return logits(torch_forward(model.to(device), device), hf_encode(tokenizer), texts, model.config.num_labels,
                  reads_pairs(tokenizer))


def predicted_ids(model, tokenizer: PreTrainedTokenizerBase, texts: list[Text], device: str = "cpu") -> torch.Tensor:
    """The label id a PyTorch model predicts for each text, on `device`."""
    return torch.from_numpy(model_logits(model, tokenizer, texts, device).argmax(axis=1))


def predict_folder(folder: Path | str, texts: list[Text], trust_remote_code: bool = False) -> pd.DataFrame:
    """Predictions for `texts` with an exported folder's PyTorch model on the CPU, calibrated by its
    temperature (label sets: decided by its thresholds)."""
    model, tokenizer = load_folder(folder, trust_remote_code)
    labels = label_names(model.config)
    return predictions(model_logits(model, tokenizer, texts), labels, saved_temperature(folder),
                       saved_thresholds(folder, labels))
