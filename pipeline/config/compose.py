"""Compose conf/ with Hydra, exactly as DVC does on `dvc exp run`."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from pipeline.config.schema import unknown_key, validate
from pipeline.core import paths
from pipeline.core.atomic import write_text
from pipeline.core.errors import PipelineError, run_main

CONF_DIR = paths.CONF


def check_group_option(override: str, conf_dir: Path = CONF_DIR) -> None:
    """`model=nope` names a file conf/model/nope.yaml; say which options exist when it does not."""
    key, _, value = override.lstrip("+~").partition("=")
    group = Path(conf_dir) / key
    if group.is_dir() and not (group / f"{value}.yaml").exists():
        options = sorted(p.stem for p in group.glob("*.yaml"))
        raise PipelineError("config-unknown-option", f"unknown option '{value}' for config group '{key}'", f"{key}/ in {conf_dir}",
                            f"use one of: {', '.join(options)}")


def compose_config(overrides: list[str] = (), conf_dir: Path = CONF_DIR) -> DictConfig:
    """The resolved config for these overrides (what `dvc exp run -S ...` writes to params.yaml), validated."""
    for override in overrides:
        check_group_option(override, conf_dir)
    with initialize_config_dir(str(Path(conf_dir).resolve()), version_base=None):
        try:
            cfg = compose(config_name="config", overrides=list(overrides))
        except ConfigCompositionException as err:  # `train.max_epoch=3`: Hydra overrides only keys that exist
            if not isinstance(err.__cause__, (ConfigAttributeError, ConfigKeyError)):
                raise
            raise unknown_key(err.__cause__.full_key, "params.yaml") from None
        except OverrideParseException as err:  # `--out` mistyped, `model==bert`: not Hydra's key=value grammar
            raise PipelineError("config-bad-override", f"cannot read '{err.override}' as a key=value override",
                                "the command line", "write overrides as key=value (model=bert, model.max_seq_len=512); "
                                "--help prints the command's usage") from None
    OmegaConf.resolve(cfg)
    validate(cfg)
    return cfg


def main() -> None:
    """`python -m pipeline.config.compose`: write params.yaml from conf/ (what `dvc exp run` composes)."""
    write_text("params.yaml", OmegaConf.to_yaml(compose_config()))


if __name__ == "__main__":
    run_main(main)
