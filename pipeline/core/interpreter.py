"""Child processes (DVC and the stages it runs) call `python`: make it this interpreter."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path


def with_interpreter_on_path(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `env` (default: this process's environment) with this interpreter's folder first on PATH,
    so that `python` in a DVC stage is the project's, even when its virtual environment is not activated."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env
