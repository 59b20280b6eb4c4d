"""Stage train: fine-tune under the resolved plan, refine while the validation gate fails, save the best.

Read top to bottom: seed -> data -> model -> logger -> round 0 -> refine rounds -> keep the best weights.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from omegaconf import DictConfig, OmegaConf

from pipeline import paths
from pipeline.atomic import atomic_dir
from pipeline.errors import PipelineError, run_main
from pipeline.models.curves import CurveRecorder
from pipeline.models.datamodule import TextDataModule
from pipeline.models.factory import build_model
from pipeline.models.finetune import apply_finetune, merged, parameter_counts
from pipeline.models.module import TextClassifier
from pipeline.params import load_params
from pipeline.tracking import run_tags, tracking_uri

GATE_METRICS = ("val/f1", "val/accuracy")  # validation metrics where higher is better


@dataclass
class Round:
    """One fit: the first (round 0) or a refinement continuing from the best weights so far."""

    index: int
    lr: float
    max_epochs: int
    run_id: str
    score: float = float("-inf")
    best_epoch: int = -1
    state_dict: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        return {"round": self.index, "lr": self.lr, "max_epochs": self.max_epochs, "mlflow_run_id": self.run_id,
                "score": round(self.score, 6), "best_epoch": self.best_epoch}


def train(cfg: DictConfig, plan: dict) -> dict:
    """Fit, refine while the validation gate fails, save the best model; return the training summary."""
    settings = plan["settings"]
    if settings["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise PipelineError("plan-no-gpu", f"the plan targets {plan['target']} but torch sees no GPU here", str(paths.PLAN),
                            "train with -S gpu=auto, or run on the planned card (gpu.plan_only only plans)")
    gate = cfg.eval.gate
    if gate.metric not in GATE_METRICS:
        raise PipelineError("config-out-of-range", f"eval.gate.metric '{gate.metric}' is not a validation metric train logs",
                            "params.yaml eval.gate.metric", f"use one of: {', '.join(GATE_METRICS)}")
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(settings["matmul_precision"])

    datamodule = TextDataModule(settings["micro_batch_size"], settings["num_workers"], cfg.seed,
                                cfg.train.group_by_length)
    labels = json.loads(paths.LABELS.read_text())
    pretrained = paths.PRETRAINED if (paths.PRETRAINED / "model.safetensors").exists() else None
    model = build_model(cfg.model, labels, datamodule.tokenizer, settings["attention"], start_from=pretrained)
    if settings["gradient_checkpointing"]:
        model.gradient_checkpointing_enable()
        if cfg.finetune.mode != "full":
            model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need an input grad
    if pretrained is None and cfg.model.source == "scratch" and cfg.finetune.mode != "full":
        raise PipelineError("finetune-frozen-random", f"finetune={cfg.finetune.mode} would freeze random weights: {cfg.model.name} is built "
                            "from scratch and was not pretrained", "params.yaml finetune.mode",
                            "use -S finetune=full, or pretrain first (-S pretrain.steps=...)")
    model = apply_finetune(model, cfg.finetune, cfg.model.arch)
    counts = parameter_counts(model)
    module = TextClassifier(model, cfg.train.lr, cfg.train.weight_decay, cfg.train.warmup_ratio)
    if settings["compile"]:
        module.model = torch.compile(model)

    logger = MLFlowLogger(experiment_name=cfg.tracking.experiment, tracking_uri=tracking_uri(cfg.tracking),
                          run_name=f"{cfg.model.name}-{cfg.data.name}", tags={**run_tags(cfg), "stage": "train"})
    logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), "plan": settings,
                            "parameters": counts})
    recorder = CurveRecorder()

    # Round 0, then refinement rounds while the gate fails: each continues from the best weights so far
    # with a smaller learning rate, as a nested MLflow run. Only the validation split decides.
    started = time.perf_counter()
    best = fit_round(module, datamodule, settings, cfg, recorder, logger,
                     Round(0, cfg.train.lr, cfg.train.max_epochs, logger.run_id))
    rounds = [best]
    while best.score < gate.threshold and len(rounds) <= cfg.refine.max_rounds:
        index = len(rounds)
        module.load_state_dict(best.state_dict)
        lr = cfg.train.lr * cfg.refine.lr_factor ** index
        child = nested_logger(cfg.tracking, logger, index, {"refine.lr": lr, "refine.max_epochs": cfg.refine.extra_epochs,
                                              "refine.from_round": best.index})
        result = fit_round(module, datamodule, settings, cfg, recorder, child,
                           Round(index, lr, cfg.refine.extra_epochs, child.run_id))
        rounds.append(result)
        best = max(best, result, key=lambda r: r.score)
    module.load_state_dict(best.state_dict)

    passed = best.score >= gate.threshold
    summary = {"mlflow_run_id": logger.run_id, "started_from": str(pretrained or cfg.model.path or cfg.model.source),
               "finetune": cfg.finetune.mode, "parameters": counts,
               "fit_seconds": round(time.perf_counter() - started, 1), "best_round": best.index,
               "best_epoch": best.best_epoch,
               gate.metric: round(best.score, 6), "rounds": [r.summary() for r in rounds],
               "gate": {"metric": gate.metric, "threshold": gate.threshold, "value": round(best.score, 6),
                        "passed": passed, "refine_rounds": len(rounds) - 1}}
    logger.experiment.log_metric(logger.run_id, "gate/passed", float(passed))
    with atomic_dir(paths.TRAINED) as out:
        if cfg.finetune.mode == "lora":
            model.save_pretrained(out / "adapter")  # the adapter alone, for reuse on the same base model
        merged(model).save_pretrained(out, safe_serialization=True)
        (out / paths.TRAINING_SUMMARY.name).write_text(json.dumps(summary, indent=2) + "\n")
    recorder.write(paths.PLOTS)
    logger.experiment.log_artifact(logger.run_id, str(paths.PLAN))
    return summary


def fit_round(module: TextClassifier, datamodule: TextDataModule, settings: dict, cfg: DictConfig,
              recorder: CurveRecorder, logger: MLFlowLogger, result: Round) -> Round:
    """Fit `result.max_epochs` epochs at `result.lr`; keep the best validation weights in memory."""
    if result.index:  # round 0 runs on the seed set at the start; each refinement on its own
        L.seed_everything(cfg.seed + result.index, workers=True)
    module.hparams.lr = result.lr
    recorder.start_round(result.index)
    monitor = cfg.eval.gate.metric
    with tempfile.TemporaryDirectory(prefix="checkpoints-") as checkpoint_dir:
        checkpoint = ModelCheckpoint(dirpath=checkpoint_dir, filename="best", monitor=monitor, mode="max",
                                     save_top_k=1, save_weights_only=True)
        early_stopping = EarlyStopping(monitor=monitor, mode="max", patience=cfg.train.early_stopping_patience)
        trainer = L.Trainer(
            accelerator=settings["accelerator"], devices=settings["devices"], precision=settings["precision"],
            accumulate_grad_batches=settings["accumulate_grad_batches"], max_epochs=result.max_epochs,
            deterministic=settings["deterministic"], log_every_n_steps=cfg.train.log_every_n_steps,
            logger=logger, callbacks=[checkpoint, early_stopping, recorder], default_root_dir=checkpoint_dir)
        trainer.fit(module, datamodule=datamodule)
        best = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=True)
    result.score, result.best_epoch = float(checkpoint.best_model_score), best["epoch"]
    result.state_dict = best["state_dict"]
    return result


def nested_logger(tracking: DictConfig, parent: MLFlowLogger, index: int, changes: dict) -> MLFlowLogger:
    """An MLflow run nested under the training run, for one refinement round."""
    run = parent.experiment.create_run(parent.experiment_id, run_name=f"refine-{index}",
                                       tags={MLFLOW_PARENT_RUN_ID: parent.run_id, "refine_round": str(index)})
    child = MLFlowLogger(experiment_name=tracking.experiment, tracking_uri=tracking_uri(tracking),
                         run_id=run.info.run_id)
    child.log_hyperparams(changes)
    return child


def main() -> None:
    cfg = load_params("seed", "gpu", "model", "finetune", "data", "train", "tracking", "eval", "refine")
    plan = yaml.safe_load(paths.PLAN.read_text())
    summary = train(cfg, plan)
    gate = summary["gate"]
    verdict = "passed" if gate["passed"] else "failed"
    print(f"train: best {gate['metric']} {gate['value']} (round {summary['best_round']}, epoch "
          f"{summary['best_epoch']}); gate {gate['metric']} >= {gate['threshold']} {verdict} after "
          f"{gate['refine_rounds']} refine round(s) (MLflow run {summary['mlflow_run_id']})")


if __name__ == "__main__":
    run_main(main)
