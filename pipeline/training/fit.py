"""Fine-tune under the resolved plan, refine while the validation gate fails, keep the best weights.

Read top to bottom: checks -> seed -> data -> model -> logger -> round 0 -> refine rounds -> the best weights.
Crash-safe: an interrupted run carries on from its checkpoints in .cache/train/ (pipeline.training.resume);
CUDA out of memory halves the micro batch, doubles accumulation (same global batch) and restarts the round
(pipeline.training.rounds). Several processes (conf/strategy, pipeline.training.strategy) each run this top
to bottom; only the main one saves and logs to MLflow.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from pipeline.core import paths
from pipeline.core.atomic import write_json, write_yaml
from pipeline.core.errors import PipelineError
from pipeline.core.outputs import read_json
from pipeline.core.redact import redact
from pipeline.data.tokenize import is_multi_label
from pipeline.evaluation import gate
from pipeline.models.finetune import apply_finetune, merged, parameter_counts
from pipeline.models.sources import build_model
from pipeline.tracking.fallback_logger import FallbackMLFlowLogger
from pipeline.tracking.store import PRUNED_TAG, dvc_experiment, reachable_tracking_uri, run_tags, tracking_uri
from pipeline.training.curves import CurveRecorder
from pipeline.training.datamodule import TextDataModule
from pipeline.training.module import TextClassifier, class_weights
from pipeline.training.resume import ResumeDir, resume_key
from pipeline.training.rounds import Round, Session, fit_round, nested_logger
from pipeline.training.strategy import check_launcher, is_main_process
from pipeline.training.trial import pruning, trial_tags


@dataclass
class Trained:
    """What a finished fit leaves: the model with the best weights, its summary, and the state to save."""

    model: torch.nn.Module
    summary: dict
    plan: dict  # the plan as trained: resolve's, with any out-of-memory adjustment
    logger: FallbackMLFlowLogger
    configured_uri: str
    session: Session


def fit(cfg: DictConfig, plan: dict) -> Trained:
    """Fit round 0, then refinement rounds while the validation gate fails; the best round's weights win."""
    if plan["settings"]["accelerator"] == "gpu" and not torch.cuda.is_available():
        raise PipelineError("plan-no-gpu", f"the plan targets {plan['target']} but torch sees no GPU here",
                            str(paths.PLAN), "train with -S gpu=auto, or run on the planned card (gpu.plan_only only plans)")
    check_launcher(plan["settings"])
    configured, uri = tracking_uri(cfg.tracking), reachable_tracking_uri(cfg.tracking)  # fails here, before any work
    resume = ResumeDir(resume_key(cfg, plan))
    settings = resume.state.get("settings", dict(plan["settings"]))  # an out-of-memory retry may have changed them
    if resume.state and is_main_process():
        print(f"train: resuming the interrupted run kept in {resume.path}")
    L.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision(settings["matmul_precision"])

    datamodule = TextDataModule(settings["micro_batch_size"], settings["num_workers"], cfg.seed,
                                cfg.train.group_by_length)
    pretrained = paths.PRETRAINED if (paths.PRETRAINED / "model.safetensors").exists() else None
    if pretrained is None and cfg.model.source == "scratch" and cfg.finetune.mode != "full":
        raise PipelineError("finetune-frozen-random", f"finetune={cfg.finetune.mode} would freeze random weights: "
                            f"{cfg.model.name} is built from scratch and was not pretrained", "params.yaml finetune.mode",
                            "use -S finetune=full, or pretrain first (-S pretrain.steps=...)")
    model = build_model(cfg.model, read_json(paths.LABELS), datamodule.tokenizer, settings["attention"],
                        start_from=pretrained, multi_label=is_multi_label(datamodule.dataset["train"]))
    if settings["gradient_checkpointing"]:
        model.gradient_checkpointing_enable()
        if cfg.finetune.mode != "full":
            model.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still need an input grad
    model = apply_finetune(model, cfg.finetune, cfg.model.arch)
    counts = parameter_counts(model)
    train_labels = datamodule.dataset["train"]["labels"][:]  # already loaded (a tensor): no second read of the split
    weights = class_weights(cfg.train.class_weights, train_labels, model.config.num_labels)
    module = TextClassifier(model, cfg.train.lr, cfg.train.weight_decay, cfg.train.warmup_ratio, weights)
    if settings["compile"]:
        module.model = torch.compile(model)

    resumed_run = resume.state.get("mlflow_run_id") if resume.state.get("tracking_uri") == redact(uri) else None
    run_name = dvc_experiment() or f"{cfg.model.name}-{cfg.data.name}"  # named after the DVC experiment, if any
    logger = FallbackMLFlowLogger(cfg.tracking.experiment, uri, run_name,
                                  redact({**run_tags(cfg), "stage": "train", **trial_tags()}), run_id=resumed_run)
    logger.log_hyperparams(redact({**OmegaConf.to_container(cfg, resolve=True), "plan": plan["settings"],
                                   "parameters": counts}))
    logger.log_metrics(plan["reading"])  # how the model reads the data: [UNK], pieces of characters, tokens a word, texts cut
    resume.save_state(mlflow_run_id=logger.run_id, tracking_uri=redact(uri), settings=settings)
    session = Session(cfg, module, datamodule, settings, CurveRecorder(), resume, resume.state.get("adjustments", []),
                      pruning(cfg.eval.gate.metric))

    # Round 0, then refinement rounds while the gate fails: each continues from the best weights so far
    # with a smaller learning rate, as a nested MLflow run. Only the validation split decides.
    started = time.perf_counter()
    best = fit_round(session, logger, Round(0, cfg.train.lr, settings["max_epochs"], logger.run_id))
    rounds = [best]
    pruned = bool(session.pruning and session.pruning.pruned)  # a pruned trial stops here: no refinement
    if pruned:
        logger.set_tags({PRUNED_TAG: "true"})
    while not pruned and not gate.passes(best.score, plan["gate"]) and len(rounds) <= cfg.refine.max_rounds:
        index = len(rounds)
        module.load_state_dict(best.state_dict)
        lr = cfg.train.lr * cfg.refine.lr_factor ** index
        child = nested_logger(session, logger, index, {"refine.lr": lr, "refine.max_epochs": cfg.refine.extra_epochs,
                                                       "refine.from_round": best.index})
        result = fit_round(session, child, Round(index, lr, cfg.refine.extra_epochs, child.run_id))
        rounds.append(result)
        best = max(best, result, key=lambda r: r.score)
    module.load_state_dict(best.state_dict)

    verdict = gate.verdict(best.score, plan["gate"], refine_rounds=len(rounds) - 1)
    summary = {"started_from": str(pretrained or cfg.model.path or cfg.model.source),
               "finetune": cfg.finetune.mode, "parameters": counts,
               "fit_seconds": round(time.perf_counter() - started, 1), "best_round": best.index,
               "best_epoch": best.best_epoch, cfg.eval.gate.metric: round(best.score, 6),
               "rounds": [r.summary() for r in rounds], "plan_adjustments": session.adjustments, "gate": verdict,
               **({"optuna_pruned": pruned} if session.pruning else {})}
    logger.log_metrics(gate.as_metrics(verdict))
    if torch.distributed.is_initialized():
        torch.distributed.barrier()  # every process has read the best weights before the main one clears them
    trained_plan = {**plan, "settings": session.settings, "adjustments": session.adjustments}
    return Trained(model, summary, trained_plan, logger, configured, session)


def save(trained: Trained, out: Path) -> dict:
    """Write the model (LoRA merged; the adapter alone in adapter/), the plan as trained and training.json to
    `out`; returns the summary with the MLflow run and store that hold it now."""
    if trained.summary["finetune"] == "lora":
        trained.model.save_pretrained(out / "adapter")  # the adapter alone, for reuse on the same base model
    merged(trained.model).save_pretrained(out, safe_serialization=True)
    write_yaml(out / paths.TRAINED_PLAN.name, trained.plan)
    trained.logger.log_artifact(str(out / paths.TRAINED_PLAN.name))
    # Last, after every request to MLflow: the run and the store that hold it now (the server may have been lost).
    logger = trained.logger
    summary = {"mlflow_run_id": logger.run_id, "mlflow_experiment_id": logger.experiment_id,
               "mlflow_tracking_uri": redact(logger.tracking_uri),
               "mlflow_local_fallback": logger.tracking_uri != trained.configured_uri, **trained.summary}
    write_json(out / paths.TRAINING_SUMMARY.name, summary)
    return summary
