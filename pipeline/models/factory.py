"""Build tokenizers and sequence-classification models from a conf/model entry.

Sources: `hub` (a Hugging Face name, downloaded), `local` (a folder), `packaged`
(a Python package exposing get_model_path()), `scratch` (built from the `arch` block,
with a byte-level BPE tokenizer trained on the training texts).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig,
                          PreTrainedTokenizerBase, PreTrainedTokenizerFast)

from pipeline.errors import PipelineError

SPECIAL_TOKENS = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
                  "sep_token": "[SEP]", "mask_token": "[MASK]"}


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
    if model.source == "scratch":
        return _train_bpe(train_texts, model.arch.vocab_size, model.max_seq_len)
    location = pretrained_location(model)
    tokenizer = _from_pretrained(AutoTokenizer, location, model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def set_truncation(tokenizer: PreTrainedTokenizerBase, max_len: int, side: str) -> None:
    """Cut at `max_len` on `side`, and save that with the tokenizer so inference cuts as training did.

    The backend's own truncation and padding (set in some tokenizer.json files, and changed by every
    call) are cleared, so the saved tokenizer is the same whether or not it has tokenized anything.
    """
    tokenizer.model_max_length, tokenizer.truncation_side = max_len, side
    tokenizer.init_kwargs.update(model_max_length=max_len, truncation_side=side)
    if tokenizer.is_fast:
        tokenizer.backend_tokenizer.no_truncation()
        tokenizer.backend_tokenizer.no_padding()


def build_model(model: DictConfig, labels: list[str], tokenizer: PreTrainedTokenizerBase,
                attention: str = "sdpa", start_from: Path | None = None):
    """A sequence-classification model with a fresh head for `labels`.

    `start_from`: a folder of pretrained weights for a `scratch` model (the pretrain stage's output).
    """
    label_maps = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {label: i for i, label in enumerate(labels)},
                  "pad_token_id": tokenizer.pad_token_id}
    if model.arch.family != "lstm":
        label_maps["attn_implementation"] = attention
    if model.source == "scratch" and start_from is None:
        config = scratch_config(model.arch, vocab_size=len(tokenizer), **label_maps)
        return AutoModelForSequenceClassification.from_config(config)
    location = str(start_from) if start_from is not None else pretrained_location(model)
    return _from_pretrained(AutoModelForSequenceClassification, location, model, **label_maps)


def _from_pretrained(auto_class, location: str, model: DictConfig, **kwargs):
    """auto_class.from_pretrained, with a clear error when a hub model cannot be fetched (offline)."""
    try:
        return auto_class.from_pretrained(location, **kwargs)
    except OSError as err:
        if model.source != "hub":
            raise
        raise PipelineError("model-hub-unavailable", f"cannot load '{location}' from the Hugging Face hub ({str(err).splitlines()[0]})",
                            "model.path",
                            f"download it once with network (huggingface-cli download {location} --local-dir "
                            f"models/{model.name}), then -S model.source=local -S model.path=models/{model.name}") from None


# Our `arch` keys -> the names a family's transformers config uses where they differ.
CONFIG_NAMES = {
    "distilbert": {"hidden_size": "dim", "num_hidden_layers": "n_layers", "num_attention_heads": "n_heads",
                   "intermediate_size": "hidden_dim"},
    "gpt2": {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
             "intermediate_size": "n_inner", "max_position_embeddings": "n_positions"},
}


def scratch_config(arch: DictConfig, **overrides) -> PretrainedConfig:
    """The transformers config a conf/model `arch` block describes (what `scratch` builds, plan estimates).

    `arch.family` is a transformers model type (bert, distilbert, roberta, deberta-v2, gpt2) or lstm;
    `arch.config` holds family-specific settings.
    """
    extra = OmegaConf.to_container(arch.config) if arch.get("config") else {}
    if arch.family == "lstm":
        from pipeline.models.lstm import lstm_config

        return lstm_config(arch, **{**extra, **overrides})
    values = {"vocab_size": arch.vocab_size, "hidden_size": arch.hidden_size,
              "num_hidden_layers": arch.num_layers, "num_attention_heads": arch.num_heads,
              "intermediate_size": arch.intermediate_size, "max_position_embeddings": arch.max_position_embeddings}
    names = CONFIG_NAMES.get(arch.family, {})
    values = {names.get(key, key): value for key, value in values.items()}
    return AutoConfig.for_model(arch.family, **{**values, **extra, **overrides})


def _train_bpe(texts: Iterable[str], vocab_size: int, max_len: int) -> PreTrainedTokenizerFast:
    """A lower-cased byte-level BPE (no unknown tokens), the same for the same texts on every run.

    BPE rather than WordPiece: the WordPiece trainer numbers its `##` tokens in hash-map order, so
    its vocabulary, and with it the whole pipeline, changes from one run to the next
    (huggingface/tokenizers#1794).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS.values()),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B:1 {sep}:1",
        special_tokens=[(cls, tokenizer.token_to_id(cls)), (sep, tokenizer.token_to_id(sep))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, model_max_length=max_len, **SPECIAL_TOKENS)
