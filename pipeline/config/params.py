"""Read the stage's own sections of params.yaml (the composed Hydra config)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from pipeline.config.schema import validate
from pipeline.core.errors import PipelineError

PARAMS_FILE = Path("params.yaml")


def load_params(*sections: str, path: Path = PARAMS_FILE) -> DictConfig:
    """Load params.yaml keeping only `sections` (all when none), checked against pipeline/config/schema.py.

    A missing section, or a value the schema refuses, is a PipelineError naming it.
    """
    if not path.exists():
        raise PipelineError(
            "params-missing", "params file not found", str(path),
            "run from the repository root, or compose it with `dvc exp run`")
    cfg = OmegaConf.load(path)
    missing = [name for name in sections if name not in cfg]
    if missing:
        raise PipelineError(
            "params-missing", f"missing section(s) {', '.join(missing)}", str(path),
            "recompose params.yaml from conf/ with `dvc exp run` (or restore it from git)")
    validate(cfg, sections or None, source=str(path))
    return OmegaConf.masked_copy(cfg, list(sections)) if sections else cfg


def params_hash(cfg: DictConfig) -> str:
    """A short stable hash of a config, used to tag runs with the params that made them."""
    text = json.dumps(OmegaConf.to_container(cfg, resolve=True), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
