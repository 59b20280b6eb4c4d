"""The model card (README.md of models/export): what the model does, how well, and the config that made it."""

from __future__ import annotations

import yaml
from omegaconf import DictConfig, OmegaConf

from pipeline.core.redact import redact


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
