"""Record training and validation curves as CSV files for `dvc plots`."""

from __future__ import annotations

from pathlib import Path

import lightning as L

from pipeline.core.atomic import write_csv

VAL_METRICS = ("val/loss", "val/f1", "val/accuracy")


class CurveRecorder(L.Callback):
    """Keeps train/loss per batch and the validation metrics per epoch."""

    def __init__(self):
        self.train_rows: list[dict] = []
        self.val_rows: list[dict] = []
        self.round, self.step_offset, self.epoch_offset = 0, 0, 0

    def start_round(self, index: int) -> None:
        """Continue the curves across refinement rounds (each round's trainer counts from zero)."""
        self.round = index
        self.step_offset = self.train_rows[-1]["step"] if self.train_rows else 0
        self.epoch_offset = self.val_rows[-1]["epoch"] + 1 if self.val_rows else 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.train_rows.append({"step": self.step_offset + trainer.global_step, "round": self.round,
                                "epoch": self.epoch_offset + trainer.current_epoch,
                                "train/loss": round(float(outputs["loss"]), 6)})

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        self.val_rows.append({"epoch": self.epoch_offset + trainer.current_epoch, "round": self.round,
                              **{name: round(float(metrics[name]), 6) for name in VAL_METRICS}})

    def state_dict(self) -> dict:
        """Saved in checkpoints, so a resumed run's curves include what came before the interruption."""
        return {"train_rows": self.train_rows, "val_rows": self.val_rows, "round": self.round,
                "step_offset": self.step_offset, "epoch_offset": self.epoch_offset}

    def load_state_dict(self, state_dict: dict) -> None:
        self.train_rows, self.val_rows = list(state_dict["train_rows"]), list(state_dict["val_rows"])
        self.round, self.step_offset = state_dict["round"], state_dict["step_offset"]
        self.epoch_offset = state_dict["epoch_offset"]

    def write(self, folder: Path) -> None:
        write_csv(folder / "train_loss.csv", self.train_rows)
        write_csv(folder / "val.csv", self.val_rows)
