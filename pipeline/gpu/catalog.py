"""The GPU catalog (conf/gpu/*.yaml): load it, and map an NVML device name to a profile."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline.core.paths import CONF as CONF_DIR  # not through pipeline.config.compose: Hydra takes 0.25 s to import

NOT_CARDS = ("auto", "cpu")
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 35 files in 0.02 s instead of 0.27 s
ARCH_BY_CC = [(12.0, "blackwell"), (10.0, "blackwell"), (9.0, "hopper"), (8.9, "ada"), (8.0, "ampere"),
              (7.5, "turing"), (7.0, "volta"), (6.0, "pascal"), (0.0, "older")]


def load_catalog(conf_dir: Path = CONF_DIR) -> dict[str, dict]:
    """Every card profile, keyed by its option name (`gpu=<key>`), in file-name order."""
    return {path.stem: yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
            for path in sorted((Path(conf_dir) / "gpu").glob("*.yaml")) if path.stem not in NOT_CARDS}


def match_profile(nvml_name: str, catalog: dict[str, dict]) -> dict | None:
    """The catalog profile whose nvml_names include this device name (case and spacing ignored)."""
    wanted = " ".join(nvml_name.lower().split())
    for profile in catalog.values():
        if any(" ".join(name.lower().split()) == wanted for name in profile["nvml_names"]):
            return profile
    return None


def cc_value(compute_capability: str | None) -> float:
    """"8.6" -> 8.6; None (CPU, unknown) -> 0.0."""
    return float(compute_capability) if compute_capability else 0.0


def derived_profile(gpu: dict, template: dict) -> dict:
    """A profile for a card the catalog lacks, from what NVML says (CC, memory); figures unknown stay null."""
    cc = cc_value(gpu["compute_capability"])
    arch = next(name for floor, name in ARCH_BY_CC if cc >= floor)
    profile = {key: None for key in template}
    profile.update({
        "profile": "derived", "name": gpu["name"], "nvml_names": [gpu["name"]], "arch": arch,
        "compute_capability": gpu["compute_capability"], "vram_gb": gpu["memory_total_gib"],
        "bf16": cc >= 8.0, "tf32": cc >= 8.0, "fp8": cc >= 8.9, "fp4": cc >= 10.0, "tensor_cores": cc >= 7.0,
        "computed": [], "unconfirmed": [], "plan_only": False,
    })
    return profile
