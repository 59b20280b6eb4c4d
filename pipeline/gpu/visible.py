"""Which NVML GPU is CUDA device 0: the card training runs on, so the one to plan for.

NVML lists GPUs by PCI bus id. CUDA numbers them fastest first, or by PCI bus id with
CUDA_DEVICE_ORDER=PCI_BUS_ID, and CUDA_VISIBLE_DEVICES picks and orders the ones a process sees (NVIDIA's
CUDA Programming Guide, "CUDA Environment Variables"): a comma-separated list of indices in CUDA's order or
of GPU and MIG UUIDs, where a prefix that names one device will do; an empty value hides every GPU, and an
entry that names none hides itself and every entry after it.

torch, when it can use CUDA, has applied these rules: its cuda:0, matched by PCI bus id, settles the
question. Otherwise the rules are applied here, with CUDA's fastest-first order taken to be PCI bus order.
"""

from __future__ import annotations

from collections.abc import Mapping

ASSUMED_ORDER = ("in PCI bus order (assumed for CUDA's default order, fastest first; "
                 "set CUDA_DEVICE_ORDER=PCI_BUS_ID to make it so)")


def pci_bus_id(domain: int, bus: int, device: int) -> str:
    """One spelling of a PCI address for NVML's and CUDA's answers alike: 00000000:65:00.0."""
    return f"{domain:08x}:{bus:02x}:{device:02x}.0"


def cuda_device_0(gpus: list[dict], torch_info: dict, environ: Mapping[str, str]) -> dict:
    """{"index": the NVML index of CUDA device 0 (None: no GPU visible), "visible": how many GPUs CUDA
    sees, "why": how that was decided}, for NVML's `gpus`, the report's `torch_info` and the environment."""
    if not gpus:
        return {"index": None, "visible": 0, "why": "NVML found no NVIDIA GPU"}
    torch_first = [gpu for gpu in gpus if gpu["pci_bus_id"] == torch_info["device_0_pci_bus_id"]]
    if torch_first:
        return _chosen(torch_first[0], torch_info["device_count"],
                       f"torch's cuda:0 is at PCI {torch_first[0]['pci_bus_id']}")
    by_bus = sorted(gpus, key=lambda gpu: gpu["pci_bus_id"])
    order = "in PCI bus order (CUDA_DEVICE_ORDER=PCI_BUS_ID)" if environ.get("CUDA_DEVICE_ORDER") == "PCI_BUS_ID" \
        else ASSUMED_ORDER
    value = environ.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return _chosen(by_bus[0], len(by_bus), f"CUDA_VISIBLE_DEVICES is unset, {order}")
    seen = visible(by_bus, value)
    if not seen:
        return {"index": None, "visible": 0, "why": f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU"}
    return _chosen(seen[0], len(seen), f"CUDA_VISIBLE_DEVICES={value}, {order}")


def visible(ordered: list[dict], value: str) -> list[dict]:
    """The GPUs a CUDA_VISIBLE_DEVICES value shows, device 0 first; `ordered` is every GPU in CUDA's order."""
    seen = []
    for entry in value.split(","):
        gpu = _named(entry.strip(), ordered)
        if gpu is None:
            break
        seen.append(gpu)
    return seen


def _named(entry: str, ordered: list[dict]) -> dict | None:
    """The GPU an entry names: an index in CUDA's order, or a prefix of one GPU's UUID or of one of its MIG
    instances' UUIDs (mig_instance tells which instance); None when it names none or several."""
    if entry.isdigit():
        return ordered[int(entry)] if int(entry) < len(ordered) else None
    return _one_prefixed(entry, ordered, lambda gpu: [gpu["uuid"], *(m["uuid"] for m in gpu["mig"])])


def _one_prefixed(entry: str, items: list[dict], uuids) -> dict | None:
    """The one item with a UUID (of `uuids(item)`) that starts with `entry`; None when none or several do."""
    named = [item for item in items if entry and any(uuid.startswith(entry) for uuid in uuids(item))]
    return named[0] if len(named) == 1 else None


def mig_instance(gpu: dict, value: str) -> tuple[dict | None, str]:
    """The MIG instance CUDA device 0 is on `gpu`, and why: the one CUDA_VISIBLE_DEVICES's first entry (`value`)
    names; on a GPU in MIG mode with none named, the smallest (a process sees one instance, and which one is not
    ours to know). (None, "") where MIG is off. Training plans with the instance's memory."""
    if not gpu["mig"]:
        return None, ""
    named = _one_prefixed(value.split(",")[0].strip(), gpu["mig"], lambda m: [m["uuid"]])
    instance = named or min(gpu["mig"], key=lambda m: m["memory_total_gib"])
    how = ("named by CUDA_VISIBLE_DEVICES" if named
           else "the smallest of its MIG instances (CUDA_VISIBLE_DEVICES names none of them alone)")
    return instance, (f"MIG instance {instance['uuid']}, {how}: planned with its {instance['memory_total_gib']} GiB "
                      f"of the GPU's {gpu['memory_total_gib']} (speed estimates stay the whole GPU's)")


def _chosen(gpu: dict, count: int, why: str) -> dict:
    return {"index": gpu["index"], "visible": count,
            "why": f"CUDA device 0 is GPU {gpu['index']} ({gpu['name']}): {why}"}
