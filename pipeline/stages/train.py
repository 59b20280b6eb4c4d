"""Stage train: fine-tune under the resolved plan and budget (pipeline.training.fit), save the best model and
the curves.

With several processes (conf/strategy) every process runs this stage; only the main one writes.
"""

from __future__ import annotations

from omegaconf import DictConfig

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import atomic_dir
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_yaml
from pipeline.evaluation import gate
from pipeline.training.budget import with_budget
from pipeline.training.fit import fit, save
from pipeline.training.strategy import is_main_process
from pipeline.tracking.store import ui_link


def train(cfg: DictConfig, plan: dict) -> dict:
    """Fit, then write models/trained and the curves; returns the training summary."""
    trained = fit(cfg, plan)
    if not is_main_process():
        return trained.summary
    with atomic_dir(paths.TRAINED) as out:
        summary = save(trained, out)
    trained.session.recorder.write(paths.PLOTS)
    trained.session.resume.clear()
    return summary


def main() -> None:
    cfg = load_params("seed", "gpu", "model", "finetune", "data", "train", "tracking", "eval", "refine")
    summary = train(cfg, with_budget(read_yaml(paths.PLAN), read_yaml(paths.BUDGET)))
    if not is_main_process():
        return
    verdict = summary["gate"]
    print(f"train: best {verdict['metric']} {verdict['value']} (round {summary['best_round']}, epoch "
          f"{summary['best_epoch']}); {gate.describe(verdict)} (MLflow run {summary['mlflow_run_id']})")
    print(f"train: MLflow's UI: {ui_link(summary['mlflow_tracking_uri'], summary['mlflow_experiment_id'])}")


if __name__ == "__main__":
    run_main(main)
