"""Stage export: the best model as a Hugging Face folder with tokenizer and a model card."""

from __future__ import annotations

import json
import shutil

import yaml
from omegaconf import DictConfig, OmegaConf

from pipeline import paths
from pipeline.atomic import atomic_dir
from pipeline.errors import PipelineError, run_main
from pipeline.params import load_params

MODEL_FILES = ("config.json", "model.safetensors")


def model_card(cfg: DictConfig, metrics: dict, stats: dict, plan: dict) -> str:
    """A README.md that says what the model does, how well, and the config that made it."""
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

## Training plan

```yaml
{yaml.safe_dump(plan["settings"], sort_keys=False).strip()}
```

## Config that made it

```yaml
{OmegaConf.to_yaml(cfg).strip()}
```
"""


def export(cfg: DictConfig) -> None:
    metrics = json.loads(paths.METRICS.read_text())
    stats = json.loads(paths.DATA_STATS.read_text())
    plan = yaml.safe_load(paths.PLAN.read_text())
    with atomic_dir(paths.EXPORT) as out:
        for name in MODEL_FILES:
            shutil.copy2(paths.TRAINED / name, out / name)
        shutil.copytree(paths.TOKENIZER, out, dirs_exist_ok=True)
        shutil.copy2(paths.LABELS, out / paths.LABELS.name)
        (out / "README.md").write_text(model_card(cfg, metrics, stats, plan), encoding="utf-8")


def check_gate(cfg: DictConfig) -> None:
    """After exporting for inspection: a failed gate stops the pipeline unless eval.fail_on_gate is false."""
    gate = json.loads(paths.TRAINING_SUMMARY.read_text())["gate"]
    if gate["passed"]:
        return
    missed = f"{gate['metric']} {gate['value']} < {gate['threshold']} (missed by {gate['threshold'] - gate['value']:.4f}) " \
             f"after {gate['refine_rounds']} refine round(s)"
    if not cfg.eval.fail_on_gate:
        print(f"export: warning: quality gate failed: {missed}; eval.fail_on_gate=false, so carrying on")
        return
    raise PipelineError(f"quality gate failed: {missed}; the model was exported to {paths.EXPORT}/ for "
                        f"inspection, not promoted", "params.yaml eval.gate",
                        "add data, raise refine.max_rounds or train.max_epochs, or lower eval.gate.threshold "
                        "(-S eval.fail_on_gate=false to only warn)")


def main() -> None:
    cfg = load_params("seed", "model", "data", "train", "eval")
    export(cfg)
    print(f"export: model, tokenizer and model card in {paths.EXPORT}/")
    check_gate(cfg)


if __name__ == "__main__":
    run_main(main)
