"""Batches from the processed dataset, padded per batch to its longest example (dynamic padding)."""

from __future__ import annotations

import torch
from datasets import Dataset, DatasetDict, load_from_disk
from torch.utils.data import DataLoader
from transformers import AutoTokenizer, DataCollatorWithPadding, PreTrainedTokenizerBase

from pipeline import paths

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


def load_processed() -> tuple[DatasetDict, PreTrainedTokenizerBase]:
    """The tokenized splits (as torch tensors) and the tokenizer that made them."""
    dataset = load_from_disk(str(paths.DATASET))
    columns = [c for c in MODEL_INPUTS if c in dataset["train"].column_names]
    dataset.set_format("torch", columns=columns)
    return dataset, AutoTokenizer.from_pretrained(paths.TOKENIZER)


def split_texts(split: str) -> list[str]:
    """The raw texts of one processed split (in dataset order)."""
    return load_from_disk(str(paths.DATASET / split))["text"]


def make_loader(split: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int,
                shuffle: bool = False, num_workers: int = 0, seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(split, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=DataCollatorWithPadding(tokenizer), num_workers=num_workers,
                      persistent_workers=num_workers > 0)
