"""Tokenize split texts with a datasets batched map (no padding: batches are padded on the fly)."""

from __future__ import annotations

import pandas as pd
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import PreTrainedTokenizerBase


def to_dataset(parts: dict[str, pd.DataFrame], labels: list[str]) -> DatasetDict:
    """Frames with text/label columns to a DatasetDict with integer `labels`."""
    features = Features({"text": Value("string"), "labels": ClassLabel(names=labels)})
    return DatasetDict({
        name: Dataset.from_dict({"text": list(frame["text"]), "labels": list(frame["label"])}, features=features)
        for name, frame in parts.items()
    })


def tokenize(dataset: DatasetDict, tokenizer: PreTrainedTokenizerBase,
             max_len: int) -> tuple[DatasetDict, dict[str, int]]:
    """Add input_ids/attention_mask (and token_type_ids where the tokenizer makes them), cut to
    `max_len` on the tokenizer's truncation side; also return how many examples per split were cut."""
    tokenized = dataset.map(lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_len),
                            batched=True, desc="Tokenizing")
    truncated = {name: sum(length > max_len for length in
                           tokenizer(list(split["text"]), return_length=True, verbose=False)["length"])
                 for name, split in dataset.items()}
    return tokenized, truncated
