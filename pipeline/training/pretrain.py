"""Masked-language-model pretraining of a `scratch` model on unlabelled texts, before fine-tuning.

The saved folder loads as the encoder of a classifier (models.sources.build_model(..., start_from=folder)):
every encoder weight comes from pretraining, the MLM head (`cls.*`) is dropped, and the classification
head is new. BERT's pooler is new as well: masked-LM models have none (it was trained by next-sentence
prediction, which this does not do), so it starts random from the fine-tuning seed. Full fine-tuning
trains it; head_only and LoRA keep it frozen, a fixed random projection of the [CLS] state.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader
from transformers import (AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling, PretrainedConfig,
                          PreTrainedTokenizerBase)

from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.core.redact import redact
from pipeline.data.corpus import corpus_texts
from pipeline.models.architectures import scratch_config
from pipeline.models.safe_load import load_pretrained
from pipeline.tracking.fallback_logger import FallbackMLFlowLogger
from pipeline.tracking.store import reachable_tracking_uri, run_tags
from pipeline.training.module import adamw_with_warmup

LOSS_WINDOW = 10  # steps averaged for the summary's first_loss and last_loss


class MaskedLMModule(L.LightningModule):
    """Logs `pretrain/loss`; keeps every step's loss (`losses`) for the summary."""

    def __init__(self, model, lr: float, weight_decay: float, warmup_ratio: float):
        super().__init__()
        self.model = model.train()
        self.save_hyperparameters(ignore=["model"])
        self.losses: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        loss = self.model(**batch).loss
        self.log("pretrain/loss", loss, prog_bar=True)
        self.losses.append(loss.detach())
        return loss

    def configure_optimizers(self):
        return adamw_with_warmup(self, self.trainer.max_steps)


def mlm_loader(tokenizer: PreTrainedTokenizerBase, texts: list[str], batch_size: int, max_len: int,
               mlm_probability: float, seed: int) -> DataLoader:
    """Shuffled batches of `texts`, padded per batch and masked, the same order and masks for the same seed."""
    encoded = tokenizer(texts, truncation=True, max_length=max_len, return_special_tokens_mask=True)
    examples = [dict(zip(encoded, values)) for values in zip(*encoded.values())]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability, seed=seed)
    return DataLoader(examples, batch_size=batch_size, shuffle=True, collate_fn=collator,
                      generator=torch.Generator().manual_seed(seed))


def pretrain_mlm(config: PretrainedConfig, tokenizer: PreTrainedTokenizerBase, texts: list[str], *, steps: int,
                 batch_size: int, lr: float, max_len: int, seed: int, out_dir: Path, mlm_probability: float = 0.15,
                 weight_decay: float = 0.01, warmup_ratio: float = 0.1, accelerator: str = "cpu",
                 precision: str = "32-true", deterministic: bool | str = True, log_every_n_steps: int = 50,
                 logger=None) -> dict:
    """Train a masked-LM model from `config` for `steps` optimiser steps over `texts` (cycled as needed).

    Saves the model (safetensors) and the tokenizer to `out_dir`; returns a summary with the mean loss of
    the first and the last LOSS_WINDOW steps. The same seed gives the same weights (on CPU, byte for byte).
    """
    L.seed_everything(seed, workers=True, verbose=False)
    module = MaskedLMModule(AutoModelForMaskedLM.from_config(config), lr, weight_decay, warmup_ratio)
    loader = mlm_loader(tokenizer, texts, batch_size, max_len, mlm_probability, seed)
    with tempfile.TemporaryDirectory(prefix="pretrain-") as root_dir:
        trainer = L.Trainer(
            accelerator=accelerator, devices=1, precision=precision, max_steps=steps, max_epochs=-1,
            deterministic=deterministic, logger=logger if logger is not None else False,
            log_every_n_steps=log_every_n_steps, enable_checkpointing=False, enable_progress_bar=False,
            enable_model_summary=False, default_root_dir=root_dir)
        trainer.fit(module, train_dataloaders=loader)
    module.model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    losses = torch.stack(module.losses).float().cpu()
    return {"steps": trainer.global_step, "texts": len(texts),
            "first_loss": round(losses[:LOSS_WINDOW].mean().item(), 4),
            "last_loss": round(losses[-LOSS_WINDOW:].mean().item(), 4)}


def pretrain_tracked(cfg: DictConfig, settings: dict, out_dir: Path) -> dict:
    """pretrain_mlm on `pretrain.corpus` for a scratch `model.arch`, logged to MLflow (tag stage=pretrain)
    under the plan's `settings`; returns its summary with the MLflow run id and the time it took."""
    if cfg.model.arch.family == "lstm":
        raise PipelineError("pretrain-lstm", "masked-language-model pretraining needs a transformer, not the lstm baseline",
                            "params.yaml pretrain.steps", "set -S pretrain.steps=0 for model=lstm")
    uri = reachable_tracking_uri(cfg.tracking)
    tokenizer = load_pretrained(AutoTokenizer, paths.TOKENIZER, cfg.model.trust_remote_code)
    texts = corpus_texts(cfg.pretrain.corpus)
    config = scratch_config(cfg.model.arch, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    logger = FallbackMLFlowLogger(cfg.tracking.experiment, uri, f"pretrain-{cfg.model.name}-{cfg.data.name}",
                                  redact({**run_tags(cfg), "stage": "pretrain"}))
    logger.log_hyperparams(redact({"pretrain": OmegaConf.to_container(cfg.pretrain, resolve=True),
                                   "corpus_texts": len(texts)}))
    started = time.perf_counter()
    result = pretrain_mlm(config, tokenizer, texts, steps=cfg.pretrain.steps, batch_size=cfg.pretrain.batch_size,
                          lr=cfg.pretrain.lr, max_len=tokenizer.model_max_length, seed=cfg.seed, out_dir=out_dir,
                          mlm_probability=cfg.pretrain.mlm_probability, accelerator=settings["accelerator"],
                          precision=settings["precision"], deterministic=settings["deterministic"], logger=logger)
    return {"mlflow_run_id": logger.run_id, **result, "seconds": round(time.perf_counter() - started, 1)}
