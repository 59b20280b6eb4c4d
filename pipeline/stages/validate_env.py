"""Stage validate_env: record versions and hardware in a stable report; say what will be used."""

from __future__ import annotations

from pipeline import paths
from pipeline.atomic import write_json
from pipeline.errors import run_main
from pipeline.gpu.detect import environment_report
from pipeline.params import load_params


def main() -> None:
    cfg = load_params("gpu")
    report = environment_report()
    write_json(paths.ENV_REPORT, report)
    versions = ", ".join(f"{name} {v}" for name, v in report["packages"].items() if v)
    print(f"validate_env: python {report['python']}, {versions}")
    if report["gpus"]:
        names = ", ".join(f"{g['name']} (CC {g['compute_capability']})" for g in report["gpus"])
        print(f"validate_env: NVIDIA driver {report['nvidia_driver']}; GPUs: {names}")
    elif cfg.gpu.profile == "auto":
        print("validate_env: no NVIDIA GPU found (NVML unavailable); gpu=auto falls back to the CPU")


if __name__ == "__main__":
    run_main(main)
