"""The plan's data-dependent decisions, beside resolve's hardware ones: how many epochs to train
(`train.max_epochs`, or `auto`: sized to the training rows) and the quality gate (evaluation.gate.resolve).

resolve writes them to their own file (reports/budget.yaml), so a change of data, epochs or gate leaves
reports/plan.yaml, and the MLM pretraining that depends on it, as they were; train reads both (`with_budget`).
"""

from __future__ import annotations

from math import ceil

from omegaconf import DictConfig

from pipeline.evaluation import gate

MIN_STEPS = 200     # optimizer steps a run gets at least: a small set trains more epochs
MAX_STEPS = 10_000  # a run of more steps than this trains fewer epochs (a large set)
MAX_EPOCHS = 10     # auto never plans more epochs than this (or than model.epochs, if larger)


def epoch_budget(setting, model_epochs: int, train_rows: int, global_batch: int, patience: int) -> tuple[int, str]:
    """(epochs, reason): `setting` if it is a number; for `auto`, model.epochs unless that is under MIN_STEPS
    or over MAX_STEPS optimizer steps on these rows."""
    if setting != "auto":
        return int(setting), f"train.max_epochs={setting} (set)"
    steps = ceil(train_rows / global_batch)
    sized = f"{train_rows} training rows are {steps} optimizer steps of {global_batch} per epoch"
    if steps * model_epochs < MIN_STEPS:
        epochs = min(max(model_epochs, MAX_EPOCHS), ceil(MIN_STEPS / steps))
        why = f"a small set: {sized}, so {epochs} epochs (model.epochs {model_epochs}) to reach {MIN_STEPS} steps"
    elif steps * model_epochs > MAX_STEPS:
        epochs = max(1, MAX_STEPS // steps)
        why = f"a large set: {sized}, so {epochs} epoch(s) (model.epochs {model_epochs}) to stay near {MAX_STEPS} steps"
    else:
        epochs, why = model_epochs, f"{sized}: model.epochs {model_epochs} gives {steps * model_epochs} steps"
    return epochs, (f"train.max_epochs=auto: {why}; early stopping after {max(patience, 1)} epoch(s) without a better "
                    "validation score, and the best epoch is kept")


def budget(cfg: DictConfig, train_rows: int, baseline: dict) -> dict:
    """The data-dependent decisions (reports/budget.yaml): settings and reasons like the plan's, and the gate."""
    epochs, why = epoch_budget(cfg.train.max_epochs, cfg.model.epochs, train_rows, cfg.train.global_batch_size,
                               cfg.train.early_stopping_patience)
    return {"settings": {"max_epochs": epochs}, "reasons": {"max_epochs": why},
            "gate": gate.resolve(cfg.eval.gate, cfg.data.source, baseline)}


def with_budget(plan: dict, decided: dict) -> dict:
    """The plan train follows: resolve's hardware plan with the budget's settings, reasons and gate."""
    return {**plan, "settings": {**plan["settings"], **decided["settings"]},
            "reasons": {**plan["reasons"], **decided["reasons"]}, "gate": decided["gate"]}
