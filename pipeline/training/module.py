"""LightningModule around a transformers sequence-classification model."""

from __future__ import annotations

import math

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import CatMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score
from torchmetrics.functional.classification import multilabel_exact_match
from transformers import get_linear_schedule_with_warmup

from pipeline.core.errors import PipelineError
from pipeline.evaluation.metrics import macro_f1
from pipeline.evaluation.thresholds import decide, tune_thresholds
from pipeline.models.sources import MULTI_LABEL

NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm.weight", "norm.weight")


class TextClassifier(L.LightningModule):
    """Logs `train/loss`, `val/loss`, `val/accuracy`, `val/f1` (macro) and `val/f1_micro`. With `class_weights` the
    training loss is the weighted cross-entropy (validation loss stays unweighted).

    For label sets (`multi_label`: the model's config says multi_label_classification) each label is a sigmoid with
    binary cross-entropy (`class_weights` are then its positive weights); the validation metrics are those of the
    model as it will serve, each label's threshold tuned on the validation split as evaluate tunes it, and
    `val/accuracy` counts whole sets right.
    """

    def __init__(self, model, lr: float, weight_decay: float, warmup_ratio: float,
                 class_weights: torch.Tensor | None = None):
        super().__init__()
        self.model = model.train()  # from_pretrained returns eval mode; dropout belongs in training
        self.save_hyperparameters(ignore=["model", "class_weights"])
        self.register_buffer("class_weights", class_weights, persistent=False)  # follows the module's device
        num_labels = self.num_labels = model.config.num_labels
        self.multi_label = model.config.problem_type == MULTI_LABEL
        if self.multi_label:  # every validation row's probabilities, gathered from every process at the epoch's end
            self.val_probs, self.val_targets = CatMetric(), CatMetric()
        else:
            self.val_f1, self.val_f1_micro = (MulticlassF1Score(num_labels, average=mean) for mean in ("macro", "micro"))
            self.val_accuracy = MulticlassAccuracy(num_labels, average="micro")

    def training_step(self, batch, batch_idx):
        inputs = {name: value for name, value in batch.items() if name != "labels"}
        loss = self.loss(self.model(**inputs).logits, batch["labels"], self.class_weights)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Cross-entropy (weighted per class), or for label sets binary cross-entropy (weighted per label's
        positives)."""
        if self.multi_label:
            return F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=weights)
        return F.cross_entropy(logits.float(), labels, weight=weights)

    def validation_step(self, batch, batch_idx):
        document = batch.pop("document", None)
        labels = batch.pop("labels")
        logits = self.model(**batch).logits
        if document is not None:  # texts cut into windows: a text's logits are the mean of its windows'
            logits, labels = per_document(logits, labels, document)
        self.log("val/loss", self.loss(logits, labels), on_epoch=True, batch_size=len(labels), sync_dist=True)
        if self.multi_label:
            self.val_probs.update(torch.sigmoid(logits.float()))
            self.val_targets.update(labels.float())
            return
        preds = logits.argmax(dim=-1)
        for metric in (self.val_f1, self.val_f1_micro, self.val_accuracy):
            metric.update(preds, labels)

    def on_validation_epoch_end(self):  # torchmetrics gathers (sums) every process's rows (counts) before computing
        scores = self.label_set_scores() if self.multi_label else {
            "val/f1": self.val_f1.compute(), "val/f1_micro": self.val_f1_micro.compute(),
            "val/accuracy": self.val_accuracy.compute()}
        for name, value in scores.items():
            self.log(name, value, prog_bar=name == "val/f1")
        for metric in (self.val_probs, self.val_targets) if self.multi_label else (self.val_f1, self.val_f1_micro, self.val_accuracy):
            metric.reset()

    def label_set_scores(self) -> dict[str, float]:
        """Macro and micro F1 and whole sets right on the validation split, each label at the threshold tuned on it."""
        n = self.num_labels
        probs, targets = (metric.compute().reshape(-1, n).cpu() for metric in (self.val_probs, self.val_targets))
        preds = torch.from_numpy(decide(probs.numpy(), tune_thresholds(probs.numpy(), targets.numpy())))
        targets = targets.long()
        return {"val/f1": macro_f1(preds, targets, n), "val/f1_micro": macro_f1(preds, targets, n, average="micro"),
                "val/accuracy": float(multilabel_exact_match(preds, targets, n))}

    def configure_optimizers(self):
        # Counted here, not with trainer.estimated_stepping_batches: that builds the train loader before a
        # resumed run's loop state is restored, so the loader would restart the epoch from its beginning.
        trainer = self.trainer
        steps_per_epoch = math.ceil(trainer.datamodule.batches_per_epoch() / trainer.accumulate_grad_batches)
        return adamw_with_warmup(self, steps_per_epoch * trainer.max_epochs)


def per_document(logits: torch.Tensor, labels: torch.Tensor, document: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean logits and the label (or label set) of each text whose windows a batch holds (a text's rows are
    consecutive)."""
    _, row_text, windows = torch.unique_consecutive(document, return_inverse=True, return_counts=True)
    count = len(windows)
    sums = torch.zeros(count, logits.shape[1], dtype=logits.dtype, device=logits.device).index_add_(0, row_text, logits)
    first = torch.cumsum(windows, 0) - windows  # each text's first row
    return sums / windows.unsqueeze(1).to(logits.dtype), labels[first]


def class_weights(setting, labels: torch.Tensor, n: int) -> torch.Tensor | None:
    """The per-class loss weights of `train.class_weights`: None for "none"; for "balanced", rows / (classes x
    rows of that class) over the training labels (scikit-learn's "balanced"), or for label sets (a 0/1 row per
    text) each label's positive weight, its negative rows over its positive rows; or the given list, one per
    label. "auto" is "none" for single labels and "balanced" for label sets (docs/benchmarks.md: on GoEmotions
    it lifts test macro F1 from 0.473 to 0.572)."""
    if setting == "auto":
        setting = "balanced" if labels.dim() == 2 else "none"
    if setting == "none":
        return None
    if setting == "balanced" and labels.dim() == 2:
        positives = labels.float().sum(dim=0)
        return (len(labels) - positives) / positives.clamp(min=1)
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
