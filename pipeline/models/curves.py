"""Record training and validation curves as CSV files for `dvc plots`."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from pipeline.atomic import write_csv

VAL_METRICS = ("val/loss", "val/f1", "val/accuracy")


class CurveRecorder(L.Callback):
    """Keeps train/loss per batch and the validation metrics per epoch."""

    def __init__(self):
        self.train_rows: list[dict] = []
        self.val_rows: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train_rows.append({"step": trainer.global_step, "epoch": trainer.current_epoch,
                                "train/loss": round(float(outputs["loss"]), 6)})

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        self.val_rows.append({"epoch": trainer.current_epoch,
                              **{name: round(float(metrics[name]), 6) for name in VAL_METRICS}})

    def write(self, folder: Path) -> None:
        write_csv(folder / "train_loss.csv", self.train_rows)
        write_csv(folder / "val.csv", self.val_rows)
