"""Stage resolve: config + environment report + the data's size and baseline -> the concrete training
plan, with reasons: the hardware settings (gpu.policy), the epoch budget and the quality gate
(training.budget)."""

from __future__ import annotations

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_yaml
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json
from pipeline.gpu.policy import resolve_plan
from pipeline.training.budget import plan_for_data


def main() -> None:
    cfg = load_params("gpu", "model", "train", "finetune", "strategy", "eval", "data")
    env, stats, baseline = read_json(paths.ENV_REPORT), read_json(paths.DATA_STATS), read_json(paths.BASELINE)
    plan = resolve_plan(env, cfg.gpu, cfg.model, cfg.train, cfg.finetune, cfg.strategy)
    plan = plan_for_data(plan, cfg, stats["rows"]["train"], baseline)
    write_yaml(paths.PLAN, plan)
    print(f"resolve: planning for {plan['target']}")
    for key, value in plan["settings"].items():
        print(f"resolve: {key} = {value}  ({plan['reasons'][key]})")
    print(f"resolve: gate {plan['gate']['metric']} >= {plan['gate']['threshold']}  ({plan['gate']['reason']})")


if __name__ == "__main__":
    run_main(main)
