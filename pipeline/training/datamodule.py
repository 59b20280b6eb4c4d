"""LightningDataModule over the processed splits."""

from __future__ import annotations

import math

import lightning as L

from pipeline.data.loader import load_processed, make_loader


class TextDataModule(L.LightningDataModule):
    """Each process loads its share of the batches (the samplers shard by the trainer's rank and world size)."""

    def __init__(self, micro_batch_size: int, num_workers: int = 0, seed: int = 0, group_by_length: bool = False):
        super().__init__()
        self.micro_batch_size, self.num_workers, self.seed = micro_batch_size, num_workers, seed
        self.group_by_length = group_by_length
        self.dataset, self.tokenizer = load_processed()

    def batches_per_epoch(self) -> int:
        """Micro batches each process runs per epoch."""
        per_process = math.ceil(len(self.dataset["train"]) / self.trainer.world_size)
        return math.ceil(per_process / self.micro_batch_size)

    def train_dataloader(self):
        # Lightning restores its loop counters from a checkpoint before asking for the loader: a run resumed
        # mid-epoch starts that epoch's order after the batches it already trained on.
        loop = self.trainer.fit_loop
        done = loop.epoch_loop.batch_progress.current.processed if loop.restarting else 0
        return make_loader(self.dataset["train"], self.tokenizer, self.micro_batch_size,
                           shuffle=True, num_workers=self.num_workers, seed=self.seed,
                           group_by_length=self.group_by_length, epoch=self.trainer.current_epoch,
                           skip=done * self.micro_batch_size, **self.shard())

    def val_dataloader(self):
        return make_loader(self.dataset["validation"], self.tokenizer, self.micro_batch_size,
                           num_workers=self.num_workers, **self.shard())

    def shard(self) -> dict:
        return {"rank": self.trainer.global_rank, "replicas": self.trainer.world_size}
