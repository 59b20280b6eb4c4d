"""Stage train: fine-tune under the resolved plan, refine while the validation gate fails, save the best.

Read top to bottom: seed -> data -> model -> logger -> round 0 -> refine rounds -> keep the best weights.
Crash-safe: an interrupted run carries on from its checkpoints in .cache/train/ (pipeline/models/checkpoints.py);
CUDA out of memory halves the micro batch, doubles accumulation (same global batch) and restarts the round.
Several processes (conf/strategy, pipeline/models/strategy.py) each run this file top to bottom; only the
main one writes files and logs to MLflow.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from pipeline import paths
from pipeline.atomic import atomic_dir
from pipeline.errors import PipelineError, run_main, warn
from pipeline.fallback_logger import FallbackMLFlowLogger
from pipeline.gpu.policy import processes
from pipeline.models.checkpoints import (AtomicCheckpointIO, ResumeCheckpoint, ResumeDir, ResumePoint,
                                         load_checkpoint)
from pipeline.models.curves import CurveRecorder
from pipeline.models.datamodule import TextDataModule
from pipeline.models.factory import build_model
from pipeline.models.finetune import apply_finetune, merged, parameter_counts
from pipeline.models.module import TextClassifier
from pipeline.models.strategy import check_launcher, is_main_process, lightning_strategy
from pipeline.params import load_params
from pipeline.redact import redact
from pipeline.tracking import reachable_tracking_uri, run_tags, tracking_uri

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


def train(cfg: DictConfig, plan: dict) -> dict:
    """Fit, refine while the validation gate fails, save the best model; return the training summary."""
    if plan["settings"]["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise PipelineError("plan-no-gpu", f"the plan targets {plan['target']} but torch sees no GPU here",
                            str(paths.PLAN), "train with -S gpu=auto, or run on the planned card (gpu.plan_only only plans)")
    check_launcher(plan["settings"])
    configured, uri = tracking_uri(cfg.tracking), reachable_tracking_uri(cfg.tracking)  # fails here, before any work
    gate = cfg.eval.gate
    resume = ResumeDir(resume_key(cfg, plan))
    settings = resume.state.get("settings", dict(plan["settings"]))  # an out-of-memory retry may have changed them
    if resume.state and is_main_process():
        print(f"train: resuming the interrupted run kept in {resume.path}")
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
        raise PipelineError("finetune-frozen-random", f"finetune={cfg.finetune.mode} would freeze random weights: "
                            f"{cfg.model.name} is built from scratch and was not pretrained", "params.yaml finetune.mode",
                            "use -S finetune=full, or pretrain first (-S pretrain.steps=...)")
    model = apply_finetune(model, cfg.finetune, cfg.model.arch)
    counts = parameter_counts(model)
    module = TextClassifier(model, cfg.train.lr, cfg.train.weight_decay, cfg.train.warmup_ratio)
    if settings["compile"]:
        module.model = torch.compile(model)

    resumed_run = resume.state.get("mlflow_run_id") if resume.state.get("tracking_uri") == redact(uri) else None
    logger = FallbackMLFlowLogger(cfg.tracking.experiment, uri, f"{cfg.model.name}-{cfg.data.name}",
                                  redact({**run_tags(cfg), "stage": "train"}), run_id=resumed_run)
    logger.log_hyperparams(redact({**OmegaConf.to_container(cfg, resolve=True), "plan": plan["settings"],
                                   "parameters": counts}))
    resume.save_state(mlflow_run_id=logger.run_id, tracking_uri=redact(uri), settings=settings)
    session = Session(cfg, module, datamodule, settings, CurveRecorder(), resume, resume.state.get("adjustments", []))

    # Round 0, then refinement rounds while the gate fails: each continues from the best weights so far
    # with a smaller learning rate, as a nested MLflow run. Only the validation split decides.
    started = time.perf_counter()
    best = fit_round(session, logger, Round(0, cfg.train.lr, cfg.train.max_epochs, logger.run_id))
    rounds = [best]
    while best.score < gate.threshold and len(rounds) <= cfg.refine.max_rounds:
        index = len(rounds)
        module.load_state_dict(best.state_dict)
        lr = cfg.train.lr * cfg.refine.lr_factor ** index
        child = nested_logger(session, logger, index, {"refine.lr": lr, "refine.max_epochs": cfg.refine.extra_epochs,
                                                       "refine.from_round": best.index})
        result = fit_round(session, child, Round(index, lr, cfg.refine.extra_epochs, child.run_id))
        rounds.append(result)
        best = max(best, result, key=lambda r: r.score)
    module.load_state_dict(best.state_dict)

    passed = best.score >= gate.threshold
    trained_plan = {**plan, "settings": session.settings, "adjustments": session.adjustments}
    summary = {"started_from": str(pretrained or cfg.model.path or cfg.model.source),
               "finetune": cfg.finetune.mode, "parameters": counts,
               "fit_seconds": round(time.perf_counter() - started, 1), "best_round": best.index,
               "best_epoch": best.best_epoch,
               gate.metric: round(best.score, 6), "rounds": [r.summary() for r in rounds],
               "plan_adjustments": session.adjustments,
               "gate": {"metric": gate.metric, "threshold": gate.threshold, "value": round(best.score, 6),
                        "passed": passed, "refine_rounds": len(rounds) - 1}}
    logger.log_metrics({"gate/passed": float(passed)})
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # every process has read the best weights before the main one clears them
    if not is_main_process():
        return summary
    with atomic_dir(paths.TRAINED) as out:
        if cfg.finetune.mode == "lora":
            model.save_pretrained(out / "adapter")  # the adapter alone, for reuse on the same base model
        merged(model).save_pretrained(out, safe_serialization=True)
        (out / paths.TRAINED_PLAN.name).write_text(yaml.safe_dump(trained_plan, sort_keys=False))
        logger.log_artifact(str(out / paths.TRAINED_PLAN.name))
        # Last, after every request to MLflow: the run and the store that hold it now (the server may have been lost).
        summary = {"mlflow_run_id": logger.run_id, "mlflow_tracking_uri": redact(logger.tracking_uri),
                   "mlflow_local_fallback": logger.tracking_uri != configured, **summary}
        (out / paths.TRAINING_SUMMARY.name).write_text(json.dumps(summary, indent=2) + "\n")
    session.recorder.write(paths.PLOTS)
    resume.clear()
    return summary


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
    starting_weights = {name: value.detach().cpu().clone() for name, value in session.module.state_dict().items()}
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
            callbacks=[best_checkpoint, ResumeCheckpoint(folder, cfg.train.checkpoint_every_n_steps),
                       EarlyStopping(monitor=monitor, mode="max", patience=cfg.train.early_stopping_patience),
                       session.recorder, resume_point])
        try:
            trainer.fit(session.module, datamodule=session.datamodule, ckpt_path=resume.last_checkpoint(result.index),
                        weights_only=True)
            break
        except torch.OutOfMemoryError as err:
            shrink_micro_batch(session, logger, result.index, err)
            session.module.load_state_dict(starting_weights)
            resume.restart_round(result.index)
            torch.cuda.empty_cache()
            attempt += 1
    best = load_checkpoint(best_checkpoint.best_model_path)
    result.score, result.best_epoch = float(best_checkpoint.best_model_score), best["epoch"]
    result.resumed_at, result.state_dict = resume_point.resumed_at, best["state_dict"]
    resume.finish(result.index, {**result.summary(), "curves": session.recorder.state_dict()})
    return result


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


def resume_key(cfg: DictConfig, plan: dict) -> str:
    """A hash of everything the fit depends on: params, plan, processed data and pretrained weights."""
    digest = hashlib.sha256(json.dumps([OmegaConf.to_container(cfg, resolve=True), plan["settings"]],
                                       sort_keys=True).encode())
    for path in [*sorted(paths.DATASET.glob("*/state.json")), paths.LABELS, *sorted(paths.PRETRAINED.glob("*.json"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def nested_logger(session: Session, parent: FallbackMLFlowLogger, index: int, changes: dict) -> FallbackMLFlowLogger:
    """An MLflow run nested under the training run, for one refinement round (the same one after a resume)."""
    key = f"refine_{index}_run_id"
    child = parent.child(f"refine-{index}", {"refine_round": str(index)}, run_id=session.resume.state.get(key))
    child.log_hyperparams(changes)
    session.resume.save_state(**{key: child.run_id})
    return child


def main() -> None:
    cfg = load_params("seed", "gpu", "model", "finetune", "data", "train", "tracking", "eval", "refine")
    plan = yaml.safe_load(paths.PLAN.read_text())
    summary = train(cfg, plan)
    if not is_main_process():
        return
    gate = summary["gate"]
    verdict = "passed" if gate["passed"] else "failed"
    print(f"train: best {gate['metric']} {gate['value']} (round {summary['best_round']}, epoch "
          f"{summary['best_epoch']}); gate {gate['metric']} >= {gate['threshold']} {verdict} after "
          f"{gate['refine_rounds']} refine round(s) (MLflow run {summary['mlflow_run_id']})")


if __name__ == "__main__":
    run_main(main)
