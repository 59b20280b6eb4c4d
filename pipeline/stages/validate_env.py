"""Stage validate_env: record versions and hardware in a stable report; stop on problems, with the fix."""

from __future__ import annotations

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_json
from pipeline.core.errors import PipelineError, run_main, warn
from pipeline.gpu.catalog import load_catalog
from pipeline.gpu.checks import environment_problems
from pipeline.gpu.detect import environment_report, memory_in_use

BUSY_FRACTION = 0.10  # warn when other processes hold more than this share of a GPU's memory


def main() -> None:
    cfg = load_params()  # all of params.yaml: a bad value anywhere fails now, before any expensive stage
    report = environment_report(load_catalog())
    versions = ", ".join(f"{name} {v}" for name, v in report["packages"].items() if v)
    print(f"validate_env: python {report['python']}, {versions}")
    for gpu, used in zip(report["gpus"], memory_in_use()):
        print(f"validate_env: GPU {gpu['index']} {gpu['name']} (CC {gpu['compute_capability']}, "
              f"{gpu['memory_total_gib']} GiB), driver {report['nvidia_driver']}")
        if used > BUSY_FRACTION * gpu["memory_total_gib"]:
            warn("env-gpu-busy", f"{used} GiB of GPU {gpu['index']} is already in use by other processes; "
                                 f"the plan assumes the whole card: free it or expect out-of-memory")
    if not report["gpus"] and cfg.gpu.profile == "auto":
        print("validate_env: no NVIDIA GPU found (NVML unavailable); gpu=auto falls back to the CPU")
    elif report["gpus"]:
        print(f"validate_env: {report['cuda_device_0']['why']}")
    problems = environment_problems(report, cfg.gpu.profile, cfg.gpu.plan_only)
    for problem in problems:
        if problem.level == "warning":
            warn(problem.code, f"{problem.what} -> fix: {problem.fix}")
    errors = [problem for problem in problems if problem.level == "error"]
    for problem in errors[1:]:
        print(f"validate_env: also {problem}")
    if errors:
        raise PipelineError(errors[0].code, errors[0].what, "params.yaml gpu, this machine", errors[0].fix)
    write_json(paths.ENV_REPORT, report)


if __name__ == "__main__":
    run_main(main)
