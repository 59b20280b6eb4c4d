"""Batches from the processed dataset, padded per batch to its longest example (dynamic padding)."""

from __future__ import annotations

import math

import torch
from datasets import Dataset, DatasetDict, load_from_disk
from torch.utils.data import DataLoader, Sampler
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


class LengthGroupedBatches(Sampler[list[int]]):
    """Batches of similar lengths (less padding) in a seeded random order that changes every epoch.

    Shuffle every index, cut the order into pools of POOL batches, sort each pool by length, cut it
    into batches and shuffle the batches: each epoch covers every example once.
    """

    POOL = 50

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths, self.batch_size, self.seed, self.epoch = lengths, batch_size, seed, 0

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(len(self.lengths), generator=generator).tolist()
        pool = self.batch_size * self.POOL
        batches = []
        for start in range(0, len(order), pool):
            chunk = sorted(order[start:start + pool], key=lambda i: self.lengths[i], reverse=True)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        for index in torch.randperm(len(batches), generator=generator).tolist():
            yield batches[index]

    def __len__(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)


def make_loader(split: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int,
                shuffle: bool = False, num_workers: int = 0, seed: int = 0,
                group_by_length: bool = False) -> DataLoader:
    """Batches padded to their longest example; shuffled (seeded), optionally grouped by length."""
    common = {"collate_fn": DataCollatorWithPadding(tokenizer), "num_workers": num_workers,
              "persistent_workers": num_workers > 0}
    if shuffle and group_by_length:
        lengths = [len(ids) for ids in split.with_format(None)["input_ids"]]
        return DataLoader(split, batch_sampler=LengthGroupedBatches(lengths, batch_size, seed), **common)
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(split, batch_size=batch_size, shuffle=shuffle, generator=generator, **common)
