"""Where a model's weights and tokenizer come from: `hub` (a Hugging Face name, downloaded), `local`
(a folder), `packaged` (a Python package exposing get_model_path()), `scratch` (built from the conf/model
`arch` block, with a byte-level BPE tokenizer trained on the training texts).

Saved models and tokenizers are read through models.safe_load.load_pretrained.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedTokenizerBase

from pipeline.config.schema import positions
from pipeline.core.errors import PipelineError
from pipeline.data.normalise import PAIRS_SETTING
from pipeline.models.architectures import scratch_config
from pipeline.models.bpe import train_bpe
from pipeline.models.safe_load import load_pretrained

MULTI_LABEL = "multi_label_classification"  # the problem_type of a model of label sets (task=multi_label)


def pretrained_location(model: DictConfig) -> str:
    """Where from_pretrained should load the weights and tokenizer from."""
    if model.source == "packaged":
        try:
            return str(importlib.import_module(model.path).get_model_path())
        except ImportError:
            raise PipelineError("model-package-missing", f"model package '{model.path}' is not installed", "model.path",
                                f"pip install {model.path.replace('_', '-')}") from None
    if model.source == "local":
        if not Path(model.path).is_dir():
            raise PipelineError("model-folder-missing", f"model folder '{model.path}' not found", "model.path",
                                "point model.path at a folder saved with save_pretrained()")
        return model.path
    if model.source == "hub":
        return model.path
    raise PipelineError("config-out-of-range", f"model source '{model.source}' has no pretrained weights", "model.source",
                        "use one of: hub, local, packaged, scratch")


def build_tokenizer(model: DictConfig, train_texts: Iterable[str]) -> PreTrainedTokenizerBase:
    """The model's own tokenizer, or for `scratch` a byte-level BPE trained on the training texts.

    A tokenizer without a padding token (GPT-2) pads with its end-of-text token.
    """
    if model.source == "scratch":  # its length is set by set_truncation, once preprocess has chosen it
        return train_bpe(train_texts, model.arch.vocab_size, positions(model.arch) or 512)
    location = pretrained_location(model)
    tokenizer = _from_pretrained(AutoTokenizer, location, model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def set_truncation(tokenizer: PreTrainedTokenizerBase, max_len: int, side: str, long_text: str = "truncate",
                   pairs: bool = False) -> None:
    """Cut at `max_len` on `side` as `long_text` says (data.text_windows), and save that (and the inputs it makes;
    and, for a model of `pairs` of texts, that it reads pairs) with the tokenizer so inference cuts as training
    did, also where only the tokenizers library reads it (the served model).

    The backend's own truncation and padding (set in some tokenizer.json files, and changed by every
    call) are cleared, so the saved tokenizer is the same whether or not it has tokenized anything.
    """
    tokenizer.model_max_length, tokenizer.truncation_side = max_len, side
    tokenizer.init_kwargs.update(model_max_length=max_len, truncation_side=side, long_text=long_text,
                                 model_input_names=list(tokenizer.model_input_names))
    if pairs:
        tokenizer.init_kwargs[PAIRS_SETTING] = True
    else:  # a tokenizer saved from a model of pairs (a local model path) reads single texts here
        tokenizer.init_kwargs.pop(PAIRS_SETTING, None)
    if tokenizer.is_fast:
        tokenizer.backend_tokenizer.no_truncation()
        tokenizer.backend_tokenizer.no_padding()


def build_model(model: DictConfig, labels: list[str], tokenizer: PreTrainedTokenizerBase,
                attention: str = "sdpa", start_from: Path | None = None, multi_label: bool = False):
    """A sequence-classification model with a fresh head for `labels` (for label sets, `multi_label`, its config's
    problem_type says so: every serving path reads it).

    `start_from`: a folder of pretrained weights for a `scratch` model (the pretrain stage's output).
    """
    label_maps = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {label: i for i, label in enumerate(labels)},
                  "pad_token_id": tokenizer.pad_token_id}
    label_maps["problem_type"] = MULTI_LABEL if multi_label else "single_label_classification"
    if model.arch.family != "lstm":
        label_maps["attn_implementation"] = attention
    if model.source == "scratch" and start_from is None:
        config = scratch_config(model.arch, vocab_size=len(tokenizer), **label_maps)
        return AutoModelForSequenceClassification.from_config(config)
    location = str(start_from) if start_from is not None else pretrained_location(model)
    return _from_pretrained(AutoModelForSequenceClassification, location, model, **label_maps)


def _from_pretrained(auto_class, location: str, model: DictConfig, **kwargs):
    """load_pretrained with the model's trust_remote_code, and a clear error when a hub model cannot be fetched."""
    try:
        return load_pretrained(auto_class, location, model.get("trust_remote_code", False), **kwargs)
    except OSError as err:
        if model.source != "hub":
            raise
        raise PipelineError("model-hub-unavailable", f"cannot load '{location}' from the Hugging Face hub ({str(err).splitlines()[0]})",
                            "model.path",
                            f"download it once with network (huggingface-cli download {location} --local-dir "
                            f"models/{model.name}), then -S model.source=local -S model.path=models/{model.name}") from None
