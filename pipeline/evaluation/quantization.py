"""Whether the int8 model may serve: its test macro F1 within `export.max_quantization_drop` of fp32 ONNX
Runtime's on the same test split. Size and batch-1 latency are measured beside it for the model card."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from pipeline.evaluation.metrics import macro_f1
from pipeline.serving.quantize import INT8_FILE, has_vnni, quantize_int8
from pipeline.serving.text_classifier import TextClassifier

LATENCY_TEXTS = 32  # test texts timed one at a time (batch 1) for each model


def _f1(classifier: TextClassifier, texts: list[str], targets: torch.Tensor) -> float:
    preds = torch.from_numpy(classifier.logits(texts).argmax(axis=1))
    return macro_f1(preds, targets, len(classifier.labels))


def _batch1_ms(classifier: TextClassifier, texts: list[str]) -> float:
    classifier.logits(texts[:1])  # warm-up
    times = []
    for text in texts:
        started = time.perf_counter()
        classifier.logits([text])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


def check_int8(folder: Path, texts: list[str], targets: torch.Tensor, max_drop: float) -> dict:
    """Quantize folder/model.onnx to folder/model.int8.onnx and measure both; a rejected int8 file is deleted."""
    int8, reduce_range = folder / INT8_FILE, not has_vnni()
    quantize_int8(folder / "model.onnx", int8, reduce_range)
    fp32_model, int8_model = TextClassifier(folder, "onnx"), TextClassifier(folder, "onnx", onnx_file=INT8_FILE)
    fp32_f1, int8_f1 = _f1(fp32_model, texts, targets), _f1(int8_model, texts, targets)
    timed = texts[:LATENCY_TEXTS]
    drop = round(fp32_f1 - int8_f1, 6)
    result = {"accepted": drop <= max_drop, "reduce_range": reduce_range, "test/f1_macro_fp32": fp32_f1,
              "test/f1_macro_int8": int8_f1, "f1_drop": drop, "max_drop": max_drop,
              "size_mb_fp32": round((folder / "model.onnx").stat().st_size / 1e6, 2),
              "size_mb_int8": round(int8.stat().st_size / 1e6, 2),
              "latency_ms_batch1_fp32": _batch1_ms(fp32_model, timed), "latency_ms_batch1_int8": _batch1_ms(int8_model, timed)}
    if not result["accepted"]:
        int8.unlink()
    return result


def describe(int8: dict) -> str:
    """One line: accepted or not, and the F1, size and latency it was decided on."""
    return (f"int8 {'accepted' if int8['accepted'] else 'rejected, not served'}: test macro F1 "
            f"{int8['test/f1_macro_int8']} vs fp32 {int8['test/f1_macro_fp32']} (drop {int8['f1_drop']}, allowed "
            f"{int8['max_drop']}); {int8['size_mb_int8']} MB vs {int8['size_mb_fp32']} MB; batch 1 "
            f"{int8['latency_ms_batch1_int8']} ms vs {int8['latency_ms_batch1_fp32']} ms")
