"""MLflow helpers: which server, which tags, and a client bound to the run train opened."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from pipeline.params import params_hash


SQLITE = "sqlite:///"


def tracking_uri(tracking: DictConfig) -> str:
    """MLFLOW_TRACKING_URI when set, else `tracking.uri` from params (sqlite:///mlflow.db by default).

    A relative sqlite path is made absolute: MLflow caches stores by URI, so the same relative
    URI used from another directory in one process would otherwise reach the first directory's file.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or tracking.uri
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        uri = SQLITE + str(Path(uri[len(SQLITE):]).resolve())
    return uri


def git_commit() -> str:
    """The commit the run started from, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags that say where a run came from (git, GPU profile, params) and what it trained."""
    return {
        "git_commit": git_commit(),
        "gpu_profile": cfg.gpu.profile,
        "dvc_params_hash": params_hash(cfg),
        "model": cfg.model.name,
        "data": cfg.data.name,
    }


def client(tracking: DictConfig) -> MlflowClient:
    return MlflowClient(tracking_uri(tracking))
