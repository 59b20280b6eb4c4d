"""Stage resolve: config + environment report + the data's size and baseline -> the concrete training
plan, with reasons: the hardware settings (gpu.policy, reports/plan.yaml), the epoch budget and the quality
gate (training.budget, reports/budget.yaml)."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_yaml
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json
from pipeline.gpu.policy import resolve_plan
from pipeline.training.budget import budget, with_budget


def resolve(cfg: DictConfig, env: dict, stats: dict, baseline: dict) -> tuple[dict, dict]:
    """(plan, budget): the hardware plan at the length preprocess chose (model.max_seq_len, or auto's pick) and the
    data-dependent decisions."""
    model = OmegaConf.merge(cfg.model, {"max_seq_len": stats["tokens"]["max_seq_len"]})
    plan = resolve_plan(env, cfg.gpu, model, cfg.train, cfg.finetune, cfg.strategy)
    return plan, budget(cfg, stats, baseline)


def main() -> None:
    cfg = load_params("gpu", "model", "train", "finetune", "strategy", "eval", "data")
    plan, decided = resolve(cfg, read_json(paths.ENV_REPORT), read_json(paths.DATA_STATS), read_json(paths.BASELINE))
    write_yaml(paths.PLAN, plan)
    write_yaml(paths.BUDGET, decided)
    full = with_budget(plan, decided)
    print(f"resolve: planning for {full['target']}")
    for key, value in full["settings"].items():
        print(f"resolve: {key} = {value}  ({full['reasons'][key]})")
    print(f"resolve: gate {full['gate']['metric']} >= {full['gate']['threshold']}  ({full['gate']['reason']})")


if __name__ == "__main__":
    run_main(main)
