"""The one text normalisation: preprocess applies it to the data, and every serving path (the registered
model, predict, evaluate, the ONNX check, champion scoring) to what it is given. Standard library only:
this file travels with every registered model, beside text_classifier.py."""

from __future__ import annotations

import html

PAIR = "text_pair"  # the second text of a pair: its column in the data, the processed splits and a request
PAIRS_SETTING = "text_pairs"  # in a saved tokenizer's settings: true where the model was trained on pairs of texts


def normalise_text(text: str) -> str:
    """Unescape HTML entities until none is left (&amp;amp; -> &) and collapse runs of whitespace (line
    breaks, tabs) to one space. Applied to its own output it changes nothing, so a text preprocess
    normalised reads the same when a serving path normalises it again."""
    while (unescaped := html.unescape(text)) != text:
        text = unescaped
    return " ".join(text.split())


class BadText(ValueError):
    """A text a model cannot be asked about: null, not a string, or empty; or a single text where the model
    reads pairs, or the other way round."""


def request_texts(values, pairs: bool = False) -> list:
    """The texts of a request, normalised: strings, or for a model of text pairs (`pairs`) (text, text_pair)
    tuples. BadText names the first that is not a string (null) or has nothing left to classify (empty, or
    only whitespace and entities such as &nbsp;), or that is not the kind the model reads."""
    texts = []
    for number, value in enumerate(values, 1):
        is_pair = isinstance(value, (tuple, list)) and len(value) == 2
        if pairs and not is_pair:
            raise BadText(f"text {number} is not a pair of texts, and the model classifies pairs: send `text` and "
                          f"`{PAIR}`")
        if is_pair and not pairs:
            raise BadText(f"text {number} is a pair of texts, and the model classifies single texts: send `text` "
                          "alone")
        if pairs:
            texts.append(tuple(_request_text(part, f"text {number}'s {name}") for part, name in zip(value, ("text", PAIR))))
        else:
            texts.append(_request_text(value, f"text {number}"))
    return texts


def _request_text(value, name: str) -> str:
    if not isinstance(value, str):
        kind = "null" if value is None or value != value else type(value).__name__  # NaN: a null in pandas
        raise BadText(f"{name} is {kind}, not a string: send every text as a string")
    text = normalise_text(value)
    if not text:
        raise BadText(f"{name} is empty once HTML entities and whitespace are read: nothing to classify; leave "
                      "it out")
    return text
