"""Export a sequence classifier to ONNX (dynamic batch and sequence axes) and prove it matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from pipeline.errors import PipelineError
from pipeline.serving import load_model

OPSET = 17
TOLERANCE = 1e-4  # max |logit difference| allowed between ONNX Runtime and PyTorch in fp32


def export_onnx(model_dir: Path, tokenizer: PreTrainedTokenizerBase, target: Path, texts: list[str],
                max_len: int) -> dict:
    """Write `target` and return the parity check on `texts` (batched with padding, and one by one)."""
    model = load_model(model_dir)
    sample = tokenizer(texts[:2], padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    with torch.inference_mode():
        torch.onnx.export(model, tuple(sample[name] for name in names), str(target), input_names=names,
                          output_names=["logits"], dynamic_axes={**axes, "logits": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    diff = max(_max_difference(model, target, tokenizer, batch, names, max_len)
               for batch in (texts, texts[:1]))
    if diff > TOLERANCE:
        raise PipelineError("onnx-mismatch", f"ONNX logits differ from PyTorch by {diff:.2e} (> {TOLERANCE})", str(target),
                            "report it with the model and torch/onnx versions; use the safetensors model meanwhile")
    return {"opset": OPSET, "checked_examples": len(texts), "max_abs_logit_diff": float(diff),
            "tolerance": TOLERANCE}


def onnx_session(onnx_path: Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])


def onnx_logits(session, batch) -> np.ndarray:
    """ONNX Runtime logits for a tokenized batch; feeds the inputs the graph declares."""
    inputs = {arg.name: np.asarray(batch[arg.name], dtype=np.int64) for arg in session.get_inputs()}
    (logits,) = session.run(["logits"], inputs)
    return logits


def _max_difference(model, onnx_path: Path, tokenizer, texts: list[str], names: list[str], max_len: int) -> float:
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    with torch.inference_mode():
        torch_logits = model(**{name: batch[name] for name in names}).logits.numpy()
    return float(np.abs(onnx_logits(onnx_session(onnx_path), batch) - torch_logits).max())
