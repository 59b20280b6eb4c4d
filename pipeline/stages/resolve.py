"""Stage resolve: config + environment report -> the concrete training plan, with reasons."""

from __future__ import annotations

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_yaml
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json
from pipeline.gpu.policy import resolve_plan


def main() -> None:
    cfg = load_params("gpu", "model", "train", "finetune", "strategy")
    env = read_json(paths.ENV_REPORT)
    plan = resolve_plan(env, cfg.gpu, cfg.model, cfg.train, cfg.finetune, cfg.strategy)
    write_yaml(paths.PLAN, plan)
    print(f"resolve: planning for {plan['target']}")
    for key, value in plan["settings"].items():
        print(f"resolve: {key} = {value}  ({plan['reasons'][key]})")


if __name__ == "__main__":
    run_main(main)
