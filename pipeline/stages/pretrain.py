"""Stage pretrain: masked-language-model pretraining of a `scratch` model on unlabelled texts.

Its own DVC stage, so changing fine-tuning params re-runs train but not this. For other model
sources, or with pretrain.steps 0, it only records that nothing was pretrained (train then builds
the scratch model from random weights); Lightning is then not even imported.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import atomic_dir, write_json
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_yaml


def skip_reason(cfg: DictConfig) -> str | None:
    """Why there is nothing to pretrain, or None."""
    if cfg.model.source != "scratch":
        return f"model.source is {cfg.model.source}"
    if cfg.pretrain.steps <= 0:
        return "pretrain.steps is 0"
    return None


def pretrain(cfg: DictConfig, plan: dict) -> dict:
    """Pretrain when asked to; always write models/pretrained/pretraining.json saying what happened."""
    reason = skip_reason(cfg)
    with atomic_dir(paths.PRETRAINED) as out:
        if reason:
            summary = {"pretrained": False, "reason": reason}
        else:
            from pipeline.training.pretrain import pretrain_tracked

            summary = {"pretrained": True, **pretrain_tracked(cfg, plan["settings"], out)}
        write_json(out / paths.PRETRAINING_SUMMARY.name, summary)
    return summary


def main() -> None:
    cfg = load_params("seed", "model", "data", "pretrain", "tracking", "gpu")
    summary = pretrain(cfg, read_yaml(paths.PLAN))
    if summary["pretrained"]:
        print(f"pretrain: {summary['steps']} MLM steps on {summary['texts']} texts, loss {summary['first_loss']:.3f} "
              f"-> {summary['last_loss']:.3f}")
    else:
        print(f"pretrain: skipped ({summary['reason']})")


if __name__ == "__main__":
    run_main(main)
