"""What the benchmark scripts share: the CPU's name, the stages' environment, a throw-away clone of HEAD."""

from __future__ import annotations

import os
import platform
import subprocess
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
