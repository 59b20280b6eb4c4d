"""Export a sequence classifier to ONNX (dynamic batch and sequence axes), run it with ONNX Runtime, and
prove it matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from pipeline.core.errors import PipelineError
from pipeline.serving.inference import hf_encode, load_model, reads_pairs
from pipeline.serving.text_classifier import logits, onnx_forward, onnx_session, torch_forward

OPSET = 17
TOLERANCE = 1e-4  # max |logit difference| allowed between ONNX Runtime and PyTorch in fp32


def export_onnx(model_dir: Path, tokenizer: PreTrainedTokenizerBase, target: Path, texts: list,
                trust_remote_code: bool = False) -> dict:
    """Write `target` and return the parity check on `texts` (batched with padding, and one by one)."""
    model = load_model(model_dir, trust_remote_code)
    sample = tokenizer(texts[:2], padding=True, truncation=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.inference_mode():
        torch.onnx.export(model, tuple(sample[name] for name in names), str(target), input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    onnx, pytorch, n = onnx_forward(onnx_session(target)), torch_forward(model), model.config.num_labels
    encode, pairs = hf_encode(tokenizer), reads_pairs(tokenizer)
    diff = max(float(np.abs(logits(onnx, encode, batch, n, pairs) - logits(pytorch, encode, batch, n, pairs)).max())
               for batch in (texts, texts[:1]))
    if diff > TOLERANCE:
        raise PipelineError("onnx-mismatch", f"ONNX logits differ from PyTorch by {diff:.2e} (> {TOLERANCE})", str(target),
                            "report it with the model and torch/onnx versions; use the safetensors model meanwhile")
    return {"opset": OPSET, "checked_examples": len(texts), "max_abs_logit_diff": diff, "tolerance": TOLERANCE}
