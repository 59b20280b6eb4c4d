"""The plan's data-dependent decisions, beside resolve's hardware ones: how many epochs to train
(`train.max_epochs`, or `auto`: sized to the training rows and classes) and the quality gate (evaluation.gate.resolve).

resolve writes them to their own file (reports/budget.yaml), so a change of data, epochs or gate leaves
reports/plan.yaml, and the MLM pretraining that depends on it, as they were; train reads both (`with_budget`).
"""

from __future__ import annotations

from math import ceil

from omegaconf import DictConfig

from pipeline.evaluation import gate

MIN_STEPS = 200     # optimizer steps a run gets at least: a small set trains more epochs
MIN_CLASS_ROWS = 500  # rows of an average class a run sees at least (rows per class x epochs): many classes train longer
MAX_STEPS = 10_000  # a run of more steps than this trains fewer epochs (a large set)
MAX_EPOCHS = 10     # auto never plans more epochs than this (or than finetune.epochs, if larger)


def epoch_budget(setting, base_epochs: int, train_rows: int, classes: int, global_batch: int,
                 patience: int) -> tuple[int, str]:
    """(epochs, reason): `setting` if it is a number; for `auto`, `base_epochs` (finetune.epochs: the model's
    own, or the fine-tuning mode's) unless that is under MIN_STEPS optimizer steps or shows an average class's
    rows fewer than MIN_CLASS_ROWS times (more epochs, at most MAX_EPOCHS or base_epochs), or is over MAX_STEPS
    optimizer steps (fewer epochs; this limit wins)."""
    if setting != "auto":
        return int(setting), f"train.max_epochs={setting} (set)"
    steps, per_class = ceil(train_rows / global_batch), train_rows / classes
    sized = f"{train_rows} training rows are {steps} optimizer steps of {global_batch} per epoch"
    wanted = {"steps": ceil(MIN_STEPS / steps), "classes": ceil(MIN_CLASS_ROWS / per_class)}
    need = max(wanted, key=wanted.get)
    if steps * base_epochs > MAX_STEPS:
        epochs = max(1, MAX_STEPS // steps)
        why = f"a large set: {sized}, so {epochs} epoch(s) (finetune.epochs {base_epochs}) to stay near {MAX_STEPS} steps"
    elif wanted[need] > base_epochs:
        epochs = min(max(base_epochs, MAX_EPOCHS), wanted[need], max(1, MAX_STEPS // steps))
        why = (f"a small set: {sized}, so {epochs} epochs (finetune.epochs {base_epochs}) to reach {MIN_STEPS} steps"
               if need == "steps" else
               f"many classes: {classes} classes of {per_class:.0f} training rows on average, so {epochs} epochs "
               f"(finetune.epochs {base_epochs}) to train on at least {MIN_CLASS_ROWS} examples of each ({sized})")
    else:
        epochs, why = base_epochs, f"{sized}: finetune.epochs {base_epochs} gives {steps * base_epochs} steps"
    return epochs, (f"train.max_epochs=auto: {why}; early stopping after {max(patience, 1)} epoch(s) without a better "
                    "validation score, and the best epoch is kept")


def budget(cfg: DictConfig, stats: dict, baseline: dict) -> dict:
    """The data-dependent decisions (reports/budget.yaml) from the config, preprocess's data statistics and
    the baseline's scores: settings and reasons like the plan's, the gate, and how the model reads the data
    (`reading`: train logs it to MLflow)."""
    tokens = stats["tokens"]
    epochs, why = epoch_budget(cfg.train.max_epochs, cfg.finetune.epochs, tokens["train"]["rows"], len(stats["labels"]),
                               cfg.train.global_batch_size, cfg.train.early_stopping_patience)
    return {"settings": {"max_epochs": epochs, "max_seq_len": tokens["max_seq_len"], "long_text": tokens["long_text"]},
            "reasons": {"max_epochs": why, "max_seq_len": tokens["max_seq_len_reason"],
                        "long_text": long_text_reason(tokens)},
            "gate": gate.resolve(cfg.eval.gate, cfg.data.source, baseline), "reading": reading(stats)}


def long_text_reason(tokens: dict) -> str:
    """What data.long_text does to the training texts: how many are longer than max_seq_len, what they lose."""
    train, strategy = tokens["train"], tokens["long_text"]
    cut = f"{train['cut_share']:.0%} of the training texts are longer than {tokens['max_seq_len']} tokens"
    if not train["cut"]:
        return f"data.long_text={strategy}: no training text is longer than {tokens['max_seq_len']} tokens"
    if strategy == "chunks":
        return (f"data.long_text=chunks: {cut}; {train['rows']} windows for {train['texts']} texts, "
                f"{train['lost_share_of_cut']:.0%} of the long texts' tokens unread")
    return (f"data.long_text={strategy}: {cut} and lose {train['lost_share_of_cut']:.0%} of their tokens "
            "(chunks reads them all; model.max_seq_len=auto sizes the length to the data)")


def reading(stats: dict) -> dict[str, float]:
    """How the model reads each split, as numbers for MLflow: [UNK] share, pieces of characters, tokens per
    character and per word, texts cut and the share of their tokens lost, letters in unspaced scripts."""
    figures = {}
    for split, coverage in stats["tokens"].items():
        if isinstance(coverage, dict):
            for key in ("unknown_share", "fragment_share", "tokens_per_character", "tokens_per_word", "cut_share",
                        "lost_share_of_cut"):
                if coverage[key] is not None:
                    figures[f"data/{split}/{key}"] = float(coverage[key])
            figures[f"data/{split}/unspaced_share"] = float(stats["scripts"][split]["unspaced_share"])
    return figures


def with_budget(plan: dict, decided: dict) -> dict:
    """The plan train follows: resolve's hardware plan with the budget's settings, reasons and gate."""
    return {**plan, "settings": {**plan["settings"], **decided["settings"]},
            "reasons": {**plan["reasons"], **decided["reasons"]}, "gate": decided["gate"], "reading": decided["reading"]}
