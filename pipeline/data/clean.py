"""Clean labelled text: unescape HTML, normalise whitespace and labels, drop empties and duplicates."""

from __future__ import annotations

import html
import re

import pandas as pd

_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Unescape HTML entities (&amp; -> &) and collapse runs of whitespace."""
    return _SPACES.sub(" ", html.unescape(text)).strip()


def clean(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Return the cleaned frame and counts of what was dropped and why."""
    frame = frame.assign(text=frame["text"].map(normalise_text),
                         label=frame["label"].map(lambda label: str(label).strip()))
    rows_in = len(frame)
    empty = (frame["text"] == "") | (frame["label"] == "")
    frame = frame[~empty]
    duplicated = frame.duplicated(["text", "label"])
    frame = frame[~duplicated]
    labels_per_text = frame.groupby("text")["label"].transform("nunique")
    conflicting = labels_per_text > 1
    frame = frame[~conflicting].reset_index(drop=True)
    return frame, {
        "rows_in": rows_in,
        "dropped_empty": int(empty.sum()),
        "dropped_duplicate": int(duplicated.sum()),
        "dropped_conflicting_label": int(conflicting.sum()),
        "rows_out": len(frame),
    }
