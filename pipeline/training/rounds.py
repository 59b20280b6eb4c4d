"""One round of fitting: a Lightning Trainer over the plan's settings, resumable, with out-of-memory back-off.

Round 0 is the first fit; each refinement round continues from the best weights so far (pipeline.training.fit).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig

from pipeline.core import paths
from pipeline.core.errors import PipelineError, warn
from pipeline.gpu.policy import processes
from pipeline.tracking.fallback_logger import FallbackMLFlowLogger
from pipeline.tracking.system_metrics import SystemMetrics
from pipeline.training.curves import CurveRecorder
from pipeline.training.datamodule import TextDataModule
from pipeline.training.module import TextClassifier
from pipeline.training.resume import (AtomicCheckpointIO, ResumeCheckpoint, ResumeDir, ResumePoint, consolidate,
                                      load_checkpoint)
from pipeline.training.strategy import lightning_strategy
from pipeline.training.trial import Pruning


@dataclass
class Round:
    """One fit: the first (round 0) or a refinement continuing from the best weights so far."""

    index: int
    lr: float
    max_epochs: int
    run_id: str
    score: float = float("-inf")
    best_epoch: int = -1
    resumed_at: dict | None = None
    state_dict: dict = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        return {"round": self.index, "lr": self.lr, "max_epochs": self.max_epochs, "mlflow_run_id": self.run_id,
                "score": round(self.score, 6), "best_epoch": self.best_epoch, "resumed_at": self.resumed_at}


@dataclass
class Session:
    """What every round shares: the model, the data, the settings in force and the resumable state."""

    cfg: DictConfig
    module: TextClassifier
    datamodule: TextDataModule
    settings: dict
    recorder: CurveRecorder
    resume: ResumeDir
    adjustments: list[dict]
    pruning: Pruning | None = None  # when train runs as a trial of pipeline.sweep: its first round reports to Optuna


def fit_round(session: Session, logger: FallbackMLFlowLogger, result: Round) -> Round:
    """Fit `result.max_epochs` epochs at `result.lr` and keep the best validation weights in memory.

    A round an interrupted run finished is read back; one it was in the middle of resumes from its last
    checkpoint; CUDA out of memory restarts the round from its starting weights with a smaller micro batch.
    """
    cfg, resume = session.cfg, session.resume
    finished = resume.finished(result.index)
    if finished:
        session.recorder.load_state_dict(finished["curves"])
        result.score, result.best_epoch = finished["score"], finished["best_epoch"]
        result.resumed_at, result.state_dict = finished["resumed_at"], finished["state_dict"]
        return result
    session.module.hparams.lr = result.lr
    session.recorder.start_round(result.index)
    attempt = 0
    while True:
        if result.index or attempt:  # round 0's first attempt runs on the seed set at the start
            L.seed_everything(cfg.seed + result.index, workers=True)
        folder, monitor = resume.round_dir(result.index), cfg.eval.gate.metric
        best_checkpoint = ModelCheckpoint(dirpath=folder, filename="best", monitor=monitor, mode="max", save_top_k=1,
                                          save_weights_only=True, enable_version_counter=False)
        resume_point = ResumePoint()
        trainer = L.Trainer(
            accelerator=session.settings["accelerator"], devices=session.settings["devices"],
            num_nodes=session.settings["num_nodes"], use_distributed_sampler=False,  # TextDataModule shards itself
            strategy=lightning_strategy(session.settings, session.module.model), precision=session.settings["precision"],
            accumulate_grad_batches=session.settings["accumulate_grad_batches"], max_epochs=result.max_epochs,
            deterministic=session.settings["deterministic"], log_every_n_steps=cfg.train.log_every_n_steps,
            logger=logger, plugins=[AtomicCheckpointIO()], default_root_dir=folder,
            enable_progress_bar=cfg.train.progress_bar, callbacks=[
                best_checkpoint, *resume_checkpoints(folder, cfg.train.checkpoint_every_n_steps),
                EarlyStopping(monitor=monitor, mode="max", patience=cfg.train.early_stopping_patience),
                session.recorder, resume_point, *([SystemMetrics()] if cfg.tracking.system_metrics else []),
                *([session.pruning] if session.pruning and result.index == 0 else [])])
        try:  # on a copy: the fit moves, wraps and shards the module it trains; the session's stays whole
            trainer.fit(copy.deepcopy(session.module), datamodule=session.datamodule,
                        ckpt_path=resume.last_checkpoint(result.index), weights_only=True)
            break
        except torch.OutOfMemoryError as err:
            shrink_micro_batch(session, logger, result.index, err)
            resume.restart_round(result.index)
            torch.cuda.empty_cache()
            attempt += 1
    consolidate(trainer, best_checkpoint.best_model_path)
    best = load_checkpoint(best_checkpoint.best_model_path)  # every process reads the full best weights
    result.score, result.best_epoch = float(best_checkpoint.best_model_score), best["epoch"]
    result.resumed_at, result.state_dict = resume_point.resumed_at, best["state_dict"]
    resume.finish(result.index, {**result.summary(), "curves": session.recorder.state_dict()})
    return result


def resume_checkpoints(folder, every_n_steps: int) -> list[ResumeCheckpoint]:
    """The mid-epoch resume checkpoint, unless train.checkpoint_every_n_steps is 0."""
    return [ResumeCheckpoint(folder, every_n_steps)] if every_n_steps else []


def shrink_micro_batch(session: Session, logger: FallbackMLFlowLogger, index: int, err: torch.OutOfMemoryError) -> None:
    """After CUDA out of memory: the next smaller divisor of the global batch as micro batch, and accumulation
    to keep the global batch; recorded in the resumable state, the training summary and MLflow tags."""
    settings = session.settings
    if processes(settings) > 1:  # the other processes wait in a collective: no retry can rejoin them
        raise PipelineError("train-out-of-memory", f"CUDA out of memory in a run of {processes(settings)} processes "
                            f"({str(err).splitlines()[0]})", f"round {index} of train, plan {paths.PLAN}",
                            "halve train.global_batch_size (or -S model.max_seq_len=...), use -S strategy=fsdp, "
                            "or free the GPUs")
    micro, accumulate = settings["micro_batch_size"], settings["accumulate_grad_batches"]
    global_batch = micro * accumulate
    if micro == 1:
        raise PipelineError("train-out-of-memory", f"CUDA out of memory at micro batch 1 ({str(err).splitlines()[0]})",
                            f"round {index} of train, plan {paths.PLAN}",
                            "shorten -S model.max_seq_len=..., use -S finetune=lora, free the GPU, or use a bigger card")
    smaller = max(n for n in range(1, micro // 2 + 1) if global_batch % n == 0)
    settings.update(micro_batch_size=smaller, accumulate_grad_batches=global_batch // smaller)
    session.datamodule.micro_batch_size = smaller
    session.adjustments.append({"round": index, "reason": f"CUDA out of memory at micro batch {micro}",
                                "micro_batch_size": smaller, "accumulate_grad_batches": global_batch // smaller})
    session.resume.save_state(settings=settings, adjustments=session.adjustments)
    warn("train-oom-retry", f"CUDA out of memory at micro batch {micro} (round {index}): retrying the round with "
                            f"micro batch {smaller} x {global_batch // smaller} accumulation (global batch {global_batch})")
    logger.set_tags({"oom_retries": str(len(session.adjustments)), "trained.micro_batch_size": str(smaller),
                     "trained.accumulate_grad_batches": str(global_batch // smaller)})


def nested_logger(session: Session, parent: FallbackMLFlowLogger, index: int, changes: dict) -> FallbackMLFlowLogger:
    """An MLflow run nested under the training run, for one refinement round (the same one after a resume)."""
    key = f"refine_{index}_run_id"
    child = parent.child(f"refine-{index}", {"refine_round": str(index)}, run_id=session.resume.state.get(key))
    child.log_hyperparams(changes)
    session.resume.save_state(**{key: child.run_id})
    return child
