"""Training-memory estimate per GPU (../shared/reference/gpus.md, "Training memory").

- weights + gradients + AdamW states: 16 bytes/parameter with fp32 master weights
  (32-true and the *-mixed precisions), 8 in pure bf16/fp16 (`*-true` 16-bit).
- activations per layer (Korthikanti et al. 2022), s = sequence, b = micro batch,
  h = hidden, a = heads, for 16-bit activations: eager attention s*b*h*(34 + 5*a*s/h);
  flash / memory-efficient SDPA 34*s*b*h; full checkpointing 2*s*b*h per layer plus one
  layer recomputed. fp32 activations (32-true) take twice that.
- CUDA context 0.4 GiB; a 12 % margin of the card is kept free.
- Fine-tuning modes: every weight is held, but gradients and AdamW states only for the trained
  ones (LoRA: 2*r*hidden per adapted matrix per layer; the head: about hidden*(hidden+2)). A
  frozen encoder (head_only) runs without storing activations: one layer's working set is counted.
  LoRA with dropout keeps each adapted layer's input once more, dropped out, with its mask, for its
  adapters' backward: s*b*(h per adapted attention projection or FFN input, i for the FFN output) elements
  per layer, at the activations' width plus a mask byte. Without dropout the adapters read the input the
  frozen layer already holds: LoRA then stores what full fine-tuning does.
- LSTM baseline: about 12*s*b*h bytes of 16-bit activations per layer (gates, cell and output states).
- Several processes (conf/strategy): DDP keeps a second copy of the gradients in its communication
  buckets. FSDP and DeepSpeed ZeRO divide the parts they shard by the number of processes; FSDP
  FULL_SHARD and ZeRO-3 also gather one layer's whole weights and gradients at a time. Activations
  are never sharded: each process holds those of its own micro batch.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

GIB = 2**30
CUDA_CONTEXT_GIB = 0.4
MARGIN = 0.12
HEAD_LABELS = 16  # the trained head is counted with a classifier this wide: more labels add a rounding error


@dataclass(frozen=True)
class Sharding:
    """How a strategy spreads training state over `processes`: the parts it divides among them, whether
    it gathers one layer's whole weights at a time, and whether it keeps DDP's gradient buckets."""

    processes: int = 1
    sharded: tuple[str, ...] = ()
    gathers_layer: bool = False
    gradient_buckets: bool = False


SINGLE = Sharding()


def strategy_sharding(name: str, processes: int, fsdp_sharding: str | None = None,
                      zero_stage: int | None = None) -> Sharding:
    """The Sharding of a conf/strategy option run on `processes` processes."""
    if processes == 1:
        return SINGLE
    if name == "fsdp":
        sharded = {"FULL_SHARD": ("weights", "gradients", "optimizer_states"),
                   "SHARD_GRAD_OP": ("gradients", "optimizer_states"), "NO_SHARD": ()}[fsdp_sharding]
        return Sharding(processes, sharded, gathers_layer=fsdp_sharding == "FULL_SHARD")
    if name == "deepspeed":
        sharded = ("optimizer_states", "gradients", "weights")[:zero_stage]
        return Sharding(processes, sharded, gathers_layer=zero_stage == 3)
    return Sharding(processes, gradient_buckets=True)


def state_bytes_per_param(precision: str) -> int:
    return 8 if precision in ("bf16-true", "16-true") else 16


def activation_scale(precision: str) -> int:
    """fp32 activations (32-true) take twice the bytes of 16-bit ones, which every activation figure counts."""
    return 2 if precision == "32-true" else 1


def activation_bytes_per_layer(arch: DictConfig, seq_len: int, micro_batch: int, attention: str,
                               precision: str) -> float:
    """One layer's stored activations for the backward pass."""
    s, b, h = seq_len, micro_batch, arch.hidden_size
    if arch.family == "lstm":
        per_layer = 12 * s * b * h
    elif attention == "eager":
        per_layer = s * b * h * (34 + 5 * arch.num_heads * s / h)
    else:
        per_layer = 34 * s * b * h
    return per_layer * activation_scale(precision)


def lora_matrices(arch: DictConfig, finetune: DictConfig) -> list[tuple[int, int]]:
    """(input, output) width of each matrix LoRA adapts in one layer: every linear layer (q, k, v and attention out
    h x h, FFN in h x i, FFN out i x h) or the attention projections model.arch.lora_targets names."""
    h = arch.hidden_size
    if finetune.get("targets") == "all_linear":
        intermediate = arch.get("intermediate_size") or 4 * h
        return [(h, h)] * 4 + [(h, intermediate), (intermediate, h)]
    return [(h, h)] * len(arch.get("lora_targets") or [])


def lora_dropout_bytes_per_layer(arch: DictConfig, finetune: DictConfig | None, seq_len: int, micro_batch: int,
                                 precision: str) -> float:
    """What LoRA's dropout adds to one layer's stored activations (0 in other modes and without dropout)."""
    if finetune is None or finetune.mode != "lora" or not finetune.get("dropout"):
        return 0.0
    width = sum(inputs for inputs, _ in lora_matrices(arch, finetune))
    return seq_len * micro_batch * width * (2 * activation_scale(precision) + 1)  # the copy and a mask byte


def trainable_parameters(arch: DictConfig, finetune: DictConfig | None) -> int:
    """About how many parameters a fine-tuning mode trains (all of them when `finetune` is None)."""
    mode = finetune.mode if finetune is not None else "full"
    head = (arch.hidden_size + 1) * (arch.hidden_size + HEAD_LABELS)  # a dense h x h layer and the classifier
    if mode == "head_only":
        return head
    if mode == "lora":  # A is r x input, B output x r
        adapters = finetune.r * sum(inputs + outputs for inputs, outputs in lora_matrices(arch, finetune))
        return adapters * arch.num_layers + head
    return arch.num_parameters


def estimate(arch: DictConfig, seq_len: int, micro_batch: int, precision: str, attention: str,
             checkpointing: bool, finetune: DictConfig | None = None,
             sharding: Sharding = SINGLE) -> dict[str, float]:
    """Peak training memory per device in GiB, by part; `total` includes the CUDA context."""
    params, trained = arch.num_parameters, trainable_parameters(arch, finetune)
    full_layer = (activation_bytes_per_layer(arch, seq_len, micro_batch, attention, precision)
                  + lora_dropout_bytes_per_layer(arch, finetune, seq_len, micro_batch, precision))
    if finetune is not None and finetune.mode == "head_only":
        activations = full_layer
    elif checkpointing:
        checkpoints = 2 * seq_len * micro_batch * arch.hidden_size * activation_scale(precision)
        activations = arch.num_layers * checkpoints + full_layer
    else:
        activations = arch.num_layers * full_layer
    state = state_bytes_per_param(precision)
    parts = {
        "weights": params * (4 if state == 16 else 2) / GIB,
        "gradients": trained * (4 if state == 16 else 2) / GIB,
        "optimizer_states": trained * 8 / GIB if state == 16 else trained * 4 / GIB,
        "activations": activations / GIB,
        "cuda_context": CUDA_CONTEXT_GIB,
    }
    weight_bytes, gradient_bytes = parts["weights"], parts["gradients"]
    for part in sharding.sharded:
        parts[part] /= sharding.processes
    if sharding.gathers_layer:
        parts["gathered_layer"] = (weight_bytes + gradient_bytes) / arch.num_layers
    if sharding.gradient_buckets:
        parts["gradient_buckets"] = gradient_bytes
    parts["total"] = sum(parts.values())
    return {key: round(value, 3) for key, value in parts.items()}


def usable_gib(vram_gb: float) -> float:
    """What a plan may fill: the card's memory less the safety margin."""
    return vram_gb * (1 - MARGIN)
