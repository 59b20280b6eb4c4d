"""The train stage as one trial of a Bayesian search (python -m pipeline.sweep): report the validation metric to
Optuna after each epoch, stop when its pruner says so, and nest the MLflow run under the study's.

pipeline.sweep passes the trial through the environment of `dvc exp run`, which DVC hands on to its stages.
Outside a sweep none of these variables is set, and train runs as always.
"""

from __future__ import annotations

import os

import lightning as L
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from pipeline.core.paths import MLFLOW_PARENT_RUN as PARENT_RUN
from pipeline.core.paths import OPTUNA_PRUNER_ATTR as PRUNER_ATTR
from pipeline.core.paths import OPTUNA_STORAGE as STORAGE
from pipeline.core.paths import OPTUNA_STUDY as STUDY
from pipeline.core.paths import OPTUNA_TRIAL as TRIAL


def trial_tags() -> dict[str, str]:
    """MLflow tags of a trial's train run: its study, its number, and the study's run as its parent; {} outside."""
    if not os.environ.get(TRIAL):
        return {}
    return {"optuna.study": os.environ[STUDY], "optuna.trial": os.environ[TRIAL],
            MLFLOW_PARENT_RUN_ID: os.environ[PARENT_RUN]}


class Pruning(L.Callback):
    """Reports `monitor` after each validation epoch to the trial and stops the fit when the trial should be pruned
    (what optuna-integration's Lightning callback does; a dozen lines here spare the project that package)."""

    def __init__(self, monitor: str):
        import optuna  # only in a trial: train starts without it otherwise

        study = optuna.load_study(study_name=os.environ[STUDY], storage=os.environ[STORAGE])
        study.pruner = optuna.pruners.MedianPruner(**study.user_attrs[PRUNER_ATTR])  # the storage keeps no pruner
        number = int(os.environ[TRIAL])
        # Optuna has no public lookup of a running trial by number: its id is FrozenTrial's _trial_id
        trial_id = next(t._trial_id for t in study.get_trials(deepcopy=False) if t.number == number)
        self.trial, self.monitor, self.pruned = optuna.Trial(study, trial_id), monitor, False

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        self.trial.report(float(trainer.callback_metrics[self.monitor]), trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned = trainer.should_stop = True


def pruning(monitor: str) -> Pruning | None:
    """The pruning callback when train runs as a trial, else None."""
    return Pruning(monitor) if os.environ.get(TRIAL) else None
