"""LightningModule around a transformers sequence-classification model."""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from transformers import get_linear_schedule_with_warmup

from pipeline.core.errors import PipelineError

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


class TextClassifier(L.LightningModule):
    """Logs `train/loss`, `val/loss`, `val/accuracy` and `val/f1` (macro). With `class_weights` the training loss
    is the weighted cross-entropy (validation loss stays the model's own, unweighted)."""

    def __init__(self, model, lr: float, weight_decay: float, warmup_ratio: float,
                 class_weights: torch.Tensor | None = None):
        super().__init__()
        self.model = model.train()  # from_pretrained returns eval mode; dropout belongs in training
        self.save_hyperparameters(ignore=["model", "class_weights"])
        self.register_buffer("class_weights", class_weights, persistent=False)  # follows the module's device
        num_labels = model.config.num_labels
        self.val_f1 = MulticlassF1Score(num_labels, average="macro")
        self.val_accuracy = MulticlassAccuracy(num_labels, average="micro")

    def training_step(self, batch, batch_idx):
        if self.class_weights is None:
            loss = self.model(**batch).loss
        else:
            inputs = {name: value for name, value in batch.items() if name != "labels"}
            logits = self.model(**inputs).logits
            loss = F.cross_entropy(logits.float(), batch["labels"], weight=self.class_weights)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        document = batch.pop("document", None)
        logits, labels = self.model(**batch).logits, batch["labels"]
        if document is not None:  # texts cut into windows: a text's logits are the mean of its windows'
            logits, labels = per_document(logits, labels, document)
        preds = logits.argmax(dim=-1)
        self.val_f1.update(preds, labels)
        self.val_accuracy.update(preds, labels)
        self.log("val/loss", F.cross_entropy(logits.float(), labels), on_epoch=True, batch_size=len(preds),
                 sync_dist=True)

    def on_validation_epoch_end(self):  # torchmetrics sums the counts of every process before computing
        self.log("val/f1", self.val_f1.compute(), prog_bar=True)
        self.log("val/accuracy", self.val_accuracy.compute())
        self.val_f1.reset()
        self.val_accuracy.reset()

    def configure_optimizers(self):
        # Counted here, not with trainer.estimated_stepping_batches: that builds the train loader before a
        # resumed run's loop state is restored, so the loader would restart the epoch from its beginning.
        trainer = self.trainer
        steps_per_epoch = math.ceil(trainer.datamodule.batches_per_epoch() / trainer.accumulate_grad_batches)
        return adamw_with_warmup(self, steps_per_epoch * trainer.max_epochs)


def per_document(logits: torch.Tensor, labels: torch.Tensor, document: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean logits and the label of each text whose windows a batch holds (a text's rows are consecutive)."""
    _, row_text = torch.unique_consecutive(document, return_inverse=True)
    count = int(row_text.max()) + 1
    sums = torch.zeros(count, logits.shape[1], dtype=logits.dtype, device=logits.device).index_add_(0, row_text, logits)
    windows = torch.bincount(row_text, minlength=count).unsqueeze(1).to(logits.dtype)
    return sums / windows, torch.zeros(count, dtype=labels.dtype, device=labels.device).scatter_(0, row_text, labels)


def class_weights(setting, labels: torch.Tensor, n: int) -> torch.Tensor | None:
    """The per-class loss weights of `train.class_weights`: None for "none"; for "balanced", rows / (classes x
    rows of that class) over the training labels (scikit-learn's "balanced"); or the given list, one per label."""
    if setting == "none":
        return None
    if setting == "balanced":
        counts = torch.bincount(labels, minlength=n).float()
        return len(labels) / (n * counts.clamp(min=1))
    if len(setting) != n:
        raise PipelineError("config-out-of-range", f"train.class_weights has {len(setting)} weights for {n} labels",
                            "params.yaml train.class_weights", f"give {n} weights, in the order of labels.json")
    return torch.tensor([float(weight) for weight in setting])


def adamw_with_warmup(module: L.LightningModule, total_steps: int) -> dict:
    """AdamW over the trainable weights (no decay on biases and norms), linear warmup then decay per step.

    Reads lr, weight_decay and warmup_ratio from the module's hparams.
    """
    named = [(n, p) for n, p in module.model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": [p for n, p in named if not n.endswith(NO_DECAY)], "weight_decay": module.hparams.weight_decay},
        {"params": [p for n, p in named if n.endswith(NO_DECAY)], "weight_decay": 0.0},
    ], lr=module.hparams.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(module.hparams.warmup_ratio * total_steps), total_steps)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
