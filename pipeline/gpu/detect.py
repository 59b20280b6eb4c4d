"""What hardware and software this machine has, from NVML and torch.

No GPU is a normal answer: NVML raises NVMLError_LibraryNotFound (or finds no
device) and torch reports CUDA unavailable; both become an empty GPU list.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

from pipeline.gpu.catalog import derived_profile, match_profile
from pipeline.gpu.visible import cuda_device_0, mig_instance, pci_bus_id

# The parts of an environment report the planner reads, for a machine without a usable GPU: how plan and
# advise plan for a card this machine lacks.
NO_GPU = {"torch": {"cuda_available": False, "cuda_build": None}, "gpus": [], "gpu_profile": None}
PACKAGES = ("torch", "lightning", "transformers", "datasets", "tokenizers",
            "torchmetrics", "mlflow", "dvc", "hydra-core", "nvidia-ml-py")


def package_versions() -> dict[str, str | None]:
    """Installed versions of the stack, read from package metadata (no heavy imports)."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


@contextmanager
def nvml() -> Iterator[ModuleType | None]:
    """pynvml, initialised for the block and shut down after it; None where NVML is absent (no driver)."""
    import pynvml

    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        yield None
        return
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def nvml_gpus() -> tuple[str | None, list[dict]]:
    """Driver version and one dict per GPU from NVML; (None, []) when NVML is absent."""
    with nvml() as pynvml:
        if pynvml is None:
            return None, []
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            pci = pynvml.nvmlDeviceGetPciInfo(handle)
            gpus.append({
                "index": index,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "compute_capability": f"{major}.{minor}",
                "memory_total_gib": round(memory.total / 2**30, 1),
                "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
                "pci_bus_id": pci_bus_id(pci.domain, pci.bus, pci.device),
                "mig": _mig_instances(pynvml, handle),
            })
        return _text(pynvml.nvmlSystemGetDriverVersion()), gpus


def _mig_instances(pynvml: ModuleType, handle) -> list[dict]:
    """A GPU's MIG instances, {uuid (CUDA_VISIBLE_DEVICES may name one), memory_total_gib}; [] where MIG is off or
    unsupported."""
    try:
        enabled = pynvml.nvmlDeviceGetMigMode(handle)[0] == pynvml.NVML_DEVICE_MIG_ENABLE
    except pynvml.NVMLError:  # NotSupported: a card without MIG
        return []
    instances = []
    for slot in range(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle) if enabled else 0):
        try:
            instance = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, slot)
        except pynvml.NVMLError:  # NotFound: an empty slot
            continue
        instances.append({"uuid": _text(pynvml.nvmlDeviceGetUUID(instance)),
                          "memory_total_gib": round(pynvml.nvmlDeviceGetMemoryInfo(instance).total / 2**30, 1)})
    return instances


def torch_cuda(nvml_found_gpus: bool) -> dict:
    """What the installed torch build can do with CUDA.

    Without NVML GPUs there is no NVIDIA driver, so CUDA cannot be available and torch
    (about 4 s to import) is not imported: only its build's version file is read.
    """
    if not nvml_found_gpus:
        return {"cuda_build": _torch_build_version().cuda, "cuda_available": False,
                "device_count": 0, "arch_list": [], "device_0_pci_bus_id": None}
    import torch

    available = torch.cuda.is_available()
    return {
        "cuda_build": torch.version.cuda,
        "cuda_available": available,
        "device_count": torch.cuda.device_count() if available else 0,
        "arch_list": torch.cuda.get_arch_list() if available else [],
        "device_0_pci_bus_id": _device_0_pci_bus_id(torch) if available else None,
    }


def _device_0_pci_bus_id(torch: ModuleType) -> str | None:
    """Where torch's cuda:0 sits on the PCI bus; None where this torch's device properties do not say."""
    props = torch.cuda.get_device_properties(0)
    if not hasattr(props, "pci_bus_id"):
        return None
    return pci_bus_id(props.pci_domain_id, props.pci_bus_id, props.pci_device_id)


def environment_report(catalog: dict[str, dict]) -> dict:
    """A stable description of the machine: versions, hardware, which GPU is CUDA device 0 and why
    (pipeline.gpu.visible), and that GPU's catalog profile.

    Nothing volatile (free memory, temperatures) goes in: the report is a dependency of resolve.
    """
    driver, gpus = nvml_gpus()
    torch_info = torch_cuda(bool(gpus))
    device_0 = cuda_device_0(gpus, torch_info, os.environ)
    profile = None
    if device_0["index"] is not None:
        gpu = gpus[device_0["index"]]
        profile = match_profile(gpu["name"], catalog) or derived_profile(gpu, next(iter(catalog.values())))
        instance, why = mig_instance(gpu, os.environ.get("CUDA_VISIBLE_DEVICES", ""))
        if instance is not None:
            device_0 = {**device_0, "mig_instance": instance["uuid"], "why": f"{device_0['why']}; {why}"}
            profile = {**profile, "vram_gb": instance["memory_total_gib"]}
    return {
        "python": platform.python_version(),
        "platform": platform.system().lower(),
        "packages": package_versions(),
        "torch": torch_info,
        "nvidia_driver": driver,
        "gpus": gpus,
        "cuda_device_0": device_0,
        "gpu_profile": profile,
    }


def cuda_gpu(report: dict) -> dict | None:
    """The NVML entry of CUDA device 0 in an environment report; None when no GPU is visible."""
    index = report["cuda_device_0"]["index"]
    return None if index is None else report["gpus"][index]


def memory_in_use() -> list[float]:
    """GiB already used on each GPU (by other processes): volatile, so printed, never stored."""
    with nvml() as pynvml:
        if pynvml is None:
            return []
        return [round(pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(i)).used / 2**30, 1)
                for i in range(pynvml.nvmlDeviceGetCount())]


def _torch_build_version():
    """torch/version.py (version, CUDA build) loaded on its own, without importing torch."""
    location = Path(importlib.util.find_spec("torch").origin).parent / "version.py"
    spec = importlib.util.spec_from_file_location("_torch_build_version", location)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value
