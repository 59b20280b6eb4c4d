"""Turn the environment, the GPU profile and the config into trainer settings, each with its reason.

Rules (../shared/reference/gpus.md): precision by compute capability (never bf16 below 8.0),
the largest micro batch whose memory estimate fits, accumulation up to the global batch,
activation checkpointing only when nothing fits without it, SDPA attention, torch.compile
off below CC 7.0, opt-in on 7.x, on from 8.0. Several processes (conf/strategy) split the global
batch: each device gets global / (devices x num_nodes) samples per optimizer step, and the memory
estimate counts what the strategy shards.
"""

from __future__ import annotations

import importlib.util
import os

from omegaconf import DictConfig, OmegaConf

from pipeline.core.errors import PipelineError
from pipeline.gpu import memory
from pipeline.gpu.catalog import cc_value, load_catalog


class Decisions:
    """Settings with the reason for each, in the order they were decided."""

    def __init__(self):
        self.settings, self.reasons = {}, {}

    def __call__(self, key, value, reason):
        self.settings[key], self.reasons[key] = value, reason


SINGLE_PROCESS = OmegaConf.create({"name": "auto", "devices": 1, "num_nodes": 1})


def resolve_plan(env: dict, gpu: DictConfig, model: DictConfig, train: DictConfig,
                 finetune: DictConfig | None = None, strategy: DictConfig = SINGLE_PROCESS) -> dict:
    """The plan: target card, settings, reasons and (on a GPU) the memory breakdown per device.

    `finetune` (conf/finetune) changes what memory training needs; None means full fine-tuning.
    `strategy` (conf/strategy) sets how many processes share the global batch and what they shard.
    """
    decide = Decisions()
    card = _choose_target(decide, env, gpu)
    sharding = _plan_processes(decide, env, card, strategy, train.global_batch_size)
    batch = Batch(train.global_batch_size, sharding.processes, decide.settings["devices"])
    breakdown = _plan_gpu(decide, card, model, batch, train, finetune, sharding) if card \
        else _plan_cpu(decide, batch, train)
    return {"target": card["profile"] if card else "cpu", "settings": decide.settings,
            "reasons": decide.reasons, "memory_gib": breakdown}


def _choose_target(decide: Decisions, env: dict, gpu: DictConfig) -> dict | None:
    """The card to plan for, or None for the CPU."""
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
    found = "no NVIDIA GPU found"
    if env["gpus"] and env["cuda_device_0"]["index"] is None:
        found = env["cuda_device_0"]["why"]  # CUDA_VISIBLE_DEVICES hides them all
    elif env["gpus"]:
        found = f"NVML lists {len(env['gpus'])} GPU(s) but torch cannot use them"
    decide("accelerator", "cpu", f"gpu=auto and {found}: training on the CPU")
    return None


class Batch:
    """The global batch (samples per optimizer step) and each process's share of it."""

    def __init__(self, global_size: int, processes: int, processes_per_node: int):
        self.global_size, self.processes, self.processes_per_node = global_size, processes, processes_per_node
        self.per_device = global_size // processes

    def split(self) -> str:
        if self.processes == 1:
            return f"the global batch {self.global_size}"
        return f"the per-device batch {self.per_device} (global batch {self.global_size} / {self.processes} processes)"


def _plan_processes(decide: Decisions, env: dict, card: dict | None, strategy: DictConfig,
                    global_batch: int) -> memory.Sharding:
    """Strategy, devices and nodes; what the strategy shards across its processes."""
    devices, why = strategy.devices, f"strategy.devices={strategy.devices}"
    if devices == "auto":
        count = env["torch"].get("device_count", 0)
        if card is None:
            devices, why = 1, "strategy.devices=auto on the CPU: one process (a number starts that many gloo processes)"
        elif count:
            devices, why = count, f"strategy.devices=auto: the {count} GPU(s) torch sees"
        else:
            devices, why = 1, "strategy.devices=auto, planned without the machine: one GPU (set a number to plan several)"
    processes = devices * strategy.num_nodes
    name = strategy.name
    if name == "auto":
        name = "ddp" if processes > 1 else "auto"
        reason = "strategy=auto with several processes: data parallel (DDP)" if processes > 1 \
            else "one process on one device (strategy=auto)"
    else:
        reason = {"ddp": "one process per device, each with the whole model; gradients averaged (DDP)",
                  "fsdp": "fully sharded data parallel: weights, gradients and states split across the processes",
                  "deepspeed": "DeepSpeed ZeRO: training state split across the processes"}[name]
        if card is None and name == "deepspeed":
            raise PipelineError("plan-strategy-unsupported", "strategy=deepspeed needs CUDA GPUs; this plan is for the CPU",
                                "params.yaml strategy.name", "use -S strategy=ddp or fsdp (gloo) on the CPU, or plan for a GPU")
        if name == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
            raise PipelineError("plan-strategy-unsupported", "strategy=deepspeed but the deepspeed package is not installed",
                                "params.yaml strategy.name", "`.venv/bin/uv pip install deepspeed`, or use -S strategy=fsdp")
        if processes == 1:
            reason += " (one process: nothing to split)"
    if global_batch % processes:
        raise PipelineError("plan-batch-indivisible", f"train.global_batch_size {global_batch} does not split evenly "
                            f"over {processes} processes ({devices} device(s) x {strategy.num_nodes} node(s))",
                            "params.yaml train.global_batch_size, strategy.devices",
                            f"set -S train.global_batch_size to a multiple of {processes}")
    decide("strategy", name, reason)
    decide("devices", devices, why)
    decide("num_nodes", strategy.num_nodes, f"strategy.num_nodes={strategy.num_nodes}: {processes} process(es) in all")
    if name == "fsdp":
        decide("fsdp_sharding", strategy.sharding, "strategy.sharding; each transformer layer is one FSDP unit")
    if name == "deepspeed":
        decide("zero_stage", strategy.stage, "strategy.stage")
    return memory.strategy_sharding(name, processes, strategy.get("sharding"), strategy.get("stage"))


def processes(settings: dict) -> int:
    """How many processes a plan's settings train with: devices per node x nodes."""
    return settings["devices"] * settings["num_nodes"]


def _plan_cpu(decide: Decisions, batch: Batch, train: DictConfig) -> None:
    decide("precision", "32-true", "CPU: mixed precision brings no reliable speed-up there and changes numerics")
    decide("matmul_precision", "highest", "CPU: full fp32 matmuls")
    decide("attention", "sdpa", "PyTorch scaled_dot_product_attention: fused kernels where the device has them, math otherwise")
    decide("micro_batch_size", batch.per_device, f"CPU RAM holds the whole batch: the micro batch is {batch.split()}")
    decide("accumulate_grad_batches", 1, f"the micro batch is {batch.split()}")
    decide("gradient_checkpointing", False, "CPU: memory is not the constraint")
    compile_on = train.compile is True
    decide("compile", compile_on, "train.compile=true was requested" if compile_on else
           "CPU: compiling costs minutes of warm-up that short CPU runs do not win back (train.compile=true forces it)")
    decide("num_workers", 0, "CPU: data is pre-tokenized in memory, so extra worker processes "
                             "would only compete with training for the same cores")
    _choose_deterministic(decide, train.deterministic, True, "CPU: fully deterministic, so a re-run reproduces the metrics")


def _plan_gpu(decide: Decisions, card: dict, model: DictConfig, batch: Batch, train: DictConfig,
              finetune: DictConfig | None, sharding: memory.Sharding) -> dict:
    cc = cc_value(card["compute_capability"])
    precision, reason = choose_precision(card)
    decide("precision", precision, reason)
    if cc >= 8.0:
        decide("matmul_precision", "high", "TF32 tensor cores for the fp32 matmuls (CC >= 8.0)")
    else:
        decide("matmul_precision", "highest", f"no TF32 below CC 8.0 (this card: {cc})")
    kernel, reason = sdpa_kernel(cc, precision)
    decide("attention", "sdpa", f"scaled_dot_product_attention; expected kernel {kernel}: {reason}")
    micro, checkpointing, breakdown = fit_micro_batch(card, model, batch.per_device, precision,
                                                      _attention_for_memory(kernel), finetune, sharding)
    usable = memory.usable_gib(card["vram_gb"])
    decide("micro_batch_size", micro,
           f"largest divisor of {batch.split()} whose estimate "
           f"({breakdown['total']} GiB) fits in {usable:.1f} GiB ({card['vram_gb']} GB less {memory.MARGIN:.0%} margin)")
    decide("accumulate_grad_batches", batch.per_device // micro,
           f"{batch.per_device} samples per device and optimizer step / micro batch {micro}")
    decide("gradient_checkpointing", checkpointing,
           "micro batch 1 does not fit without it: recompute activations in the backward pass" if checkpointing
           else "the micro batch fits without recomputation, which would cost ~30 % speed")
    _choose_compile(decide, cc, train.compile)
    per_process = max(1, (os.cpu_count() or 2) // batch.processes_per_node)
    decide("num_workers", max(1, min(4, per_process - 1)),
           f"GPU: worker processes collate the next batches while the GPU computes ({per_process} CPU core(s) "
           f"per training process here)")
    _choose_deterministic(decide, train.deterministic, "warn",
                          "GPU: deterministic kernels where they exist, a warning where not")
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


def fit_micro_batch(card: dict, model: DictConfig, batch: int, precision: str, attention: str,
                    finetune: DictConfig | None = None,
                    sharding: memory.Sharding = memory.SINGLE) -> tuple[int, bool, dict]:
    """(micro batch, checkpointing, estimate): the largest divisor of a device's `batch` that fits,
    checkpointing only if needed."""
    usable = memory.usable_gib(card["vram_gb"])
    divisors = [n for n in range(batch, 0, -1) if batch % n == 0]
    for checkpointing in (False, True) if model.arch.family != "lstm" else (False,):
        for micro in divisors:
            breakdown = memory.estimate(model.arch, model.max_seq_len, micro, precision, attention, checkpointing,
                                        finetune, sharding)
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
        f"shorten sequences (-S model.max_seq_len=...), train fewer parameters (LoRA), shard over several GPUs "
        f"(-S strategy=fsdp), or use a card that fits: {cards}")


CPU_COST = ("the CPU trains any length, the longer the slower: MiniLM on BBC News took 2.0x the time at 256 tokens "
            "and 6.7x at 512 as at 128, docs/benchmarks.md; set a number to read less, faster")


def affordable_length(env: dict, gpu: DictConfig, model: DictConfig, global_batch: int, finetune: DictConfig,
                      strategy: DictConfig, wanted: int, step: int) -> tuple[int, str]:
    """(length, reason): `wanted` (model.max_seq_len=auto's choice from the data), or shorter, in steps of `step`:
    on the CPU `wanted` (there is no card memory to fit; the reason says what length costs in time); on a GPU the
    longest whose plan fits the card without activation checkpointing (which would cost about a third more time).
    Of the train settings only the global batch sizes the memory."""
    card = _choose_target(Decisions(), env, gpu)
    train = OmegaConf.create({"global_batch_size": global_batch, "compile": False, "deterministic": "auto"})
    if card is None:
        return wanted, CPU_COST
    for length in range(wanted, step - 1, -step):
        try:
            plan = resolve_plan(env, gpu, OmegaConf.merge(model, {"max_seq_len": length}), train, finetune, strategy)
        except PipelineError:  # does not fit even with checkpointing
            continue
        if not plan["settings"]["gradient_checkpointing"]:
            micro = plan["settings"]["micro_batch_size"]
            fits = f"{card['name']} fits micro batch {micro} at {length} without activation checkpointing"
            return length, fits if length == wanted else f"{fits}; {wanted} would need it"
    return step, f"{card['name']} needs activation checkpointing at every length down to {step}"


def _choose_deterministic(decide: Decisions, requested, default, reason: str) -> None:
    if requested == "auto":
        decide("deterministic", default, f"{reason} (train.deterministic=auto)")
    else:
        decide("deterministic", requested, f"train.deterministic={str(requested).lower()} was requested")


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
