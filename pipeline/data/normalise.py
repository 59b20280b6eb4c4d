"""The one text normalisation: preprocess applies it to the data, and every serving path (the registered
model, predict, evaluate, the ONNX check, champion scoring) to what it is given. Standard library only:
this file travels with every registered model, beside text_classifier.py."""

from __future__ import annotations

import html


def normalise_text(text: str) -> str:
    """Unescape HTML entities until none is left (&amp;amp; -> &) and collapse runs of whitespace (line
    breaks, tabs) to one space. Applied to its own output it changes nothing, so a text preprocess
    normalised reads the same when a serving path normalises it again."""
    while (unescaped := html.unescape(text)) != text:
        text = unescaped
    return " ".join(text.split())


class BadText(ValueError):
    """A text a model cannot be asked about: null, not a string, or empty."""


def request_texts(values) -> list[str]:
    """The texts of a request, normalised; BadText naming the first that is not a string (null) or has
    nothing left to classify (empty, or only whitespace and entities such as &nbsp;)."""
    texts = []
    for number, value in enumerate(values, 1):
        if not isinstance(value, str):
            kind = "null" if value is None or value != value else type(value).__name__  # NaN: a null in pandas
            raise BadText(f"text {number} is {kind}, not a string: send every text as a string")
        text = normalise_text(value)
        if not text:
            raise BadText(f"text {number} is empty once HTML entities and whitespace are read: nothing to "
                             "classify; leave it out")
        texts.append(text)
    return texts
