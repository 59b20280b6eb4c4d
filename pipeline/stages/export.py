"""Stage export: the best model as a Hugging Face folder, ONNX and a model card; registered in MLflow.

The new version gets the alias `challenger`; `champion` moves to it only if it earned it
(pipeline.evaluation.champion). A failed quality gate stops the pipeline after exporting, for inspection.
"""

from __future__ import annotations

import shutil

from omegaconf import DictConfig
from transformers import AutoTokenizer

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import atomic_dir, write_json, write_text
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json, read_yaml, training_summary
from pipeline.data.loader import split_examples, split_texts
from pipeline.evaluation import gate
from pipeline.evaluation.champion import PROMOTE_METRIC, promotion
from pipeline.evaluation.quantization import check_int8
from pipeline.models.safe_load import load_pretrained
from pipeline.serving.model_card import model_card
from pipeline.serving.onnx_export import export_onnx
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.quantize import INT8_FILE
from pipeline.tracking.registry import promote, register
from pipeline.tracking.store import log_evaluation, training_client

MODEL_FILES = ("config.json", "model.safetensors")
PARITY_EXAMPLES = 32  # validation texts (never test) on which ONNX Runtime must match PyTorch


def export(cfg: DictConfig) -> tuple[dict, dict | None]:
    """Write models/export (weights, tokenizer, labels, ONNX, int8 ONNX if asked and accepted, model card);
    return the ONNX parity check and the int8 check (None without export.quantize)."""
    metrics, stats = read_json(paths.METRICS), read_json(paths.DATA_STATS)
    plan = read_yaml(paths.TRAINED_PLAN)
    tokenizer = load_pretrained(AutoTokenizer, paths.TOKENIZER)
    with atomic_dir(paths.EXPORT) as out:
        for name in MODEL_FILES:
            shutil.copy2(paths.TRAINED / name, out / name)
        shutil.copytree(paths.TOKENIZER, out, dirs_exist_ok=True)
        shutil.copy2(paths.LABELS, out / paths.LABELS.name)
        onnx_check = export_onnx(paths.TRAINED, tokenizer, out / "model.onnx", split_texts("validation")[:PARITY_EXAMPLES])
        write_json(out / "onnx_check.json", onnx_check)
        int8 = None
        if cfg.export.quantize == "dynamic_int8":
            int8 = check_int8(out, *split_examples("test"), cfg.export.max_quantization_drop)
            write_json(out / "quantization.json", int8)
        write_text(out / "README.md", model_card(cfg, metrics, stats, plan, onnx_check, int8))
    return onnx_check, int8


def register_and_promote(cfg: DictConfig, mlflow, training: dict) -> dict:
    """Register models/export as a new version (alias challenger); move champion to it if it earned it.

    `training` is models/trained/training.json: the MLflow run to log the model to, and the gate verdict.
    """
    metrics = read_json(paths.METRICS)
    name, passed = cfg.registry.model_name, gate.passed(training)
    onnx_file = INT8_FILE if (paths.EXPORT / INT8_FILE).exists() else "model.onnx"
    model_uri = log_pyfunc(mlflow.tracking_uri, training["mlflow_run_id"], paths.EXPORT, cfg.export.serve_with, onnx_file)
    version = register(mlflow, name, model_uri, {PROMOTE_METRIC: str(metrics[PROMOTE_METRIC]), "gate_passed": str(passed)})
    promoted, reason = promotion(passed, metrics)
    if promoted:
        promote(mlflow, name, version.version)
    decision = {"model_name": name, "version": int(version.version), "challenger": True, "champion": promoted,
                "reason": reason, "model_uri": f"models:/{name}/{version.version}"}
    write_json(paths.REGISTRY, decision)
    return decision


def main() -> None:
    cfg = load_params("seed", "model", "data", "train", "eval", "export", "tracking", "registry")
    training = training_summary()
    mlflow = training_client(cfg.tracking, training)  # it answers, before any work
    onnx_check, int8 = export(cfg)
    print(f"export: model, tokenizer, ONNX (max |logit diff| {onnx_check['max_abs_logit_diff']:.1e}) and "
          f"model card in {paths.EXPORT}/")
    if int8:
        log_evaluation(mlflow, training["mlflow_run_id"], {f"int8/{key}": float(value) for key, value in int8.items()},
                       {}, {"quantization.json": int8})
        print(f"export: int8 {'accepted' if int8['accepted'] else 'rejected, not served'}: test macro F1 "
              f"{int8['test/f1_macro_int8']} vs fp32 {int8['test/f1_macro_fp32']} (drop {int8['f1_drop']}, "
              f"allowed {int8['max_drop']}); {int8['size_mb_int8']} MB vs {int8['size_mb_fp32']} MB; batch 1 "
              f"{int8['latency_ms_batch1_int8']} ms vs {int8['latency_ms_batch1_fp32']} ms")
    decision = register_and_promote(cfg, mlflow, training)
    print(f"export: registered {decision['model_name']} v{decision['version']} (challenger); "
          f"champion: {'yes' if decision['champion'] else 'no'} ({decision['reason']})")
    gate.enforce(training["gate"], cfg.eval.fail_on_gate, str(paths.EXPORT))


if __name__ == "__main__":
    run_main(main)
