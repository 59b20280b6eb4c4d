"""What the benchmark scripts share: the CPU's name, the stages' environment, a throw-away clone of HEAD,
composing its params.yaml and running its stages."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.interpreter import with_interpreter_on_path

ROOT = Path(__file__).resolve().parents[1]


def cpu_name() -> str:
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")), platform.processor())


def pipeline_env() -> dict[str, str]:
    """What `make run` sets: no DVC analytics, this venv's `python` for the stages; the clone's own MLflow store."""
    env = with_interpreter_on_path(dict(os.environ, DVC_NO_ANALYTICS="1"))
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


@contextmanager
def clone_of_head(prefix: str) -> Iterator[Path]:
    """A `git clone` of this repository's HEAD in a temporary folder (the workspace, its mlflow.db and DVC
    cache are not touched), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        clone = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        yield clone


COMPOSE = ("import sys; from omegaconf import OmegaConf; from pipeline.config.compose import compose_config; "
           "open('params.yaml', 'w').write(OmegaConf.to_yaml(compose_config(sys.argv[1:])))")


def run_in(clone: Path, command: list[str]) -> None:
    """A command in the clone with the project's environment, as DVC would run it; stop on failure."""
    result = subprocess.run(command, cwd=clone, env=pipeline_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed in {clone}:\n{result.stderr[-3000:]}")


def compose_params(clone: Path, overrides: list[str]) -> None:
    """Write the clone's params.yaml from its conf/ and these overrides (what `dvc exp run -S` would write)."""
    run_in(clone, [sys.executable, "-c", COMPOSE, *overrides])


def stage(clone: Path, name: str) -> None:
    """`python -m pipeline.stages.NAME` in the clone, as `dvc repro` runs it."""
    run_in(clone, [sys.executable, "-m", f"pipeline.stages.{name}"])
