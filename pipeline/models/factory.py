"""Build tokenizers and sequence-classification models from a conf/model entry.

Sources: `hub` (a Hugging Face name, downloaded), `local` (a folder), `packaged`
(a Python package exposing get_model_path()), `scratch` (a BERT built from the
config, with a byte-level BPE tokenizer trained on the training texts).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig
from transformers import (AutoModelForSequenceClassification, AutoTokenizer, BertConfig,
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
            raise PipelineError(f"model package '{model.path}' is not installed", "model.path",
                                f"pip install {model.path.replace('_', '-')}") from None
    if model.source == "local":
        if not Path(model.path).is_dir():
            raise PipelineError(f"model folder '{model.path}' not found", "model.path",
                                "point model.path at a folder saved with save_pretrained()")
        return model.path
    if model.source == "hub":
        return model.path
    raise PipelineError(f"model source '{model.source}' has no pretrained weights", "model.source",
                        "use one of: hub, local, packaged, scratch")


def build_tokenizer(model: DictConfig, train_texts: Iterable[str]) -> PreTrainedTokenizerBase:
    """The model's own tokenizer, or for `scratch` a byte-level BPE trained on the training texts."""
    if model.source == "scratch":
        return _train_bpe(train_texts, model.arch.vocab_size, model.max_seq_len)
    return AutoTokenizer.from_pretrained(pretrained_location(model))


def set_truncation(tokenizer: PreTrainedTokenizerBase, max_len: int, side: str) -> None:
    """Cut at `max_len` on `side`, and save that with the tokenizer so inference cuts as training did."""
    tokenizer.model_max_length, tokenizer.truncation_side = max_len, side
    tokenizer.init_kwargs.update(model_max_length=max_len, truncation_side=side)


def build_model(model: DictConfig, labels: list[str], tokenizer: PreTrainedTokenizerBase,
                attention: str = "sdpa"):
    """A sequence-classification model with a fresh head for `labels`."""
    label_maps = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                  "label2id": {label: i for i, label in enumerate(labels)}, "attn_implementation": attention}
    if model.source == "scratch":
        config = scratch_config(model.arch, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                **label_maps)
        return AutoModelForSequenceClassification.from_config(config)
    return AutoModelForSequenceClassification.from_pretrained(pretrained_location(model), **label_maps)


def scratch_config(arch: DictConfig, **overrides) -> BertConfig:
    """A BERT config from a conf/model `arch` block (what `scratch` builds and plan estimates)."""
    values = {"vocab_size": arch.vocab_size, "hidden_size": arch.hidden_size,
              "num_hidden_layers": arch.num_layers, "num_attention_heads": arch.num_heads,
              "intermediate_size": arch.intermediate_size, "max_position_embeddings": arch.max_position_embeddings}
    return BertConfig(**{**values, **overrides})


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
