"""Stage export: the best model as a Hugging Face folder, ONNX and a model card; registered in MLflow.

The new version gets the alias `challenger`; `champion` moves to it only if the gate passed and its
test/f1_macro beats the champion's on the same test split (scored by evaluate).
"""

from __future__ import annotations

import json
import shutil

import yaml
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from transformers import AutoTokenizer

from pipeline import paths
from pipeline.atomic import atomic_dir, write_json
from pipeline.data.loader import split_texts
from pipeline.errors import PipelineError, run_main, warn
from pipeline.models.factory import load_pretrained
from pipeline.onnx_export import export_onnx
from pipeline.params import load_params
from pipeline.redact import redact
from pipeline.registry import CHAMPION, promotion, register
from pipeline.tracking import training_client

MODEL_FILES = ("config.json", "model.safetensors")
ONNX_FILE = "model.onnx"
PROMOTE_METRIC = "test/f1_macro"
PARITY_EXAMPLES = 32  # validation texts (never test) on which ONNX Runtime must match PyTorch


def model_card(cfg: DictConfig, metrics: dict, stats: dict, plan: dict, onnx_check: dict) -> str:
    """A README.md that says what the model does, how well, and the config that made it (secrets masked)."""
    rows = "\n".join(f"| {key} | {value} |" for key, value in metrics.items())
    return f"""---
library_name: transformers
pipeline_tag: text-classification
---
# {cfg.model.name} fine-tuned on {cfg.data.name}

Sequence classifier for the labels: {", ".join(stats["labels"])}.
Rows used (train / validation / test): {stats["rows"]["train"]} / {stats["rows"]["validation"]} / {stats["rows"]["test"]}.

## Test metrics

| metric | value |
|---|---|
{rows}

## Usage

```python
from transformers import pipeline
classifier = pipeline("text-classification", model="path/to/this/folder")
classifier("Shares rose after the results.")
```

ONNX: `model.onnx` (opset {onnx_check["opset"]}, dynamic batch and sequence axes); ONNX Runtime matches
PyTorch within {onnx_check["max_abs_logit_diff"]:.1e} (max |logit difference| on {onnx_check["checked_examples"]}
validation texts; tolerance {onnx_check["tolerance"]}).

## Training plan

The settings training ran with (adjustments: changes made during training, such as a smaller micro
batch after CUDA ran out of memory):

```yaml
{yaml.safe_dump({"settings": plan["settings"], "adjustments": plan.get("adjustments", [])}, sort_keys=False).strip()}
```

## Config that made it

```yaml
{yaml.safe_dump(redact(OmegaConf.to_container(cfg, resolve=True)), sort_keys=False).strip()}
```
"""


def export(cfg: DictConfig) -> dict:
    """Write models/export (weights, tokenizer, labels, ONNX, model card); return the ONNX parity check."""
    metrics = json.loads(paths.METRICS.read_text())
    stats = json.loads(paths.DATA_STATS.read_text())
    plan = yaml.safe_load(paths.TRAINED_PLAN.read_text())
    tokenizer = load_pretrained(AutoTokenizer, paths.TOKENIZER)
    parity_texts = split_texts("validation")[:PARITY_EXAMPLES]
    with atomic_dir(paths.EXPORT) as out:
        for name in MODEL_FILES:
            shutil.copy2(paths.TRAINED / name, out / name)
        shutil.copytree(paths.TOKENIZER, out, dirs_exist_ok=True)
        shutil.copy2(paths.LABELS, out / paths.LABELS.name)
        onnx_check = export_onnx(paths.TRAINED, tokenizer, out / ONNX_FILE, parity_texts, cfg.model.max_seq_len)
        (out / "onnx_check.json").write_text(json.dumps(onnx_check, indent=2) + "\n")
        (out / "README.md").write_text(model_card(cfg, metrics, stats, plan, onnx_check), encoding="utf-8")
    return onnx_check


def check_gate(cfg: DictConfig) -> None:
    """After exporting for inspection: a failed gate stops the pipeline unless eval.fail_on_gate is false."""
    gate = json.loads(paths.TRAINING_SUMMARY.read_text())["gate"]
    if gate["passed"]:
        return
    missed = f"{gate['metric']} {gate['value']} < {gate['threshold']} (missed by {gate['threshold'] - gate['value']:.4f}) " \
             f"after {gate['refine_rounds']} refine round(s)"
    if not cfg.eval.fail_on_gate:
        warn("gate-failed-continuing", f"quality gate failed: {missed}; eval.fail_on_gate=false, so carrying on")
        return
    raise PipelineError("gate-failed", f"quality gate failed: {missed}; the model was exported to {paths.EXPORT}/ for "
                        f"inspection, not promoted", "params.yaml eval.gate",
                        "add data, raise refine.max_rounds or train.max_epochs, or lower eval.gate.threshold "
                        "(-S eval.fail_on_gate=false to only warn)")


def register_and_promote(cfg: DictConfig, mlflow: MlflowClient) -> dict:
    """Register models/export as a new version (alias challenger); move champion to it if it earned it."""
    metrics = json.loads(paths.METRICS.read_text())
    training = json.loads(paths.TRAINING_SUMMARY.read_text())
    name, ours = cfg.registry.model_name, metrics[PROMOTE_METRIC]
    version = register(mlflow, name, training["mlflow_run_id"], paths.EXPORT,
                       {PROMOTE_METRIC: str(ours), "gate_passed": str(training["gate"]["passed"])})
    champion = None
    if "champion/version" in metrics:
        champion = {"version": str(int(metrics["champion/version"])), PROMOTE_METRIC: metrics["champion/test/f1_macro"]}
    promoted, reason = promotion(training["gate"]["passed"], PROMOTE_METRIC, ours, champion)
    if promoted:
        mlflow.set_registered_model_alias(name, CHAMPION, version.version)
    decision = {"model_name": name, "version": int(version.version), "challenger": True, "champion": promoted,
                "reason": reason, "model_uri": f"models:/{name}/{version.version}"}
    write_json(paths.REGISTRY, decision)
    return decision


def main() -> None:
    cfg = load_params("seed", "model", "data", "train", "eval", "tracking", "registry")
    mlflow = training_client(cfg.tracking, json.loads(paths.TRAINING_SUMMARY.read_text()))  # it answers, first
    onnx_check = export(cfg)
    print(f"export: model, tokenizer, ONNX (max |logit diff| {onnx_check['max_abs_logit_diff']:.1e}) and "
          f"model card in {paths.EXPORT}/")
    decision = register_and_promote(cfg, mlflow)
    print(f"export: registered {decision['model_name']} v{decision['version']} (challenger); "
          f"champion: {'yes' if decision['champion'] else 'no'} ({decision['reason']})")
    check_gate(cfg)


if __name__ == "__main__":
    run_main(main)
