"""Stage train: fine-tune the model under the resolved plan, track it in MLflow, save the best weights.

Read top to bottom: seed -> data -> model -> logger -> callbacks -> fit -> keep the best checkpoint.
"""

from __future__ import annotations

import json
import tempfile

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig, OmegaConf

from pipeline import paths
from pipeline.atomic import atomic_dir
from pipeline.errors import PipelineError, run_main
from pipeline.models.curves import CurveRecorder
from pipeline.models.datamodule import TextDataModule
from pipeline.models.factory import build_model
from pipeline.models.module import TextClassifier
from pipeline.params import load_params
from pipeline.tracking import run_tags, tracking_uri

MONITOR = "val/f1"


def train(cfg: DictConfig, plan: dict) -> dict:
    """Fit, save the best model to models/trained, and return the training summary."""
    settings = plan["settings"]
    if settings["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise PipelineError(f"the plan targets {plan['target']} but torch sees no GPU here", str(paths.PLAN),
                            "train with -S gpu=auto, or run on the planned card (gpu.plan_only only plans)")
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(settings["matmul_precision"])

    datamodule = TextDataModule(settings["micro_batch_size"], settings["num_workers"], cfg.seed)
    labels = json.loads(paths.LABELS.read_text())
    model = build_model(cfg.model, labels, datamodule.tokenizer, settings["attention"])
    if settings["gradient_checkpointing"]:
        model.gradient_checkpointing_enable()
    module = TextClassifier(model, cfg.train.lr, cfg.train.weight_decay, cfg.train.warmup_ratio)
    if settings["compile"]:
        module.model = torch.compile(model)

    logger = MLFlowLogger(experiment_name=cfg.tracking.experiment, tracking_uri=tracking_uri(cfg.tracking),
                          run_name=f"{cfg.model.name}-{cfg.data.name}", tags=run_tags(cfg))
    logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), "plan": settings})

    recorder = CurveRecorder()
    with tempfile.TemporaryDirectory(prefix="checkpoints-") as checkpoint_dir:
        checkpoint = ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=MONITOR, mode="max",
                                     save_top_k=1, save_weights_only=True)
        early_stopping = EarlyStopping(monitor=MONITOR, mode="max", patience=cfg.train.early_stopping_patience)
        trainer = L.Trainer(
            accelerator=settings["accelerator"], devices=settings["devices"], precision=settings["precision"],
            accumulate_grad_batches=settings["accumulate_grad_batches"], max_epochs=cfg.train.max_epochs,
            deterministic=settings["deterministic"], log_every_n_steps=cfg.train.log_every_n_steps,
            logger=logger, callbacks=[checkpoint, early_stopping, recorder], default_root_dir=checkpoint_dir)
        trainer.fit(module, datamodule=datamodule)
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
        module.load_state_dict(best["state_dict"])

    summary = {"mlflow_run_id": logger.run_id, "best_epoch": best["epoch"],
               MONITOR: round(float(checkpoint.best_model_score), 6), "epochs_run": trainer.current_epoch,
               "optimizer_steps": trainer.global_step}
    with atomic_dir(paths.TRAINED) as out:
        model.save_pretrained(out, safe_serialization=True)
        (out / paths.TRAINING_SUMMARY.name).write_text(json.dumps(summary, indent=2) + "\n")
    recorder.write(paths.PLOTS)
    logger.experiment.log_artifact(logger.run_id, str(paths.PLAN))
    return summary


def main() -> None:
    cfg = load_params("seed", "gpu", "model", "data", "train", "tracking")
    plan = yaml.safe_load(paths.PLAN.read_text())
    summary = train(cfg, plan)
    print(f"train: best {MONITOR} {summary[MONITOR]} at epoch {summary['best_epoch']} "
          f"(MLflow run {summary['mlflow_run_id']})")


if __name__ == "__main__":
    run_main(main)
