"""Hydra-style front end: `python -m pipeline model=tiny train.max_epochs=1`.

It is `dvc exp run -S model=tiny -S train.max_epochs=1`, nothing more: DVC composes
conf/ into params.yaml and runs the same pipeline. The overrides are composed and
validated here first, so a bad option or value fails at once, in one line. Arguments
that start with `-` (e.g. `--name my-run`, `--temp`) go to `dvc exp run` unchanged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline.config.compose import CONF_DIR, compose_config
from pipeline.core.errors import run_main
from pipeline.core.interpreter import with_interpreter_on_path


def dvc_command(args: list[str], conf_dir: Path = CONF_DIR) -> list[str]:
    """Translate Hydra overrides into `dvc exp run -S ...`, after composing and validating them."""
    overrides = [arg for arg in args if not arg.startswith("-") and "=" in arg]
    compose_config(overrides, conf_dir)
    command = [sys.executable, "-m", "dvc", "exp", "run"]
    for arg in args:
        command += ["-S", arg] if arg in overrides else [arg]
    return command


def main() -> None:
    sys.exit(subprocess.call(dvc_command(sys.argv[1:]), env=with_interpreter_on_path()))


if __name__ == "__main__":
    run_main(main)
