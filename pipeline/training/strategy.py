"""Several processes: the Lightning strategy a plan names, which process writes, and the launcher check.

One machine: Lightning starts the other processes itself (it re-runs `python -m pipeline.stages.train`
with LOCAL_RANK set), so every process runs the stage from the top. torchrun and SLURM start them
instead; Lightning reads their environment. Every process trains; only the main one (global rank 0)
writes files and talks to MLflow. FSDP checkpoints hold the full weights: every process takes part in
gathering them, the main one writes the file.
"""

from __future__ import annotations

import os

import torch
from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment
from lightning.pytorch.strategies import FSDPStrategy, Strategy
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.distributed.fsdp import FullStateDictConfig, FullyShardedDataParallel, StateDictType

from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.gpu.policy import processes


def is_main_process() -> bool:
    """True in the only process, or in global rank 0 of several (the rank torchrun, SLURM or Lightning set)."""
    return rank_zero_only.rank == 0


def lightning_strategy(settings: dict, model) -> str | Strategy:
    """The Trainer's `strategy` for the plan's settings: each transformer layer is one FSDP unit."""
    name = settings["strategy"]
    if name == "fsdp":
        base = model.get_base_model() if hasattr(model, "get_base_model") else model  # LoRA: the wrapped model
        layer_names = set(getattr(base, "_no_split_modules", None) or ())
        layers = {type(module) for module in base.modules() if type(module).__name__ in layer_names}
        fsdp = CPUFSDPStrategy if settings["accelerator"] == "cpu" else FSDPStrategy
        return fsdp(sharding_strategy=settings["fsdp_sharding"], auto_wrap_policy=layers or None,
                    state_dict_type="full", use_orig_params=True)  # frozen and trained weights may share a unit
    if name == "deepspeed":
        return f"deepspeed_stage_{settings['zero_stage']}"
    return name  # auto, ddp


class CPUFSDPStrategy(FSDPStrategy):
    """FSDP on CPU processes (gloo), to run the sharded path without GPUs.

    Lightning 2.6 refuses the class FSDPStrategy itself with accelerator="cpu" (not a subclass), and two of its
    steps fail there, both fixed on Lightning's master: it passes FSDP no device (torch: "FSDP needs a non-CPU
    accelerator device"), and it gathers the full weights with offload_to_cpu=True, which crashes (SIGSEGV)
    when the shards already are on the CPU (Lightning issue #21804).
    """

    def _setup_model(self, model: torch.nn.Module) -> FullyShardedDataParallel:
        return FullyShardedDataParallel(model, device_id=self.root_device, sharding_strategy=self.sharding_strategy,
                                        cpu_offload=self.cpu_offload, mixed_precision=self.mixed_precision_config,
                                        **self.kwargs)

    def lightning_module_state_dict(self) -> dict:
        full = FullStateDictConfig(offload_to_cpu=False, rank0_only=True)  # every process gathers, rank 0 keeps
        with FullyShardedDataParallel.state_dict_type(self.model, StateDictType.FULL_STATE_DICT, full):
            return self.model.state_dict()


def check_launcher(settings: dict) -> None:
    """Under torchrun or SLURM, the processes they started must be the ones the plan split the batch over."""
    if TorchElasticEnvironment.detect():
        started, launcher = int(os.environ["WORLD_SIZE"]), "torchrun"
    elif SLURMEnvironment.detect():
        started, launcher = int(os.environ["SLURM_NTASKS"]), "SLURM"
    else:
        return
    planned = processes(settings)
    if started != planned:
        raise PipelineError("train-launcher-mismatch",
                            f"{launcher} started {started} process(es) but the plan splits the batch over {planned} "
                            f"({settings['devices']} device(s) x {settings['num_nodes']} node(s))", str(paths.PLAN),
                            f"run `dvc repro resolve` with -S strategy.devices=<processes per node> "
                            f"-S strategy.num_nodes=<nodes> matching the launcher, or start {planned} process(es)")
