"""Deterministic stratified train/val/test split, or the split the data file already carries."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pandas as pd
from sklearn.model_selection import train_test_split

from pipeline.core.errors import PipelineError

SPLITS = ("train", "validation", "test")
SPLIT_NAMES = {"train": "train", "training": "train",
               "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
               "test": "test", "eval": "test", "evaluation": "test"}


def canonical_splits(values: pd.Series, where: str) -> pd.Series:
    """Split column values as train/validation/test; any case and the aliases in SPLIT_NAMES are accepted."""
    names = values.str.strip().str.lower()
    unknown = sorted(set(names) - set(SPLIT_NAMES))
    if unknown:
        raise PipelineError("data-split-values", f"unknown split value(s) {preview([repr(name) for name in unknown])}",
                            f"{where}, data.split_column", f"use one of: {', '.join(sorted(SPLIT_NAMES))}")
    return names.map(SPLIT_NAMES)


def split(frame: pd.DataFrame, val_size: float, test_size: float, seed: int,
          where: str = "data") -> dict[str, pd.DataFrame]:
    """Split into train/validation/test, stratified by label; follows a `split` column if present.

    Every class needs a row in every split it is split into: too few rows is a PipelineError.
    """
    _check_classes(frame, where)
    if "split" in frame.columns:
        return _split_by_column(frame, val_size, seed, where)
    sizes = _check_enough(frame, val_size, test_size, where, SPLITS)
    rest, test = _stratified(frame, sizes["test"], seed, where)
    train, val = _stratified(rest, sizes["validation"], seed, where)
    return {"train": train, "validation": val, "test": test}


def split_sizes(rows: int, val_size: float, test_size: float) -> dict[str, int]:
    """Rows per split, rounded as train_test_split rounds: test first, then validation from the rest."""
    test = math.ceil(test_size * rows)
    val = math.ceil(val_size / (1 - test_size) * (rows - test))
    return {"train": rows - test - val, "validation": val, "test": test}


def preview(items: Sequence, limit: int = 5) -> str:
    """The first `limit` items, comma-separated, with ', ...' when there are more."""
    return ", ".join(map(str, items[:limit])) + (", ..." if len(items) > limit else "")


def _split_by_column(frame: pd.DataFrame, val_size: float, seed: int, where: str) -> dict[str, pd.DataFrame]:
    """The rows the split column marks (canonical names); validation is carved from train if none is marked."""
    parts = {name: frame[frame["split"] == name].drop(columns="split") for name in SPLITS}
    missing = [name for name in ("train", "test") if parts[name].empty]
    if missing:
        raise PipelineError(
            "data-split-incomplete", f"the split column marks no {' and no '.join(missing)} rows",
            f"{where}, data.split_column", "mark some rows train and some test, or unset data.split_column")
    seen = set(parts["validation"]["label"]) | set(parts["test"]["label"])
    unseen = sorted(seen - set(parts["train"]["label"]))
    if unseen:
        raise PipelineError(
            "data-label-unseen", f"label(s) {preview(unseen)} appear in validation/test but never in train",
            f"{where}, data.split_column", "add training rows for them or drop those rows")
    if parts["validation"].empty:
        sizes = _check_enough(parts["train"], val_size, 0, where, ("train", "validation"))
        parts["train"], parts["validation"] = _stratified(parts["train"], sizes["validation"], seed, where)
    return parts


def _check_classes(frame: pd.DataFrame, where: str) -> None:
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise PipelineError("data-single-class", f"only one class ({only}) in the label column; a classifier needs at least two",
                            f"{where}, data.label_column", "check data.label_column points at the labels, or add other classes")


def _check_enough(frame: pd.DataFrame, val_size: float, test_size: float, where: str,
                  splits: Sequence[str]) -> dict[str, int]:
    """The split sizes, if they give every class a row in each of `splits`; else a data-too-few-rows error."""
    counts = frame["label"].value_counts()
    rows = "rows" if "test" in splits else "training rows"
    rare = counts[counts < len(splits)]
    if len(rare):
        classes = preview([f"{label} ({count})" for label, count in rare.items()])
        raise PipelineError(
            "data-too-few-rows", f"{len(rare)} class(es) have fewer than {len(splits)} {rows}, too few for "
            f"{'/'.join(splits)}: {classes}", f"{where}, data.label_column", "add rows for those classes, or remove them")

    def fits(total: int) -> bool:
        sizes = split_sizes(total, val_size, test_size)
        return all(sizes[name] >= len(counts) for name in splits)

    sizes = split_sizes(len(frame), val_size, test_size)
    if not fits(len(frame)):
        # this ends: the schema keeps val_size and test_size above 0 and their sum below 1
        needed = next(total for total in itertools.count(len(frame)) if fits(total))
        given = "/".join(str(sizes[name]) for name in splits)
        raise PipelineError(
            "data-too-few-rows", f"{len(frame)} {rows} are too few to give {'/'.join(splits)} a row of each of the "
            f"{len(counts)} classes (they would get {given}); at least {needed} are needed",
            f"{where}, data.val_size/test_size", "add rows, or adjust data.val_size/data.test_size")
    return sizes


def _stratified(frame: pd.DataFrame, size: int, seed: int, where: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, taken): `size` rows taken at random in the label proportions."""
    try:
        return train_test_split(frame, test_size=size, stratify=frame["label"], random_state=seed)
    except ValueError as err:  # a small class emptied by the first split when val_size/test_size are large
        raise PipelineError("data-too-few-rows", f"a class has too few rows left to stratify the next split ({err})",
                            f"{where}, data.val_size/test_size", "add rows to the small classes, or lower "
                            "data.val_size/data.test_size") from None
