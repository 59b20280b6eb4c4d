"""Batches from the processed dataset, padded per batch to its longest example (dynamic padding)."""

from __future__ import annotations

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


class EpochSampler(Sampler[int]):
    """A seeded order of the examples that depends only on (seed, epoch), not on what ran before.

    So a run resumed mid-epoch sees the order an uninterrupted run would: Lightning calls set_epoch
    every epoch, and `skip` drops the examples the resumed epoch already trained on.
    With `lengths`, examples are grouped by length (less padding): shuffle, cut into pools of POOL
    batches, sort each pool by length, cut it into batches and shuffle the batches, the one short
    batch last so that consecutive `batch_size` chunks stay the grouped batches.
    """

    POOL = 50

    def __init__(self, size: int, seed: int, batch_size: int, lengths: list[int] | None = None,
                 epoch: int = 0, skip: int = 0):
        self.size, self.seed, self.batch_size, self.lengths = size, seed, batch_size, lengths
        self.epoch, self.skip = epoch, skip

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        if self.lengths is None:
            return order
        pool = self.batch_size * self.POOL
        batches = []
        for start in range(0, self.size, pool):
            chunk = sorted(order[start:start + pool], key=lambda i: self.lengths[i], reverse=True)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        shuffled.sort(key=lambda batch: len(batch) < self.batch_size)  # stable: the short batch goes last
        return [i for batch in shuffled for i in batch]

    def __iter__(self):
        skip, self.skip = self.skip, 0
        yield from self.order()[skip:]

    def __len__(self) -> int:
        return self.size


def make_loader(split: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int,
                shuffle: bool = False, num_workers: int = 0, seed: int = 0,
                group_by_length: bool = False, epoch: int = 0, skip: int = 0) -> DataLoader:
    """Batches padded to their longest example; shuffled by (seed, epoch), optionally grouped by length.

    `epoch` and `skip` (examples already trained on) start a shuffled loader where a resumed run left off.
    """
    sampler = None
    if shuffle:
        lengths = [len(ids) for ids in split.with_format(None)["input_ids"]] if group_by_length else None
        sampler = EpochSampler(len(split), seed, batch_size, lengths, epoch, skip)
    return DataLoader(split, batch_size=batch_size, sampler=sampler, collate_fn=DataCollatorWithPadding(tokenizer),
                      num_workers=num_workers, persistent_workers=num_workers > 0)
