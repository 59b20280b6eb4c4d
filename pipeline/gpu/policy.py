"""Turn the environment report and the config into concrete trainer settings, each with its reason."""

from __future__ import annotations

import math
import os

from omegaconf import DictConfig

from pipeline.errors import PipelineError


def resolve_plan(env: dict, gpu: DictConfig, train: DictConfig) -> dict:
    """Settings for the train stage plus a one-sentence reason for every one of them."""
    decide = _Decisions()
    on_gpu = _choose_device(decide, env, gpu)
    if on_gpu:
        _choose_gpu_precision(decide, env["gpus"][0] if env["gpus"] else None)
    else:
        decide("precision", "32-true",
               "CPU: mixed precision brings no reliable speed-up there and changes numerics")
        decide("matmul_precision", "highest", "CPU: full fp32 matmuls")
    _choose_batching(decide, train.global_batch_size, on_gpu)
    if on_gpu:
        workers = max(1, min(4, (os.cpu_count() or 2) - 1))
        decide("num_workers", workers, "GPU: worker processes collate the next batches while the GPU computes")
    else:
        decide("num_workers", 0, "CPU: data is pre-tokenized in memory, so extra worker processes "
                                 "would only compete with training for the same cores")
    if on_gpu:
        decide("deterministic", "warn", "GPU: deterministic kernels where they exist, a warning where not")
    else:
        decide("deterministic", True, "CPU: fully deterministic, so a re-run reproduces the metrics")
    return decide.plan()


class _Decisions:
    def __init__(self):
        self.settings, self.reasons = {}, {}

    def __call__(self, key, value, reason):
        self.settings[key], self.reasons[key] = value, reason

    def plan(self) -> dict:
        return {"settings": self.settings, "reasons": self.reasons}


def _choose_device(decide: _Decisions, env: dict, gpu: DictConfig) -> bool:
    cuda = env["torch"]["cuda_available"]
    if gpu.profile == "cpu":
        decide("accelerator", "cpu", "gpu=cpu was requested")
        on_gpu = False
    elif cuda:
        name = env["gpus"][0]["name"] if env["gpus"] else "a CUDA device"
        decide("accelerator", "gpu", f"torch sees {name} (CUDA {env['torch']['cuda_build']})")
        on_gpu = True
    else:
        found = f"NVML lists {len(env['gpus'])} GPU(s) but torch cannot use them" if env["gpus"] \
            else "no NVIDIA GPU found"
        decide("accelerator", "cpu", f"gpu=auto and {found}: training on the CPU")
        on_gpu = False
    decide("devices", 1, "one device per run")
    return on_gpu


def _choose_gpu_precision(decide: _Decisions, card: dict | None) -> None:
    major, minor = map(int, (card or {}).get("compute_capability", "0.0").split("."))
    cc = major + minor / 10
    if cc >= 8.0:
        decide("precision", "bf16-mixed", f"compute capability {cc} has bf16 tensor cores: no grad scaler needed")
        decide("matmul_precision", "high", "TF32 matmuls for the fp32 parts (CC >= 8.0)")
    elif cc >= 7.0:
        decide("precision", "16-mixed", f"compute capability {cc} has fp16 tensor cores but no bf16")
        decide("matmul_precision", "highest", "no TF32 below CC 8.0")
    else:
        decide("precision", "32-true", f"compute capability {cc} has no tensor cores: AMP would not speed up")
        decide("matmul_precision", "highest", "no TF32 below CC 8.0")


def _choose_batching(decide: _Decisions, global_batch: int, on_gpu: bool) -> None:
    if global_batch < 1:
        raise PipelineError(f"train.global_batch_size is {global_batch}", "params.yaml, train.global_batch_size",
                            "set a positive batch size, e.g. -S train.global_batch_size=16")
    micro = global_batch
    where = "GPU memory is not estimated yet" if on_gpu else "CPU RAM holds the whole batch"
    decide("micro_batch_size", micro, f"{where}: the micro batch is the global batch {global_batch}")
    decide("accumulate_grad_batches", math.ceil(global_batch / micro),
           f"{global_batch} samples per optimizer step / micro batch {micro}")
