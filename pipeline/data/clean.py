"""Clean labelled text: unescape HTML, normalise whitespace and labels, drop incomplete rows, duplicates
and texts repeated across splits. With pairs of texts, an example is its pair: both texts are cleaned alike."""

from __future__ import annotations

import pandas as pd

from pipeline.core.errors import warn
from pipeline.data.normalise import PAIR, normalise_text
from pipeline.data.pairs import text_columns

# A text in several splits of a split column is kept in the first of these: train wins, so nothing the
# model trains on is scored; test, the fixed benchmark, wins over validation.
SPLIT_PRIORITY = {"train": 0, "test": 1, "validation": 2}


def incomplete(frame: pd.DataFrame, empty_label_ok: bool = False) -> pd.Series:
    """Rows whose text (or pair text) is empty once normalised, or whose label is empty (unless `empty_label_ok`:
    an empty label set is "none of these" for task=multi_label with data.allow_empty_labels)."""
    empty = frame["text"].map(_blank)
    if not empty_label_ok:
        empty |= frame["label"].str.strip() == ""
    return empty | frame[PAIR].map(_blank) if PAIR in frame else empty


def _blank(text: str) -> bool:
    """normalise_text(text) == '', cheaply: only a text that starts with an HTML entity needs unescaping."""
    text = text.strip()
    return not text or (text[0] == "&" and not normalise_text(text))


def clean(frame: pd.DataFrame, empty_label_ok: bool = False) -> tuple[pd.DataFrame, dict]:
    """Return the cleaned frame and counts of what was dropped and why. A label set (task=multi_label) is one
    joined string (data.label_sets): duplicates and conflicting labels compare whole sets."""
    rows_in = len(frame)
    frame = frame.assign(text=frame["text"].map(normalise_text), label=frame["label"].str.strip())
    if PAIR in frame:
        frame[PAIR] = frame[PAIR].map(normalise_text)
    dropped_incomplete = incomplete(frame, empty_label_ok)
    frame = frame[~dropped_incomplete]
    duplicated = frame.duplicated()  # same text (and pair text) and label (and split)
    frame = frame[~duplicated]
    conflicting = frame.groupby(text_columns(frame))["label"].transform("nunique") > 1
    frame = frame[~conflicting]
    overlap = _split_overlap(frame)
    frame = frame[~overlap].reset_index(drop=True)
    if overlap.any():
        warn("data-split-overlap", f"{overlap.sum()} rows of validation/test repeat a text of another split; "
             "dropped so they cannot leak (train keeps its copy; a text in validation and test stays in test)")
    return frame, {
        "rows_in": rows_in,
        "dropped_incomplete": int(dropped_incomplete.sum()),
        "dropped_duplicate": int(duplicated.sum()),
        "dropped_conflicting_label": int(conflicting.sum()),
        "dropped_split_overlap": int(overlap.sum()),
        "rows_out": len(frame),
    }


def _split_overlap(frame: pd.DataFrame) -> pd.Series:
    """Rows whose text (both texts of a pair) is also in a split that wins (SPLIT_PRIORITY); none without a split
    column."""
    if "split" not in frame.columns:
        return pd.Series(False, index=frame.index)
    rank = frame["split"].map(SPLIT_PRIORITY)
    return rank > rank.groupby([frame[column] for column in text_columns(frame)]).transform("min")

