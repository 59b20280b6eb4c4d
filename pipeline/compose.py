"""Compose conf/ with Hydra, exactly as DVC does on `dvc exp run`."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path("conf")


def compose_config(overrides: list[str] = (), conf_dir: Path = CONF_DIR) -> DictConfig:
    """The resolved config for these overrides (what `dvc exp run -S ...` writes to params.yaml)."""
    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        cfg = compose(config_name="config", overrides=list(overrides))
    OmegaConf.resolve(cfg)
    return cfg


if __name__ == "__main__":
    Path("params.yaml").write_text(OmegaConf.to_yaml(compose_config()), encoding="utf-8")
