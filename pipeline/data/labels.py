"""The label names, in the order the model numbers them (saved with the model as id2label)."""

from __future__ import annotations

from pipeline.core.errors import PipelineError


def label_order(found: set[str], declared: list[str] | None, from_source: list[str] | None,
                where: str) -> list[str]:
    """`data.labels` when set, else the source's own order (a ClassLabel), else sorted names
    (numerically when every label is a whole number, so labels 0..9 keep their ids).

    Declared or source labels absent from the data are dropped; labels in the data that a
    declared list lacks are an error.
    """
    if declared:
        unknown = sorted(found - set(declared))
        if unknown:
            raise PipelineError("data-labels-undeclared", f"label(s) {unknown} are in the data but not in data.labels", where,
                                "add them to data.labels, or unset data.labels to take every label")
        return [label for label in declared if label in found]
    if from_source:
        return [label for label in from_source if label in found] + sorted(found - set(from_source))
    return sorted(found, key=int) if all(label.removeprefix("-").isdecimal() for label in found) else sorted(found)
