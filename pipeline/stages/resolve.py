"""Stage resolve: config + environment report + the data's size and baseline -> the concrete training
plan, with reasons: the hardware settings (gpu.policy, reports/plan.yaml), the epoch budget and the quality
gate (training.budget, reports/budget.yaml)."""

from __future__ import annotations

from omegaconf import OmegaConf

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_yaml
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json
from pipeline.gpu.policy import resolve_plan
from pipeline.training.budget import budget, with_budget


def main() -> None:
    cfg = load_params("gpu", "model", "train", "finetune", "strategy", "eval", "data")
    env, stats, baseline = read_json(paths.ENV_REPORT), read_json(paths.DATA_STATS), read_json(paths.BASELINE)
    model = OmegaConf.merge(cfg.model, {"max_seq_len": stats["tokens"]["max_seq_len"]})  # auto: preprocess chose it
    plan = resolve_plan(env, cfg.gpu, model, cfg.train, cfg.finetune, cfg.strategy)
    decided = budget(cfg, stats, baseline)
    write_yaml(paths.PLAN, plan)
    write_yaml(paths.BUDGET, decided)
    full = with_budget(plan, decided)
    print(f"resolve: planning for {full['target']}, max_seq_len {model.max_seq_len} "
          f"({stats['tokens']['max_seq_len_reason']})")
    for key, value in full["settings"].items():
        print(f"resolve: {key} = {value}  ({full['reasons'][key]})")
    print(f"resolve: gate {full['gate']['metric']} >= {full['gate']['threshold']}  ({full['gate']['reason']})")


if __name__ == "__main__":
    run_main(main)
