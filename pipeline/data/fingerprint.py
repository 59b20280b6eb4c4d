"""What a model trained on: the hashes of its training texts (normalised, as preprocess wrote them), logged
with each training run so that a later champion contest scores it only on rows it never saw."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

ARTIFACT = "data/training_rows.json"  # in the training run's artifacts
HASH = "SHA-256 of the UTF-8 text, first 8 bytes, hex"


def text_hash(text: str) -> str:
    """The first 8 bytes of the text's SHA-256, hex: 2^-64 odds that two different texts collide."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(texts: Iterable[str]) -> dict:
    """The training texts as a sorted list of hashes, for ARTIFACT."""
    hashes = sorted({text_hash(text) for text in texts})
    return {"hash": HASH, "rows": len(hashes), "texts": hashes}
