"""Tokenize split texts with a datasets batched map (no padding: batches are padded on the fly).

Tokenized splits are cached in .cache/tokenized/ under a hash of the tokenizer, the cut (length and
side) and the split's texts and labels: a re-run, or another model with the same tokenizer
(bert-base-uncased and MiniLM share one), reuses them. The hash is also the split's datasets
fingerprint, so the same data gives byte-identical data/processed files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value, load_from_disk
from transformers import PreTrainedTokenizerBase

CACHE = Path(".cache/tokenized")
TRUNCATED = "truncated.json"  # in each cache entry: how many texts were longer than max_len


def to_dataset(parts: dict[str, pd.DataFrame], labels: list[str]) -> DatasetDict:
    """Frames with text/label columns to a DatasetDict with integer `labels`."""
    features = Features({"text": Value("string"), "labels": ClassLabel(names=labels)})
    return DatasetDict({
        name: Dataset.from_dict({"text": list(frame["text"]), "labels": list(frame["label"])}, features=features)
        for name, frame in parts.items()
    })


def tokenize(dataset: DatasetDict, tokenizer: PreTrainedTokenizerBase, max_len: int,
             cache: Path = CACHE) -> tuple[DatasetDict, dict[str, int]]:
    """Add input_ids/attention_mask (and token_type_ids where the tokenizer makes them), cut to
    `max_len` on the tokenizer's truncation side; also return how many examples per split were cut."""
    tokenized, truncated = {}, {}
    identity = tokenizer_identity(tokenizer, max_len)  # before any call: calls change backend settings
    for name, split in dataset.items():
        entry = cache / cache_key(split, identity)
        if not (entry / TRUNCATED).exists():
            _fill(entry, split, tokenizer, max_len, name)
        tokenized[name] = load_from_disk(str(entry))
        truncated[name] = json.loads((entry / TRUNCATED).read_text())
    return DatasetDict(tokenized), truncated


def _fill(entry: Path, split: Dataset, tokenizer: PreTrainedTokenizerBase, max_len: int, name: str) -> None:
    """Tokenize `split` into the cache entry, with the count of texts longer than `max_len` beside it."""
    encoded = split.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_len),
                        batched=True, desc=f"Tokenizing {name}", new_fingerprint=entry.name)
    full_lengths = tokenizer(list(split["text"]), return_length=True, verbose=False)["length"]
    staging = entry.with_name(f"{entry.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    encoded.save_to_disk(str(staging))
    (staging / TRUNCATED).write_text(json.dumps(sum(length > max_len for length in full_lengths)))
    shutil.rmtree(entry, ignore_errors=True)
    staging.rename(entry)


def tokenizer_identity(tokenizer: PreTrainedTokenizerBase, max_len: int) -> str:
    """The tokenizer's full definition and how it cuts texts."""
    vocabulary = (tokenizer.backend_tokenizer.to_str() if tokenizer.is_fast
                  else json.dumps(sorted(tokenizer.get_vocab().items())))
    return json.dumps([vocabulary, max_len, tokenizer.truncation_side])


def cache_key(split: Dataset, identity: str) -> str:
    """A hash of everything a tokenized split depends on."""
    digest = hashlib.sha256(identity.encode())
    digest.update(json.dumps(split.features["labels"].names).encode())
    for text, label in zip(split["text"], split["labels"]):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()[:32]
