"""Batches from the processed dataset, padded per batch to its longest example (dynamic padding)."""

from __future__ import annotations

import math

import torch
from datasets import Dataset, DatasetDict, load_from_disk
from torch.utils.data import DataLoader, Sampler
from transformers import AutoTokenizer, DataCollatorWithPadding, PreTrainedTokenizerBase

from pipeline.core import paths
from pipeline.data.pairs import examples

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")


def load_processed() -> tuple[DatasetDict, PreTrainedTokenizerBase]:
    """The tokenized splits (as torch tensors) and the tokenizer that made them. Texts cut into windows
    (data.long_text=chunks) are a row per window; validation and test rows keep their text's `document`."""
    dataset = load_from_disk(str(paths.DATASET))
    for name, split in dataset.items():
        windows = ["document"] if name != "train" and "document" in split.column_names else []
        split.set_format("torch", columns=[c for c in MODEL_INPUTS if c in split.column_names] + windows)
    return dataset, AutoTokenizer.from_pretrained(paths.TOKENIZER)


def split_texts(split: str) -> list:
    """The raw texts of one processed split (in dataset order): strings, or (text, text_pair) for pairs."""
    return examples(_texts(load_from_disk(str(paths.DATASET / split))))


def split_examples(split: str) -> tuple[list, torch.Tensor]:
    """The raw texts (split_texts) of one processed split and their label ids (in dataset order); for label sets
    (task=multi_label), a 0/1 row per text."""
    data = _texts(load_from_disk(str(paths.DATASET / split)))
    return examples(data), torch.tensor(data["labels"][:]).long()


def _texts(data: Dataset) -> Dataset:
    """One row per text: the first window of each where texts were cut into windows."""
    if "document" not in data.column_names:
        return data
    documents = data["document"][:]
    return data.select([i for i, document in enumerate(documents) if i == 0 or document != documents[i - 1]])


def document_batches(documents: list[int], batch_size: int, rank: int = 0, replicas: int = 1) -> list[list[int]]:
    """Batches of whole texts' windows (rows of the same `document` are consecutive): up to `batch_size` rows,
    or one text's windows alone where they are more; with several processes, process `rank` takes every
    `replicas`-th text."""
    texts = []
    for i, document in enumerate(documents):
        if i and document == documents[i - 1]:
            texts[-1].append(i)
        else:
            texts.append([i])
    batches = []
    for rows in texts[rank::replicas]:
        if batches and len(batches[-1]) + len(rows) <= batch_size:
            batches[-1] += rows
        else:
            batches.append(list(rows))
    return batches


class EpochSampler(Sampler[int]):
    """A seeded order of the examples that depends only on (seed, epoch), not on what ran before.

    So a run resumed mid-epoch sees the order an uninterrupted run would: Lightning calls set_epoch
    every epoch, and `skip` drops the examples the resumed epoch already trained on.
    With `lengths`, examples are grouped by length (less padding): shuffle, cut into pools of POOL
    batches, sort each pool by length, cut it into batches and shuffle the batches, the one short
    batch last so that consecutive `batch_size` chunks stay the grouped batches.

    With several processes (`replicas`), the order is cut into steps of `batch_size` x `replicas`
    examples and process `rank` takes every `replicas`-th example: together the processes train on
    the batches one process would, step by step. The order is padded by wrapping around so that
    every process gets the same number of batches (DDP needs that).
    """

    POOL = 50

    def __init__(self, size: int, seed: int, batch_size: int, lengths: list[int] | None = None,
                 epoch: int = 0, skip: int = 0, rank: int = 0, replicas: int = 1):
        self.size, self.seed, self.batch_size, self.lengths = size, seed, batch_size, lengths
        self.epoch, self.skip, self.rank, self.replicas = epoch, skip, rank, replicas

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> list[int]:
        """This process's examples for the epoch (all of them with one process)."""
        order = self.global_order()
        order += order[:len(self) * self.replicas - self.size]
        return order[self.rank::self.replicas]

    def global_order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        if self.lengths is None:
            return order
        step = self.batch_size * self.replicas
        pool = step * self.POOL
        batches = []
        for start in range(0, self.size, pool):
            chunk = sorted(order[start:start + pool], key=lambda i: self.lengths[i], reverse=True)
            batches += [chunk[i:i + step] for i in range(0, len(chunk), step)]
        shuffled = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        shuffled.sort(key=lambda batch: len(batch) < step)  # stable: the short batch goes last
        return [i for batch in shuffled for i in batch]

    def __iter__(self):
        skip, self.skip = self.skip, 0
        yield from self.order()[skip:]

    def __len__(self) -> int:
        return math.ceil(self.size / self.replicas)


def make_loader(split: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int,
                shuffle: bool = False, num_workers: int = 0, seed: int = 0,
                group_by_length: bool = False, epoch: int = 0, skip: int = 0,
                rank: int = 0, replicas: int = 1) -> DataLoader:
    """Batches padded to their longest example; shuffled by (seed, epoch), optionally grouped by length.

    `epoch` and `skip` (examples already trained on) start a shuffled loader where a resumed run left off.
    With several processes, process `rank` of `replicas` gets its share: an equal one of the shuffled
    order (EpochSampler), or every `replicas`-th example of an unshuffled split (no padding: evaluation
    metrics are summed over the processes, so no example may count twice). An unshuffled split cut into
    windows comes in batches of whole texts (document_batches).
    """
    if not shuffle and "document" in split.column_names:  # a text's windows are scored together
        batches = document_batches(split.with_format(None)["document"][:], batch_size, rank, replicas)
        return DataLoader(split, batch_sampler=batches, collate_fn=DataCollatorWithPadding(tokenizer),
                          num_workers=num_workers, persistent_workers=num_workers > 0)
    sampler = range(rank, len(split), replicas) if replicas > 1 else None
    if shuffle:
        lengths = [len(ids) for ids in split.with_format(None)["input_ids"][:]] if group_by_length else None
        sampler = EpochSampler(len(split), seed, batch_size, lengths, epoch, skip, rank, replicas)
    return DataLoader(split, batch_size=batch_size, sampler=sampler, collate_fn=DataCollatorWithPadding(tokenizer),
                      num_workers=num_workers, persistent_workers=num_workers > 0)
