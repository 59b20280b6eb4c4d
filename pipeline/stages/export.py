"""Stage export: the best model as a Hugging Face folder, ONNX, its calibration and a model card; registered
in MLflow.

Each training run is registered once (a re-run of export registers nothing new); the new version gets the
alias `challenger`, and `champion` moves to it only if it earned it
(pipeline.evaluation.champion). A failed quality gate stops the pipeline after exporting, for inspection.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mlflow.tracking import MlflowClient
from omegaconf import DictConfig
from transformers import AutoTokenizer

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import atomic_dir, write_json, write_text
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_csv, read_json, read_yaml, training_summary
from pipeline.data.loader import split_examples, split_texts
from pipeline.evaluation import gate
from pipeline.evaluation import quantization
from pipeline.evaluation.champion import compared_rows
from pipeline.evaluation.release import describe, release
from pipeline.models.safe_load import load_pretrained
from pipeline.evaluation.model_card import model_card
from pipeline.serving.onnx_export import export_onnx
from pipeline.evaluation.multilabel import thresholds_of
from pipeline.serving.text_classifier import CALIBRATION_FILE, THRESHOLDS_FILE
from pipeline.tracking.registry import model_name
from pipeline.tracking.store import log_evaluation, training_client

MODEL_FILES = ("config.json", "model.safetensors")
PARITY_EXAMPLES = 32  # validation texts (never test) on which ONNX Runtime must match PyTorch


def export(cfg: DictConfig, training: dict, metrics: dict, client: MlflowClient) -> tuple[dict, dict]:
    """Write models/export (weights, tokenizer, labels, ONNX, int8 ONNX if accepted, model card); return the
    ONNX parity check and the int8 check (or why none was made). `metrics` is evaluate's metrics.json."""
    stats = read_json(paths.DATA_STATS)
    plan = read_yaml(paths.TRAINED_PLAN)
    trust = cfg.model.trust_remote_code
    tokenizer = load_pretrained(AutoTokenizer, paths.TOKENIZER, trust)
    with atomic_dir(paths.EXPORT) as out:
        for name in MODEL_FILES:
            shutil.copy2(paths.TRAINED / name, out / name)
        shutil.copytree(paths.TOKENIZER, out, dirs_exist_ok=True)
        shutil.copy2(paths.LABELS, out / paths.LABELS.name)
        write_json(out / CALIBRATION_FILE, {"temperature": metrics["calibration/temperature"]})  # fitted by evaluate
        if stats.get("task") == "multi_label":  # label sets: each label's threshold, tuned by evaluate
            write_json(out / THRESHOLDS_FILE, {"thresholds": thresholds_of(metrics, stats["labels"])})
        onnx_check = export_onnx(paths.TRAINED, tokenizer, out / "model.onnx", split_texts("validation")[:PARITY_EXAMPLES],
                                 trust)
        write_json(out / "onnx_check.json", onnx_check)
        int8 = quantization.skipped(cfg.export) or check_int8(cfg, out, metrics, client)
        write_json(out / "quantization.json", int8)
        write_text(out / "README.md", model_card(cfg, metrics, stats, plan, onnx_check, read_csv(paths.PER_CLASS),
                                                 training["mlflow_run_id"], int8))
    return onnx_check, int8


def check_int8(cfg: DictConfig, folder: Path, metrics: dict, client: MlflowClient) -> dict:
    """The int8 check of folder/model.onnx, with int8's F1 on the test rows evaluate compared the champion on."""
    test = split_examples("test")
    compared = compared_rows(client, model_name(cfg.registry, cfg.data), metrics, test[0])
    return quantization.check_int8(folder, split_examples("validation"), test, cfg.export.max_quantization_drop,
                                   compared)


def main() -> None:
    cfg = load_params("seed", "model", "data", "train", "eval", "export", "tracking", "registry")
    training = training_summary()
    mlflow = training_client(cfg.tracking, training)  # it answers, before any work
    metrics = read_json(paths.METRICS)
    onnx_check, int8 = export(cfg, training, metrics, mlflow)
    print(f"export: model, tokenizer, ONNX (max |logit diff| {onnx_check['max_abs_logit_diff']:.1e}) and "
          f"model card in {paths.EXPORT}/")
    log_evaluation(mlflow, training["mlflow_run_id"],
                   {f"int8/{key}": float(value) for key, value in int8.items() if not isinstance(value, str)},
                   {}, {"quantization.json": int8})
    print(f"export: {quantization.describe(int8)}")
    decision = release(mlflow, model_name(cfg.registry, cfg.data), paths.EXPORT, training, metrics,
                       read_json(paths.LABELS), cfg.export.serve_with, cfg.registry.min_compared_rows)
    write_json(paths.REGISTRY, decision)
    print(f"export: {describe(decision)}")
    gate.enforce(training["gate"], cfg.eval.fail_on_gate, str(paths.EXPORT))


if __name__ == "__main__":
    run_main(main)
