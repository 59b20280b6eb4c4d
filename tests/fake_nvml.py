"""Stand-in NVML (and torch.cuda) answers for hardware this machine lacks (the only thing tests fake)."""

from types import SimpleNamespace

import pynvml


def card(name="NVIDIA GeForce RTX 3090", cc=(8, 6), memory_gib=24, uuid=None, mig=()) -> dict:
    """One GPU as the fake NVML describes it; `mig` lists its MIG instances as (UUID, memory GiB) (MIG on when any)."""
    return {"name": name, "cc": cc, "memory_gib": memory_gib, "uuid": uuid, "mig": list(mig)}


def install(monkeypatch, name="NVIDIA GeForce RTX 3090", cc=(8, 6), memory_gib=24, driver="560.35.03", count=1,
            cards=None):
    """NVML answering for `cards` (card() dicts, in NVML order: GPU i on PCI bus i + 1), or for `count` alike
    GPUs described by name, cc and memory_gib. GPU i's UUID is GPU-0000000<i>-... unless its card gives one."""
    cards = cards or [card(name, cc, memory_gib)] * count

    def uuid(handle):
        if isinstance(handle, tuple):  # a MIG instance: (GPU, slot)
            return cards[handle[0]]["mig"][handle[1]][0]
        return cards[handle]["uuid"] or f"GPU-{handle:08x}-0000-0000-0000-000000000000"

    def memory(handle):
        if isinstance(handle, tuple):
            return cards[handle[0]]["mig"][handle[1]][1]
        return cards[handle]["memory_gib"]

    def mig_mode(handle):
        if not cards[handle]["mig"]:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return pynvml.NVML_DEVICE_MIG_ENABLE, pynvml.NVML_DEVICE_MIG_ENABLE

    calls = {
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlSystemGetDriverVersion": lambda: driver,
        "nvmlDeviceGetCount": lambda: len(cards),
        "nvmlDeviceGetHandleByIndex": lambda index: index,
        "nvmlDeviceGetName": lambda handle: cards[handle]["name"],
        "nvmlDeviceGetCudaComputeCapability": lambda handle: cards[handle]["cc"],
        "nvmlDeviceGetMemoryInfo": lambda handle: SimpleNamespace(total=memory(handle) * 2**30, used=0,
                                                                  free=memory(handle) * 2**30),
        "nvmlDeviceGetUUID": uuid,
        "nvmlDeviceGetPciInfo": lambda handle: SimpleNamespace(domain=0, bus=handle + 1, device=0),
        "nvmlDeviceGetMigMode": mig_mode,
        "nvmlDeviceGetMaxMigDeviceCount": lambda handle: len(cards[handle]["mig"]),
        "nvmlDeviceGetMigDeviceHandleByIndex": lambda handle, slot: (handle, slot),
    }
    for attr, fake in calls.items():
        monkeypatch.setattr(pynvml, attr, fake)


def install_cuda(monkeypatch, device_count: int, device_0_bus: int, arch_list=("sm_80", "sm_86", "sm_90")):
    """torch.cuda answering as a CUDA build on a machine whose cuda:0 sits on PCI bus `device_0_bus`."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: device_count)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: list(arch_list))
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(
        pci_domain_id=0, pci_bus_id=device_0_bus, pci_device_id=0))
    monkeypatch.setattr(torch.version, "cuda", "12.6")
