"""Label sets (task=multi_label): a row's labels as read from the data, and their one form inside the pipeline.

A CSV cell holds the labels joined by `data.label_separator` (`billing|bug`); JSON lines, parquet and Hugging
Face datasets hold a list. Either way a set is its distinct labels, stripped and sorted, and inside the pipeline
(frames, duplicates, conflicts) it is one string: the labels joined by JOIN, a character no label holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from pipeline.core.errors import PipelineError

JOIN = "\x1f"  # the ASCII unit separator: never in a label read from text
SEPARATORS = "|;,/"  # what a label set's cell may be joined with, the default first


def separator(data) -> str:
    """data.label_separator, `|` where unset."""
    return data.get("label_separator") or SEPARATORS[0]


def label_set(value, separator: str, as_text: Callable[[object], str] = str) -> str:
    """A cell (a string joined by `separator`, a list, or one label as a number) as the canonical joined set; ''
    for no label. `as_text` writes a label that is not a string (sources: 1.0 as '1')."""
    if value is None or (isinstance(value, float) and value != value):
        parts = []
    elif isinstance(value, str):
        parts = value.split(separator)
    elif isinstance(value, (list, tuple, np.ndarray)):
        parts = [as_text(part) for part in value if part is not None]
    else:
        parts = [as_text(value)]
    return JOIN.join(sorted({part.strip() for part in parts if part.strip()}))


def labels_of(joined: str) -> list[str]:
    """The labels of a canonical set."""
    return joined.split(JOIN) if joined else []


def check_separator(sets: Iterable[str], separator: str, where: str) -> None:
    """A one-line error when a label looks like a set joined by another separator: split on it, every part is
    a label of its own elsewhere in the data (`billing;bug` beside `billing` and `bug`), or like a list written
    as text (`['billing', 'bug']`, as pandas writes a list to a CSV)."""
    sets = list(sets)
    names = {label for joined in sets for label in labels_of(joined)}
    for name in sorted(names):
        if name.startswith("[") and name.endswith("]"):
            raise PipelineError(
                "data-label-separator", f"label '{name}' looks like a list written as text", f"{where}, data.label_column",
                f"write each row's labels joined by {separator!r} (billing{separator}bug), or give the file as JSON lines "
                "or parquet with a list of labels a row")
        for other in SEPARATORS.replace(separator, ""):
            parts = [part.strip() for part in name.split(other)]
            if len(parts) > 1 and all(part in names for part in parts):
                raise PipelineError(
                    "data-label-separator", f"label '{name}' looks like the labels {', '.join(parts)} joined by "
                    f"{other!r}, not by data.label_separator {separator!r}", f"{where}, data.label_column",
                    f"set -S 'data.label_separator={other}'")


def rows_per_label(labels: pd.Series, multi_label: bool) -> pd.Series:
    """How many rows carry each label (a row of a set counts for each of its labels), most first."""
    if not multi_label:
        return labels.value_counts()
    return labels.map(labels_of).explode().dropna().value_counts()


def label_rows(sets: pd.Series) -> dict[str, list[int]]:
    """The positions of the rows whose set carries each label."""
    found: dict[str, list[int]] = {}
    for position, joined in enumerate(sets):
        for label in labels_of(joined):
            found.setdefault(label, []).append(position)
    return found


def names_in(labels: pd.Series, multi_label: bool) -> set[str]:
    """Every label that some row carries."""
    return set(rows_per_label(labels, multi_label).index)


def empty_sets_allowed(data, multi_label: bool) -> bool:
    """Whether a row with no label is a valid "none of these" (task=multi_label with data.allow_empty_labels)."""
    return multi_label and bool(data.get("allow_empty_labels"))


def check_source(data) -> None:
    """A one-line error where task=multi_label reads class folders (one label a file: its folder)."""
    if data.source in ("folder", "packaged"):
        raise PipelineError("data-task-unsupported", f"data.source={data.source} gives one label a file (its folder), "
                            "but task=multi_label", "params.yaml task", "give the label sets as a csv, jsonl, parquet or "
                            "Hugging Face dataset, or -S task=single_label")
