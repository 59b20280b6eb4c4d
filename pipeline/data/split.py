"""Deterministic stratified train/val/test split, or the split the data file already carries."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.errors import PipelineError

SPLITS = ("train", "validation", "test")
SPLIT_NAMES = {"train": "train", "training": "train",
               "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
               "test": "test", "eval": "test", "evaluation": "test"}


def split(frame: pd.DataFrame, val_size: float, test_size: float, seed: int,
          where: str = "data") -> dict[str, pd.DataFrame]:
    """Split into train/validation/test, stratified by label; keeps a `split` column if present."""
    _check_classes(frame, where)
    if "split" in frame.columns:
        return _split_by_column(frame, val_size, seed, where)
    try:
        rest, test = train_test_split(frame, test_size=test_size, stratify=frame["label"], random_state=seed)
        train, val = train_test_split(rest, test_size=val_size / (1 - test_size),
                                      stratify=rest["label"], random_state=seed)
    except ValueError as err:
        raise PipelineError("data-too-few-rows", f"cannot make a stratified split: {err}", f"{where}, data.val_size/test_size",
                            "add rows to the small classes or raise data.val_size/test_size") from None
    return {"train": train, "validation": val, "test": test}


def _split_by_column(frame: pd.DataFrame, val_size: float, seed: int, where: str) -> dict[str, pd.DataFrame]:
    names = frame["split"].str.strip().str.lower()
    unknown = sorted(set(names) - set(SPLIT_NAMES))
    if unknown:
        raise PipelineError("data-split-values", f"unknown split value(s) {unknown}", f"{where}, data.split_column",
                            f"use one of: {', '.join(sorted(SPLIT_NAMES))}")
    frame = frame.assign(split=names.map(SPLIT_NAMES))
    parts = {name: frame[frame["split"] == name].drop(columns="split") for name in SPLITS}
    if parts["train"].empty or parts["test"].empty:
        raise PipelineError("data-split-incomplete", "the split column needs both train and test rows", f"{where}, data.split_column",
                            "mark some rows train and some test, or unset data.split_column")
    if parts["validation"].empty:
        parts["train"], parts["validation"] = train_test_split(
            parts["train"], test_size=val_size, stratify=parts["train"]["label"], random_state=seed)
    seen = set(parts["validation"]["label"]) | set(parts["test"]["label"])
    unseen = sorted(seen - set(parts["train"]["label"]))
    if unseen:
        raise PipelineError("data-label-unseen", f"label(s) {unseen} appear in val/test but never in train",
                            f"{where}, data.split_column", "add training rows for them or drop those rows")
    return parts


def _check_classes(frame: pd.DataFrame, where: str) -> None:
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise PipelineError("data-single-class", f"only one class ({only}) in the label column; a classifier needs at least two",
                            f"{where}, data.label_column", "check data.label_column points at the labels, or add other classes")
    rare = counts[counts < 3]
    if len(rare) and "split" not in frame.columns:
        raise PipelineError("data-too-few-rows", f"class(es) {dict(rare)} have fewer than 3 rows, too few for train/val/test",
                            f"{where}, data.label_column", "add rows for those classes or drop them")
