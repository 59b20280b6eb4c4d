"""Stand-in NVML answers for hardware this machine lacks (the only thing tests fake)."""

from types import SimpleNamespace

import pynvml


def install(monkeypatch, name="NVIDIA GeForce RTX 3090", cc=(8, 6), memory_gib=24, driver="560.35.03", count=1):
    calls = {
        "nvmlInit": lambda: None,
        "nvmlShutdown": lambda: None,
        "nvmlSystemGetDriverVersion": lambda: driver,
        "nvmlDeviceGetCount": lambda: count,
        "nvmlDeviceGetHandleByIndex": lambda index: index,
        "nvmlDeviceGetName": lambda handle: name,
        "nvmlDeviceGetCudaComputeCapability": lambda handle: cc,
        "nvmlDeviceGetMemoryInfo": lambda handle: SimpleNamespace(total=memory_gib * 2**30, used=0, free=memory_gib * 2**30),
    }
    for attr, fake in calls.items():
        monkeypatch.setattr(pynvml, attr, fake)
