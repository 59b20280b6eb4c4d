"""`python -m pipeline.plan gpu=rtx3090 model=bert [model.max_seq_len=512 ...]`

Prints the resolved hardware plan (settings, reasons, memory breakdown) as YAML for any catalog card,
offline and without that hardware; gpu=auto/cpu plan for this machine. The epoch budget and the quality
gate depend on the data: resolve decides them in the pipeline (reports/budget.yaml).
"""

from __future__ import annotations

import sys

import yaml
from omegaconf import DictConfig, OmegaConf

from pipeline.config.compose import compose_config
from pipeline.config.schema import positions
from pipeline.core.errors import run_main
from pipeline.gpu.catalog import load_catalog
from pipeline.gpu.detect import NO_GPU, environment_report
from pipeline.gpu.policy import resolve_plan


def fixed_length(cfg: DictConfig) -> DictConfig:
    """`cfg` with a number for model.max_seq_len: `auto` (preprocess picks it from the data) is planned at the
    model's longest input, the most it can cost."""
    if cfg.model.max_seq_len != "auto":
        return cfg
    return OmegaConf.merge(cfg, {"model": {"max_seq_len": positions(cfg.model.arch) or 512}})


def plan_for(cfg: DictConfig) -> dict:
    """The plan resolve would write to reports/plan.yaml; a named card is planned without needing it (plan-only)."""
    if cfg.gpu.profile in ("auto", "cpu"):
        return resolve_plan(environment_report(load_catalog()), cfg.gpu, cfg.model, cfg.train, cfg.finetune,
                            cfg.strategy)
    gpu = OmegaConf.merge(cfg.gpu, {"plan_only": True})
    return resolve_plan(NO_GPU, gpu, cfg.model, cfg.train, cfg.finetune, cfg.strategy)


def main() -> None:
    composed = compose_config(sys.argv[1:])
    cfg = fixed_length(composed)
    plan = plan_for(cfg)
    arch = cfg.model.arch
    header = {
        "card": plan["target"] if cfg.gpu.profile == "auto" else
        f"{cfg.gpu.profile}: {cfg.gpu.name}, {cfg.gpu.vram_gb} GB, CC {cfg.gpu.compute_capability}",
        "model": f"{cfg.model.name}: {arch.num_parameters / 1e6:.1f}M params, {arch.num_layers} layers, "
                 f"hidden {arch.hidden_size}, max_seq_len {cfg.model.max_seq_len}" +
                 (" (auto: planned at the longest input; the pipeline picks the length from your data)"
                  if composed.model.max_seq_len == "auto" else ""),
        "finetune": cfg.finetune.mode,
        "global_batch_size": cfg.train.global_batch_size,
    }
    print(yaml.safe_dump({**header, **plan}, sort_keys=False, width=120), end="")


if __name__ == "__main__":
    run_main(main)
