"""Stable train/val/test split by hash buckets, or the split the data file already carries.

A row's split is a pure function of its (normalised) text (both texts of a pair) and the seed: the first 8 bytes of
SHA-256(seed, text) place it in [0, 1); [0, test_size) is test, the next val_size validation, the rest
train. Adding rows to a file never moves an existing row to another split, so a champion trained on the
old file is never scored on a new test split full of its own training rows. Each class is bucketed on its
own: a class none of whose rows falls in a split's bucket lends that split its row whose bucket is
nearest, from a split with rows to spare (`_fill_gaps`); only those lent rows can move when the class
grows (back, once one of its new rows falls in that bucket).

Label sets (task=multi_label) are split the same way, row by row on the hash; gap filling then runs label by
label, rarest first, over the rows that carry each label: every label gets a row in every split, and a label's
share of each split is its share of the data up to the hash's chance (no label set is kept whole: there are too
many sets with a row or two, which iterative stratification would also scatter).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError
from pipeline.data.label_sets import label_rows, names_in, rows_per_label
from pipeline.data.pairs import example_key, examples

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
          where: str = "data", multi_label: bool = False) -> dict[str, pd.DataFrame]:
    """Split into train/validation/test, stratified by label (by each label of the sets, `multi_label`); follows a
    `split` column if present.

    Every class needs a row in every split it is split into: too few rows is a PipelineError.
    """
    _check_classes(frame, where, multi_label)
    if "split" in frame.columns:
        return _split_by_column(frame, val_size, seed, where, multi_label)
    _check_enough(frame, val_size, test_size, where, SPLITS, multi_label)
    shares = {"test": test_size, "validation": val_size, "train": 1 - test_size - val_size}
    return _bucketed(frame, shares, seed, multi_label, where)


def bucket(texts: Sequence[str], seed: int) -> np.ndarray:
    """Each text's place in [0, 1): the first 8 bytes of SHA-256 of the seed and the text."""
    return np.array([int.from_bytes(hashlib.sha256(f"{seed}\0{text}".encode()).digest()[:8], "big")
                     for text in texts], dtype=np.float64) / 2.0**64


def split_sizes(rows: int, val_size: float, test_size: float) -> dict[str, int]:
    """The rows each split is expected to get (the buckets make it about that): test first, rounded up,
    then validation from the rest."""
    test = math.ceil(test_size * rows)
    val = math.ceil(val_size / (1 - test_size) * (rows - test))
    return {"train": rows - test - val, "validation": val, "test": test}


def preview(items: Sequence, limit: int = 5) -> str:
    """The first `limit` items, comma-separated, with ', ...' when there are more."""
    return ", ".join(map(str, items[:limit])) + (", ..." if len(items) > limit else "")


def _split_by_column(frame: pd.DataFrame, val_size: float, seed: int, where: str,
                     multi_label: bool = False) -> dict[str, pd.DataFrame]:
    """The rows the split column marks (canonical names); validation is carved from train if none is marked."""
    parts = {name: frame[frame["split"] == name].drop(columns="split") for name in SPLITS}
    missing = [name for name in ("train", "test") if parts[name].empty]
    if missing:
        raise PipelineError(
            "data-split-incomplete", f"the split column marks no {' and no '.join(missing)} rows",
            f"{where}, data.split_column", "mark some rows train and some test, or unset data.split_column")
    seen = names_in(parts["validation"]["label"], multi_label) | names_in(parts["test"]["label"], multi_label)
    unseen = sorted(seen - names_in(parts["train"]["label"], multi_label))
    if unseen:
        raise PipelineError(
            "data-label-unseen", f"label(s) {preview(unseen)} appear in validation/test but never in train",
            f"{where}, data.split_column", "add training rows for them or drop those rows")
    if parts["validation"].empty:
        _check_enough(parts["train"], val_size, 0, where, ("train", "validation"), multi_label)
        carved = _bucketed(parts["train"], {"validation": val_size, "train": 1 - val_size}, seed, multi_label, where)
        parts["train"], parts["validation"] = carved["train"], carved["validation"]
    return parts


def _check_classes(frame: pd.DataFrame, where: str, multi_label: bool = False) -> None:
    counts = rows_per_label(frame["label"], multi_label)
    if multi_label and len(counts) == 1 and (frame["label"] == "").any():
        return  # one label and rows without it (data.allow_empty_labels): a detector of that label
    if len(counts) < 2:
        only = counts.index[0] if len(counts) else "none"
        raise PipelineError("data-single-class", f"only one class ({only}) in the label column; a classifier needs at least two",
                            f"{where}, data.label_column", "check data.label_column points at the labels, or add other classes")


def _check_enough(frame: pd.DataFrame, val_size: float, test_size: float, where: str,
                  splits: Sequence[str], multi_label: bool = False) -> None:
    """A data-too-few-rows error unless every class has a row for each of `splits` and the expected sizes
    give each split a row of every class (for label sets, a row can hold several: only the first check)."""
    counts = rows_per_label(frame["label"], multi_label)
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
    if not multi_label and not fits(len(frame)):
        # this ends: the schema keeps val_size and test_size above 0 and their sum below 1
        needed = next(total for total in itertools.count(len(frame)) if fits(total))
        given = "/".join(str(sizes[name]) for name in splits)
        raise PipelineError(
            "data-too-few-rows", f"{len(frame)} {rows} are too few to give {'/'.join(splits)} a row of each of the "
            f"{len(counts)} classes (they would get {given}); at least {needed} are needed",
            f"{where}, data.val_size/test_size", "add rows, or adjust data.val_size/data.test_size")


def _bucketed(frame: pd.DataFrame, shares: dict[str, float], seed: int, multi_label: bool = False,
              where: str = "data") -> dict[str, pd.DataFrame]:
    """The rows in each split of `shares` (consecutive buckets of [0, 1) in that order), class by class (label
    by label, rarest first, for label sets)."""
    places = bucket([example_key(item) for item in examples(frame)], seed)
    edges = np.cumsum(list(shares.values()))
    edges[-1] = 1.0
    splits = np.searchsorted(edges, places, side="right")  # index into shares
    bounds = np.concatenate([[0.0], edges])
    names = list(shares)
    if multi_label:
        groups = label_rows(frame["label"])
        _fill_label_gaps(splits, places, bounds, groups)
        _check_filled(groups, splits, names, where)
    else:
        for rows in frame.groupby("label", sort=False).indices.values():
            splits[rows] = _fill_gaps(splits[rows], places[rows], bounds)
    return {name: frame[splits == names.index(name)] for name in SPLITS if name in names}


def _fill_label_gaps(splits: np.ndarray, places: np.ndarray, edges: np.ndarray, groups: dict[str, list[int]]) -> None:
    """_fill_gaps for label sets, label by label, rarest first (in place): a split with no row of a label gets the
    row of that label nearest its bucket among those whose move leaves every label of the row a row in the split
    it leaves."""
    labels_of_row: dict[int, list[str]] = {}
    for label, rows in groups.items():
        for row in rows:
            labels_of_row.setdefault(row, []).append(label)
    for label, rows in sorted(groups.items(), key=lambda item: len(item[1])):
        rows = np.asarray(rows)
        for index in range(len(edges) - 1):
            if (splits[rows] == index).any():
                continue
            movable = [row for row in rows if all((splits[groups[other]] == splits[row]).sum() > 1
                                                  for other in labels_of_row[row])]
            if movable:
                distance = [max(edges[index] - places[row], places[row] - edges[index + 1]) for row in movable]
                splits[movable[int(np.argmin(distance))]] = index


def _check_filled(groups: dict[str, list[int]], splits: np.ndarray, names: list[str], where: str) -> None:
    """A data-too-few-rows error naming the labels some split has no row of (a row lent to one label's gap can
    leave another's: rows with several labels)."""
    empty = [f"{label} (no {names[index]} row)" for label, rows in groups.items()
             for index in range(len(names)) if not (splits[rows] == index).any()]
    if empty:
        raise PipelineError("data-too-few-rows", f"{len(empty)} label(s) cannot have a row in every split: "
                            f"{preview(empty)}", f"{where}, data.label_column",
                            "add rows for those labels, or remove them")


def _fill_gaps(splits: np.ndarray, places: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """One class's splits, each empty one given the row nearest its bucket [edges[i], edges[i+1]) from a
    split that keeps at least one row."""
    splits = splits.copy()
    for index in range(len(edges) - 1):
        if (splits == index).any():
            continue
        counts = np.bincount(splits, minlength=len(edges) - 1)
        spare = counts[splits] > 1
        distance = np.maximum(edges[index] - places, places - edges[index + 1])
        splits[np.flatnonzero(spare)[np.argmin(distance[spare])]] = index
    return splits
