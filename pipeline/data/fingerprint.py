"""What a model trained on: the hashes of its training texts (normalised, as preprocess wrote them), logged
with each training run so that a later champion contest scores it only on rows it never saw."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from pipeline.data.pairs import example_key

ARTIFACT = "data/training_rows.json"  # in the training run's artifacts
HASH = "SHA-256 of the UTF-8 text (of a pair: text, NUL, text_pair), first 8 bytes, hex"


def text_hash(text: str | tuple[str, str]) -> str:
    """The first 8 bytes of the text's (or pair's) SHA-256, hex: 2^-64 odds that two different texts collide."""
    return hashlib.sha256(example_key(text).encode()).hexdigest()[:16]


def fingerprint(texts: Iterable) -> dict:
    """The training texts as a sorted list of hashes, for ARTIFACT."""
    hashes = sorted({text_hash(text) for text in texts})
    return {"hash": HASH, "rows": len(hashes), "texts": hashes}
