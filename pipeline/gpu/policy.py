"""Turn the environment, the GPU profile and the config into trainer settings, each with its reason.

Rules (../shared/reference/gpus.md): precision by compute capability (never bf16 below 8.0),
the largest micro batch whose memory estimate fits, accumulation up to the global batch,
activation checkpointing only when nothing fits without it, SDPA attention, torch.compile
off below CC 7.0, opt-in on 7.x, on from 8.0.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig, OmegaConf

from pipeline.errors import PipelineError
from pipeline.gpu import memory
from pipeline.gpu.catalog import cc_value, load_catalog


class Decisions:
    """Settings with the reason for each, in the order they were decided."""

    def __init__(self):
        self.settings, self.reasons = {}, {}

    def __call__(self, key, value, reason):
        self.settings[key], self.reasons[key] = value, reason


def resolve_plan(env: dict, gpu: DictConfig, model: DictConfig, train: DictConfig,
                 finetune: DictConfig | None = None) -> dict:
    """The plan: target card, settings, reasons and (on a GPU) the memory breakdown.

    `finetune` (conf/finetune) changes what memory training needs; None means full fine-tuning.
    """
    decide = Decisions()
    card = _choose_target(decide, env, gpu)
    breakdown = _plan_gpu(decide, card, model, train, finetune) if card else _plan_cpu(decide, train)
    return {"target": card["profile"] if card else "cpu", "settings": decide.settings,
            "reasons": decide.reasons, "memory_gib": breakdown}


def _choose_target(decide: Decisions, env: dict, gpu: DictConfig) -> dict | None:
    """The card to plan for, or None for the CPU."""
    decide("devices", 1, "one device per run")
    cuda = env["torch"]["cuda_available"]
    if gpu.profile == "cpu":
        decide("accelerator", "cpu", "gpu=cpu was requested")
        return None
    if gpu.profile != "auto":
        how = "plan only: this machine need not have it" if gpu.plan_only else "validate_env found this card"
        decide("accelerator", "gpu", f"gpu={gpu.profile} ({gpu.name}); {how}")
        return OmegaConf.to_container(gpu, resolve=True)
    if cuda and env.get("gpu_profile"):
        card = env["gpu_profile"]
        decide("accelerator", "gpu", f"torch sees {card['name']} (CUDA {env['torch']['cuda_build']}), "
                                     f"profile {card['profile']}")
        return card
    found = f"NVML lists {len(env['gpus'])} GPU(s) but torch cannot use them" if env["gpus"] \
        else "no NVIDIA GPU found"
    decide("accelerator", "cpu", f"gpu=auto and {found}: training on the CPU")
    return None


def _plan_cpu(decide: Decisions, train: DictConfig) -> None:
    decide("precision", "32-true", "CPU: mixed precision brings no reliable speed-up there and changes numerics")
    decide("matmul_precision", "highest", "CPU: full fp32 matmuls")
    decide("attention", "sdpa", "PyTorch scaled_dot_product_attention: fused kernels where the device has them, math otherwise")
    decide("micro_batch_size", train.global_batch_size,
           f"CPU RAM holds the whole batch: the micro batch is the global batch {train.global_batch_size}")
    decide("accumulate_grad_batches", 1, "the micro batch is the global batch")
    decide("gradient_checkpointing", False, "CPU: memory is not the constraint")
    compile_on = train.compile is True
    decide("compile", compile_on, "train.compile=true was requested" if compile_on else
           "CPU: compiling costs minutes of warm-up that short CPU runs do not win back (train.compile=true forces it)")
    decide("num_workers", 0, "CPU: data is pre-tokenized in memory, so extra worker processes "
                             "would only compete with training for the same cores")
    decide("deterministic", True, "CPU: fully deterministic, so a re-run reproduces the metrics")


def _plan_gpu(decide: Decisions, card: dict, model: DictConfig, train: DictConfig,
              finetune: DictConfig | None) -> dict:
    cc = cc_value(card["compute_capability"])
    precision, reason = choose_precision(card)
    decide("precision", precision, reason)
    if cc >= 8.0:
        decide("matmul_precision", "high", "TF32 tensor cores for the fp32 matmuls (CC >= 8.0)")
    else:
        decide("matmul_precision", "highest", f"no TF32 below CC 8.0 (this card: {cc})")
    kernel, reason = sdpa_kernel(cc, precision)
    decide("attention", "sdpa", f"scaled_dot_product_attention; expected kernel {kernel}: {reason}")
    micro, checkpointing, breakdown = fit_micro_batch(card, model, train.global_batch_size, precision,
                                                      _attention_for_memory(kernel), finetune)
    usable = memory.usable_gib(card["vram_gb"])
    decide("micro_batch_size", micro,
           f"largest divisor of the global batch {train.global_batch_size} whose estimate "
           f"({breakdown['total']} GiB) fits in {usable:.1f} GiB ({card['vram_gb']} GB less {memory.MARGIN:.0%} margin)")
    decide("accumulate_grad_batches", train.global_batch_size // micro,
           f"{train.global_batch_size} samples per optimizer step / micro batch {micro}")
    decide("gradient_checkpointing", checkpointing,
           "micro batch 1 does not fit without it: recompute activations in the backward pass" if checkpointing
           else "the micro batch fits without recomputation, which would cost ~30 % speed")
    _choose_compile(decide, cc, train.compile)
    workers = max(1, min(4, (os.cpu_count() or 2) - 1))
    decide("num_workers", workers, "GPU: worker processes collate the next batches while the GPU computes")
    decide("deterministic", "warn", "GPU: deterministic kernels where they exist, a warning where not")
    return breakdown


def choose_precision(card: dict) -> tuple[str, str]:
    """Lightning precision for a card: Pascal 32-true, Volta/Turing 16-mixed, Ampere+ bf16-mixed."""
    cc = cc_value(card["compute_capability"])
    if cc >= 8.0 and card["bf16"]:
        return "bf16-mixed", f"CC {cc} has bf16 tensor cores: fp16's range problems and grad scaler avoided"
    if cc >= 7.0:
        return "16-mixed", f"CC {cc} has fp16 tensor cores but no bf16: AMP with a grad scaler"
    return "32-true", f"CC {cc} has no tensor cores: AMP would save memory but bring no speed-up"


def sdpa_kernel(cc: float, precision: str) -> tuple[str, str]:
    if cc >= 8.0 and precision != "32-true":
        return "flash", "CC >= 8.0 with 16-bit activations"
    if cc >= 5.0:
        return "memory_efficient", "flash needs CC >= 8.0 and fp16/bf16; memory-efficient works from CC 5.0"
    return "math", "no fused kernel for this card"


def _attention_for_memory(kernel: str) -> str:
    return "eager" if kernel == "math" else "sdpa"


def fit_micro_batch(card: dict, model: DictConfig, global_batch: int, precision: str,
                    attention: str, finetune: DictConfig | None = None) -> tuple[int, bool, dict]:
    """(micro batch, checkpointing, estimate): the largest divisor that fits, checkpointing only if needed."""
    usable = memory.usable_gib(card["vram_gb"])
    divisors = [n for n in range(global_batch, 0, -1) if global_batch % n == 0]
    for checkpointing in (False, True) if model.arch.family != "lstm" else (False,):
        for micro in divisors:
            breakdown = memory.estimate(model.arch, model.max_seq_len, micro, precision, attention, checkpointing,
                                        finetune)
            if breakdown["total"] <= usable:
                return micro, checkpointing, breakdown
    raise _does_not_fit(card, model, breakdown, usable, finetune)


def fits_at_all(card: dict, model: DictConfig, finetune: DictConfig | None = None) -> bool:
    """Whether micro batch 1 with checkpointing fits this card (used to suggest cards)."""
    precision, _ = choose_precision(card)
    kernel, _ = sdpa_kernel(cc_value(card["compute_capability"]), precision)
    need = memory.estimate(model.arch, model.max_seq_len, 1, precision, _attention_for_memory(kernel), True,
                           finetune)
    return need["total"] <= memory.usable_gib(card["vram_gb"])


def _does_not_fit(card: dict, model: DictConfig, breakdown: dict, usable: float,
                  finetune: DictConfig | None) -> PipelineError:
    fitting = [key for key, other in load_catalog().items() if fits_at_all(other, model, finetune)]
    cards = ", ".join(fitting) if fitting else "none in the catalog"
    return PipelineError(
        "plan-does-not-fit", f"{model.name} at max_seq_len {model.max_seq_len} needs {breakdown['total']} GiB even at micro batch 1 "
        f"with activation checkpointing; {card['name']} has {usable:.1f} GiB usable",
        "params.yaml gpu/model/train",
        f"shorten sequences (-S model.max_seq_len=...), train fewer parameters (LoRA), or use a card that fits: {cards}")


def _choose_compile(decide: Decisions, cc: float, requested) -> None:
    if cc < 7.0:
        decide("compile", False, f"Triton (torch.compile) refuses CC {cc} < 7.0")
    elif cc < 8.0:
        on = requested is True
        decide("compile", on, "CC 7.x: compile works but is less reliable; on because train.compile=true" if on
               else "CC 7.x: opt-in only (set train.compile=true)")
    else:
        on = requested is not False
        decide("compile", on, "CC >= 8.0: Inductor kernels are reliable and faster" if on
               else "train.compile=false was requested")
