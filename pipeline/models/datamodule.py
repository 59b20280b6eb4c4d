"""LightningDataModule over the processed splits."""

from __future__ import annotations

import lightning as L

from pipeline.data.loader import load_processed, make_loader


class TextDataModule(L.LightningDataModule):
    def __init__(self, micro_batch_size: int, num_workers: int = 0, seed: int = 0, group_by_length: bool = False):
        super().__init__()
        self.micro_batch_size, self.num_workers, self.seed = micro_batch_size, num_workers, seed
        self.group_by_length = group_by_length
        self.dataset, self.tokenizer = load_processed()

    def train_dataloader(self):
        return make_loader(self.dataset["train"], self.tokenizer, self.micro_batch_size,
                           shuffle=True, num_workers=self.num_workers, seed=self.seed,
                           group_by_length=self.group_by_length)

    def val_dataloader(self):
        return make_loader(self.dataset["validation"], self.tokenizer, self.micro_batch_size,
                           num_workers=self.num_workers)
