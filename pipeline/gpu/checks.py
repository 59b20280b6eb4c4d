"""Environment problems, each with the fix: driver vs the torch build, kernels vs the card, profile vs card.

Figures from ../shared/reference/gpus.md: minimum Linux driver per CUDA runtime, the
minor-version compatibility floors, Blackwell's driver floor, and which wheels run which cards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.gpu.catalog import cc_value
from pipeline.gpu.detect import cuda_gpu

MIN_DRIVER = {"12.4": "550.54.14", "12.6": "560.28.03", "12.8": "570.26", "12.9": "575.51.03",
              "13.0": "580.65.06"}
COMPAT_FLOOR = {"12": "525", "13": "580"}  # minor-version compatibility: any 12.x runtime on >= 525
BLACKWELL_DRIVER = "570"
WHEEL_FOR_CC = [(7.5, "cu128 or newer"), (7.0, "cu126 (cu128+ dropped Volta)"),
                (0.0, "cu126 (the last build with Pascal sm_61 kernels)")]
# An entry of torch.cuda.get_arch_list(): sm_ (a cubin) or compute_ (PTX), CC digits (the last one is the minor),
# and the suffix of CUDA 12+ targets. Which cards each runs on, from NVIDIA's CUDA C++ Programming Guide
# ("Compute Capability", "Feature Availability": architecture- and family-specific feature sets) and the blog
# "NVIDIA Blackwell and NVIDIA CUDA 12.9 Introduce Family-Specific Architecture Features":
#   sm_XY        the same major X with minor >= Y (cubins are binary compatible within a major)
#   compute_XY   any CC >= X.Y (the driver JIT-compiles PTX for newer cards)
#   *_XYa        exactly CC X.Y (architecture-specific: sm_90a, sm_100a, compute_100a)
#   *_XYf        the same major X with minor >= Y (family-specific, CUDA 12.9+: sm_100f runs on 10.0 and 10.3)
ARCH = re.compile(r"(sm|compute)_(\d+)(\d)([af]?)")


@dataclass(frozen=True)
class Problem:
    level: str  # "error" stops the pipeline, "warning" is printed
    code: str  # in pipeline/core/error_catalogue.py
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.level}[{self.code}]: {self.what} -> fix: {self.fix}"


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def driver_problems(driver: str | None, cuda_build: str | None, cc: str | None) -> list[Problem]:
    """Is the NVIDIA driver new enough for torch's CUDA runtime (and for the card)?"""
    if not driver or not cuda_build:
        return []
    problems = []
    major = cuda_build.split(".")[0]
    floor = COMPAT_FLOOR.get(major)
    wanted = MIN_DRIVER.get(".".join(cuda_build.split(".")[:2]))
    if floor and version_tuple(driver) < version_tuple(floor):
        problems.append(Problem("error", "env-driver-too-old", f"NVIDIA driver {driver} is too old for torch's CUDA {cuda_build} build "
                                         f"(needs >= {wanted or floor})",
                                "update the driver, or install a torch build for an older CUDA"))
    elif wanted and version_tuple(driver) < version_tuple(wanted):
        problems.append(Problem("warning", "env-driver-old", f"NVIDIA driver {driver} is below {wanted}, the minimum for CUDA "
                                           f"{cuda_build}; it runs through minor-version compatibility, but "
                                           f"PTX JIT and newer features may fail", f"update the driver to >= {wanted}"))
    if cc_value(cc) >= 10.0 and version_tuple(driver) < version_tuple(BLACKWELL_DRIVER):
        problems.append(Problem("error", "env-driver-too-old", f"Blackwell (CC {cc}) needs driver >= {BLACKWELL_DRIVER}, "
                                         f"this machine has {driver}", "update the driver"))
    return problems


def runs_on(arch: str, major: int, minor: int) -> bool:
    """Whether an arch list entry (sm_86, compute_90, sm_90a, sm_120f: see ARCH) runs on a card of CC major.minor.

    An entry of another form counts as running: it cannot be ruled out.
    """
    found = ARCH.fullmatch(arch)
    if not found:
        return True
    kind, arch_major, arch_minor, suffix = found[1], int(found[2]), int(found[3]), found[4]
    if suffix == "a":
        return (arch_major, arch_minor) == (major, minor)
    if suffix == "f" or kind == "sm":
        return arch_major == major and arch_minor <= minor
    return (arch_major, arch_minor) <= (major, minor)


def arch_problems(arch_list: list[str], cc: str, card_name: str, cuda_build: str | None) -> list[Problem]:
    """Does the torch build carry kernels (sm_XY) or PTX (compute_XY) this card can run?"""
    major, minor = (int(part) for part in cc.split("."))
    if not arch_list or any(runs_on(arch, major, minor) for arch in arch_list):
        return []
    wheel = next(name for floor, name in WHEEL_FOR_CC if cc_value(cc) >= floor)
    return [Problem("error", "env-no-kernels", f"torch's CUDA {cuda_build} build has kernels for {', '.join(arch_list)} but "
                             f"{card_name} is sm_{major}{minor}",
                    f"install the {wheel} build of torch "
                    f"(pip install torch --index-url https://download.pytorch.org/whl/<build>)")]


def profile_problems(requested: str, plan_only: bool, detected: dict | None) -> list[Problem]:
    """A named card profile must be the card this machine has, unless the run only plans."""
    if requested in ("auto", "cpu") or plan_only:
        return []
    if detected is None:
        return [Problem("error", "env-profile-mismatch", f"gpu={requested} was requested but this machine has no usable NVIDIA GPU",
                        "use -S gpu=auto (CPU fallback), or -S gpu.plan_only=true to plan without training")]
    if detected["profile"] != requested:
        return [Problem("error", "env-profile-mismatch", f"gpu={requested} was requested but this machine has {detected['name']} "
                                 f"(profile {detected['profile']})",
                        f"use -S gpu=auto or -S gpu={detected['profile']}, "
                        f"or -S gpu.plan_only=true to plan for {requested} without training")]
    return []


def environment_problems(report: dict, requested: str, plan_only: bool) -> list[Problem]:
    """Every problem the report shows for CUDA device 0 and the requested profile."""
    torch_info, card, first = report["torch"], report.get("gpu_profile"), cuda_gpu(report)
    problems = []
    if first:
        problems += driver_problems(report["nvidia_driver"], torch_info["cuda_build"], first["compute_capability"])
        problems += arch_problems(torch_info["arch_list"], first["compute_capability"], first["name"],
                                  torch_info["cuda_build"])
        if not torch_info["cuda_available"]:
            build = "a CPU-only build" if not torch_info["cuda_build"] else f"CUDA {torch_info['cuda_build']}"
            problems.append(Problem("warning", "env-torch-cpu-only", f"NVML sees {first['name']} but torch ({build}) cannot use it; "
                                               f"training falls back to the CPU", "install a CUDA build of torch"))
        if report["cuda_device_0"]["visible"] > 1:
            problems.append(Problem("warning", "env-multi-gpu", f"{report['cuda_device_0']['visible']} GPUs visible; strategy=auto "
                                                               f"trains on CUDA device 0, {first['name']}",
                                    "-S strategy=ddp (or fsdp) trains on all of them; CUDA_VISIBLE_DEVICES picks which"))
        if card and card["profile"] == "derived":
            problems.append(Problem("warning", "env-card-unknown", f"{first['name']} is not in the catalog (conf/gpu/): planning from "
                                               f"NVML's CC {first['compute_capability']} and "
                                               f"{first['memory_total_gib']} GiB", "add a profile for exact figures"))
    usable = card if torch_info["cuda_available"] else None
    problems += profile_problems(requested, plan_only, usable)
    return problems
