"""The schema of params.yaml: one dataclass per section, checked before a stage does any work.

Types come from the annotations (OmegaConf structured configs); ranges and choices from field
metadata (`ge`/`gt`/`le`/`lt`, `choices`), checked by one generic function. Keys only some
config options have (a csv's `encoding`, lora's `r`, lstm's `embedding_dim`) are Optional with a
default of None; every other key is required. DVC composes conf/ in its own process, so `validate`
runs where params.yaml is read (pipeline.config.params) and where we compose (pipeline.config.compose).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union, get_args, get_origin, get_type_hints

from omegaconf import MISSING, Container, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from pipeline.core.errors import PipelineError


def rule(default: Any = MISSING, **checks) -> Any:
    """A field with its checks in metadata, e.g. `rule(ge=1)`, `rule(gt=0, lt=1)`, `rule(choices=(...))`."""
    return field(default=default, metadata=checks)


@dataclass
class Gpu:
    profile: str = MISSING
    name: Optional[str] = MISSING
    nvml_names: List[str] = MISSING
    reference_row: Optional[str] = MISSING
    arch: Optional[str] = MISSING
    die: Optional[str] = MISSING
    compute_capability: Optional[str] = MISSING  # "8.6"
    vram_gb: Optional[float] = rule(gt=0)
    bandwidth_gbs: Optional[float] = rule(gt=0)
    fp32_tflops: Optional[float] = rule(gt=0)
    tensor_tflops_fp32_acc: Optional[float] = rule(gt=0)
    tensor_tflops_fp16_acc: Optional[float] = rule(gt=0)
    tf32_tflops: Optional[float] = rule(gt=0)
    fp8_tflops: Optional[float] = rule(gt=0)
    bf16: Optional[bool] = MISSING
    tf32: Optional[bool] = MISSING
    fp8: Optional[bool] = MISSING
    fp4: Optional[bool] = MISSING
    tensor_cores: Optional[bool] = MISSING
    tdp_w: Optional[float] = rule(gt=0)
    computed: List[str] = MISSING
    unconfirmed: List[str] = MISSING
    plan_only: bool = MISSING


@dataclass
class Arch:
    family: str = MISSING
    num_layers: int = rule(ge=1)
    hidden_size: int = rule(ge=1)
    vocab_size: int = rule(ge=1)
    num_parameters: int = rule(ge=1)
    num_heads: Optional[int] = rule(None, ge=1)                 # transformers
    intermediate_size: Optional[int] = rule(None, ge=1)
    max_position_embeddings: Optional[int] = rule(None, ge=1)
    config: Optional[Dict[str, Any]] = None                     # family-specific transformers settings
    embedding_dim: Optional[int] = rule(None, ge=1)             # lstm
    dropout: Optional[float] = rule(None, ge=0, lt=1)
    head_modules: Optional[List[str]] = None
    lora_targets: Optional[List[str]] = None


@dataclass
class Model:
    name: str = MISSING
    source: str = rule(choices=("hub", "local", "packaged", "scratch"))
    path: Optional[str] = MISSING
    trust_remote_code: bool = MISSING
    max_seq_len: Any = MISSING                                  # "auto" (preprocess picks it from the data) or >= 8
    lr: float = rule(gt=0)
    epochs: int = rule(ge=1)
    arch: Arch = field(default_factory=Arch)


@dataclass
class Data:
    name: str = MISSING
    source: str = rule(choices=("packaged", "folder", "csv", "jsonl", "parquet", "hf"))
    path: str = MISSING
    text_column: str = MISSING
    label_column: str = MISSING
    watch: str = MISSING
    labels: Optional[List[str]] = MISSING
    truncation_side: str = rule(choices=("left", "right"))
    long_text: str = rule(choices=("truncate", "head_tail", "chunks"))
    max_unknown_share: float = rule(ge=0, le=1)
    max_fragment_share: float = rule(ge=0, le=1)
    max_tokens_per_word: float = rule(gt=0)
    unreadable: str = rule(choices=("stop", "warn"))
    drop_incomplete: bool = MISSING
    val_size: float = rule(gt=0, lt=1)
    test_size: float = rule(gt=0, lt=1)
    split_column: Optional[str] = None                          # files
    text_pair_column: Optional[str] = None                      # pairs of texts: the second text's column
    label_separator: Optional[str] = None                       # task=multi_label, csv: what joins a cell's labels
    allow_empty_labels: Optional[bool] = None                   # task=multi_label: a row with no label is valid
    encoding: Optional[str] = None                              # csv, jsonl, folder, packaged
    fallback_encoding: Optional[str] = None                     # folder, packaged: for files not in `encoding`
    config_name: Optional[str] = None                           # hf
    revision: Optional[str] = None
    split: Optional[str] = None


@dataclass
class Finetune:
    mode: str = rule(choices=("full", "head_only", "lora"))
    lr: float = rule(gt=0)
    epochs: int = rule(ge=1)                                    # train.max_epochs=auto starts from them
    r: Optional[int] = rule(None, ge=1)                         # lora
    alpha: Optional[int] = rule(None, ge=1)
    dropout: Optional[float] = rule(None, ge=0, lt=1)
    targets: Optional[str] = rule(None, choices=("attention", "all_linear"))


@dataclass
class Train:
    max_epochs: Any = MISSING                                   # "auto" (resolve sizes it to the data) or a number >= 1
    global_batch_size: int = rule(ge=1)
    lr: float = rule(gt=0)
    weight_decay: float = rule(ge=0)
    group_by_length: bool = MISSING
    warmup_ratio: float = rule(ge=0, lt=1)
    early_stopping_patience: int = rule(ge=0)
    class_weights: Any = MISSING                                # "auto", "none", "balanced" or a list of weights > 0
    log_every_n_steps: int = rule(ge=1)
    checkpoint_every_n_steps: int = rule(ge=0)                  # 0: no resume checkpoints
    progress_bar: bool = MISSING
    deterministic: Any = rule(choices=("auto", "warn", True, False))
    compile: Any = rule(choices=("auto", True, False))


@dataclass
class Strategy:
    name: str = rule(choices=("auto", "ddp", "fsdp", "deepspeed"))
    devices: Any = MISSING                                      # "auto" or a number >= 1
    num_nodes: int = rule(ge=1)
    sharding: Optional[str] = rule(None, choices=("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD"))  # fsdp
    stage: Optional[int] = rule(None, choices=(1, 2, 3))        # deepspeed


@dataclass
class Tracking:
    uri: str = MISSING
    experiment: str = MISSING
    fallback_local: bool = MISSING
    system_metrics: bool = MISSING


@dataclass
class Pretrain:
    steps: int = rule(ge=0)
    corpus: str = MISSING
    watch: str = MISSING
    batch_size: int = rule(ge=1)
    lr: float = rule(gt=0)
    mlm_probability: float = rule(gt=0, lt=1)


@dataclass
class Gate:
    metric: str = rule(choices=("val/f1", "val/f1_micro", "val/accuracy"))
    threshold: Any = MISSING                                    # "auto" (resolve picks it) or a number in [0, 1]


@dataclass
class Eval:
    gate: Gate = field(default_factory=Gate)
    fail_on_gate: bool = MISSING


@dataclass
class Refine:
    max_rounds: int = rule(ge=0)
    lr_factor: float = rule(gt=0)
    extra_epochs: int = rule(ge=1)


@dataclass
class Export:
    serve_with: str = rule(choices=("onnx", "pytorch"))
    quantize: str = rule(choices=("none", "dynamic_int8"))
    max_quantization_drop: float = rule(ge=0, le=1)


@dataclass
class Registry:
    model_name: Optional[str] = None  # None: text-classifier-<data.name>[-<file name>] (tracking.registry.model_name)
    min_compared_rows: int = rule(ge=1)  # test rows the champion never trained on that a promotion needs


@dataclass
class Params:
    seed: int = rule(ge=0, le=2**32 - 1)  # numpy's seed range
    task: str = rule(choices=("single_label", "multi_label"))
    gpu: Gpu = field(default_factory=Gpu)
    model: Model = field(default_factory=Model)
    data: Data = field(default_factory=Data)
    finetune: Finetune = field(default_factory=Finetune)
    train: Train = field(default_factory=Train)
    strategy: Strategy = field(default_factory=Strategy)
    tracking: Tracking = field(default_factory=Tracking)
    pretrain: Pretrain = field(default_factory=Pretrain)
    eval: Eval = field(default_factory=Eval)
    refine: Refine = field(default_factory=Refine)
    export: Export = field(default_factory=Export)
    registry: Registry = field(default_factory=Registry)


def _fields(cls: type, prefix: str = "") -> dict[str, tuple[Any, dict]]:
    """Every key of the schema, dotted (`train.max_epochs`), with its type and checks."""
    found = {}
    for item, hint in zip(dataclasses.fields(cls), get_type_hints(cls).values()):
        key = f"{prefix}{item.name}"
        found[key] = (hint, dict(item.metadata))
        if dataclasses.is_dataclass(hint):
            found.update(_fields(hint, f"{key}."))
    return found


FIELDS = _fields(Params)
BOUNDS = {"ge": (operator.ge, ">="), "gt": (operator.gt, ">"), "le": (operator.le, "<="), "lt": (operator.lt, "<")}
TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
              List[str]: "a list of strings"}


def validate(cfg: DictConfig, sections: Iterable[str] | None = None, source: str = "params.yaml") -> None:
    """Check `sections` of `cfg` (all when None) against the schema; the first problem is a PipelineError."""
    cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    sections = list(cfg if sections is None else sections)
    typed = OmegaConf.structured(Params)
    for section in sections:
        try:
            typed.merge_with({section: cfg.get(section)})
        except ConfigKeyError as err:
            raise unknown_key(err.full_key, source) from None
        except OmegaConfBaseException as err:
            key = err.full_key or section  # a whole section of the wrong type has no full_key
            raise _type_error(key, OmegaConf.select(cfg, key), source) from None
    missing = sorted(key for key in OmegaConf.missing_keys(typed) if re.split(r"[.\[]", key)[0] in sections)
    if missing:
        raise _missing(missing[0], source)
    for key, (_, checks) in FIELDS.items():
        if key.split(".")[0] in sections:
            check_value(key, OmegaConf.select(typed, key), checks, source)
    for section, check in CROSS_CHECKS.items():
        if section in sections:
            check(typed[section], source)


def check_value(key: str, value: Any, checks: dict, source: str) -> None:
    """The range (`ge`/`gt`/`le`/`lt`) and `choices` checks of one value; None is not checked."""
    if value is None:
        return
    where = f"{source} {key}"
    choices = checks.get("choices")
    if choices and not any(type(value) is type(choice) and value == choice for choice in choices):
        listed = ", ".join(_show(choice, quote=False) for choice in choices)
        raise PipelineError("config-out-of-range", f"{key} is {_show(value)}, not one of the choices", where,
                            f"use one of: {listed}")
    limits = {name: limit for name, limit in checks.items() if name in BOUNDS}
    if not all(BOUNDS[name][0](value, limit) for name, limit in limits.items()):
        allowed = " and ".join(f"{BOUNDS[name][1]} {limit}" for name, limit in limits.items())
        raise PipelineError("config-out-of-range", f"{key} is {_show(value)}, must be {allowed}", where,
                            f"set {key} {allowed}")


def positions(arch: DictConfig) -> int | None:
    """The longest input a model's position embeddings take (RoBERTa-style models spend pad_token_id + 1 of them
    on padding), or None where it has none (the lstm baseline)."""
    if arch.get("max_position_embeddings") is None:
        return None
    padding = arch.config.get("pad_token_id", 1) + 1 if arch.family in ("roberta", "xlm-roberta") and arch.get("config") \
        else 0
    return arch.max_position_embeddings - padding


def _check_sequence_length(model: DictConfig, source: str) -> None:
    _check_auto_or_number("model.max_seq_len", model.max_seq_len, source, "256", low=8)
    limit = positions(model.arch)
    if limit is not None and model.max_seq_len != "auto" and model.max_seq_len > limit:
        raise PipelineError("seq-len-too-long",
                            f"max_seq_len {model.max_seq_len} exceeds {model.name}'s {limit} positions",
                            f"{source} model.max_seq_len", f"set -S model.max_seq_len={limit} or less")


def _check_split_sizes(data: DictConfig, source: str) -> None:
    held_out = data.val_size + data.test_size
    if held_out >= 1:
        raise PipelineError("config-out-of-range",
                            f"data.val_size + data.test_size is {held_out:g}, leaving no training rows",
                            f"{source} data.val_size, data.test_size", "keep their sum below 1, e.g. 0.1 each")


def _check_lora(finetune: DictConfig, source: str) -> None:
    needed = [key for key in ("r", "alpha", "dropout", "targets") if finetune[key] is None]
    if finetune.mode == "lora" and needed:
        raise PipelineError("config-missing-value", f"finetune.mode=lora needs finetune.{needed[0]}",
                            f"{source} finetune.{needed[0]}", "pick the lora option: -S finetune=lora")


def _check_auto_or_number(key: str, value: Any, source: str, example: str, integer: bool = True,
                          low: float = 1, high: float | None = None) -> None:
    """`value` is "auto" or a number (an integer if `integer`) within [low, high]."""
    if value is None:
        raise _missing(key, source)
    kinds = (int,) if integer else (int, float)
    number = type(value) in kinds and value >= low and (high is None or value <= high)
    if value != "auto" and not number:
        bound = f"{'an integer' if integer else 'a number'} >= {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise PipelineError("config-out-of-range", f"{key} is {_show(value)}, must be auto or {bound}", f"{source} {key}",
                            f"set -S {key}=auto or {bound}, e.g. -S {key}={example}")


def _check_strategy(strategy: DictConfig, source: str) -> None:
    _check_auto_or_number("strategy.devices", strategy.devices, source, "2")
    needed = {"fsdp": "sharding", "deepspeed": "stage"}.get(strategy.name)
    if needed and strategy[needed] is None:
        raise PipelineError("config-missing-value", f"strategy.name={strategy.name} needs strategy.{needed}",
                            f"{source} strategy.{needed}", f"pick the option: -S strategy={strategy.name}")


def _check_train(train: DictConfig, source: str) -> None:
    _check_auto_or_number("train.max_epochs", train.max_epochs, source, "3")
    weights = train.class_weights
    if weights in ("auto", "none", "balanced"):
        return
    if not (OmegaConf.is_list(weights) and len(weights) > 0 and
            all(type(w) in (int, float) and w > 0 for w in weights)):
        raise PipelineError("config-out-of-range", f"train.class_weights is {_show(weights)}, not auto, none, balanced or "
                            "a list of weights > 0", f"{source} train.class_weights",
                            "use -S train.class_weights=balanced, or one weight per label: -S 'train.class_weights=[1,4]'")


def _check_gate(evaluation: DictConfig, source: str) -> None:
    _check_auto_or_number("eval.gate.threshold", evaluation.gate.threshold, source, "0.85", integer=False, low=0, high=1)


CROSS_CHECKS = {"model": _check_sequence_length, "data": _check_split_sizes, "finetune": _check_lora,
                "strategy": _check_strategy, "train": _check_train, "eval": _check_gate}


# Keys an earlier version had, and what replaced them (a params.yaml or conf/ file of one's own may still hold them).
REPLACED = {"data.max_tokens_per_character": "data.max_fragment_share and data.max_tokens_per_word (the stop for text "
                                          "the model cannot read counts pieces of characters and tokens a word now)"}


def unknown_key(key: str, source: str) -> PipelineError:
    """A key the config lacks: one replaced since, a typo (the closest known key is the fix), or an optional key its
    conf/ option omits."""
    if key in REPLACED:
        return PipelineError("config-unknown-key", f"{key} is no longer a setting", f"{source} {key}",
                             f"remove it; {REPLACED[key]} replace it (a params.yaml from before: `dvc exp run` "
                             "composes a new one)")
    if key in FIELDS:
        return PipelineError("config-unknown-key", f"{key} is not in the chosen conf/ option", f"{source} {key}",
                             f"add it: -S +{key}=...")
    parent, _, name = key.rpartition(".")
    known = [other.rpartition(".")[2] for other in FIELDS if other.rpartition(".")[0] == parent]
    close = difflib.get_close_matches(name, known, n=1)
    prefix = f"{parent}." if parent else ""
    fix = f"did you mean {prefix}{close[0]}?" if close else f"remove it; the keys there are {', '.join(known)}"
    return PipelineError("config-unknown-key", f"unknown key {key}", f"{source} {key}", fix)


def _type_error(key: str, value: Any, source: str) -> PipelineError:
    if value is None:
        return _missing(key, source)
    expected = _type_name(FIELDS[key][0]) if key in FIELDS else "another type"
    return PipelineError("config-wrong-type", f"{key} is {_show(value)}, expected {expected}", f"{source} {key}",
                         f"set {key} to {expected}")


def _missing(key: str, source: str) -> PipelineError:
    return PipelineError("config-missing-value", f"{key} has no value", f"{source} {key}", f"set it: -S {key}=...")


def _type_name(hint: Any) -> str:
    """'an integer', 'a list of strings', ... for a schema type (Optional[X] reads as X)."""
    if get_origin(hint) is Union:
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    return TYPE_NAMES.get(hint, "a mapping")


def _show(value: Any, quote: bool = True) -> str:
    """A value as YAML spells it: 'abc' (quoted unless `quote` is False), 1.5, true, null, [1, 2]."""
    if isinstance(value, Container):
        value = OmegaConf.to_container(value)
    if isinstance(value, str):
        return f"'{value}'" if quote else value
    return json.dumps(value)
