"""Whether the int8 model may serve: its validation macro F1 within `export.max_quantization_drop` of fp32
ONNX Runtime's on the same validation split (the test split decides nothing). Test figures of both, and of
int8 on the rows the champion is compared on, are reported beside it with size and batch-1 latency."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from pipeline.evaluation.champion import COMPARED
from pipeline.evaluation.metrics import macro_f1
from pipeline.serving.quantize import INT8_FILE, has_vnni, quantize_int8
from pipeline.serving.text_classifier import TextClassifier, serving_threads

LATENCY_TEXTS = 32  # validation texts timed one at a time (batch 1) for each model
Examples = tuple[list, torch.Tensor]  # texts (pairs of texts: tuples) and their label ids


def skipped(export: DictConfig) -> dict | None:
    """Why no int8 model is made (served in fp32, said in the model card), or None when one is tried."""
    if export.quantize == "none":
        return {"accepted": False, "reason": "export.quantize=none"}
    if export.serve_with != "onnx":
        return {"accepted": False, "reason": f"export.serve_with={export.serve_with}: int8 is an ONNX Runtime model"}
    return None


def check_int8(folder: Path, validation: Examples, test: Examples, max_drop: float,
               compared: np.ndarray | None = None) -> dict:
    """Quantize folder/model.onnx to folder/model.int8.onnx and measure both; a rejected int8 file is deleted.
    `compared` marks the test rows the champion is scored on (champion.unseen_rows), if there is one."""
    int8, reduce_range = folder / INT8_FILE, not has_vnni()
    quantize_int8(folder / "model.onnx", int8, reduce_range)
    threads = serving_threads()  # timed as the served model runs them
    fp32_model, int8_model = (TextClassifier(folder, "onnx", onnx_file, threads) for onnx_file in ("model.onnx", INT8_FILE))
    classes = len(fp32_model.labels)
    fp32_val, int8_val = (macro_f1(_preds(model, validation[0]), validation[1], classes) for model in (fp32_model, int8_model))
    int8_test = _preds(int8_model, test[0])
    drop = round(fp32_val - int8_val, 6)
    result = {"accepted": drop <= max_drop, "reduce_range": reduce_range, "validation/f1_macro_fp32": fp32_val,
              "validation/f1_macro_int8": int8_val, "f1_drop": drop, "max_drop": max_drop,
              "test/f1_macro_fp32": macro_f1(_preds(fp32_model, test[0]), test[1], classes),
              "test/f1_macro_int8": macro_f1(int8_test, test[1], classes),
              "size_mb_fp32": round((folder / "model.onnx").stat().st_size / 1e6, 2),
              "size_mb_int8": round(int8.stat().st_size / 1e6, 2),
              **{f"latency_ms_batch1_{name}": _batch1_ms(model, validation[0][:LATENCY_TEXTS])
                 for name, model in (("fp32", fp32_model), ("int8", int8_model))}, "latency_threads": threads}
    if compared is not None and compared.any():
        keep = torch.from_numpy(compared)
        result[f"{COMPARED}_int8"] = macro_f1(int8_test[keep], test[1][keep], classes)
    if not result["accepted"]:
        int8.unlink()
    return result


def describe(int8: dict) -> str:
    """One line: accepted or not (or why none was tried), the F1 it was decided on, size and latency."""
    if "reason" in int8:
        return f"no int8 model ({int8['reason']}); the served model is fp32"
    return (f"int8 {'accepted' if int8['accepted'] else 'rejected, not served'}: validation macro F1 "
            f"{int8['validation/f1_macro_int8']} vs fp32 {int8['validation/f1_macro_fp32']} (drop {int8['f1_drop']}, "
            f"allowed {int8['max_drop']}); test {int8['test/f1_macro_int8']} vs {int8['test/f1_macro_fp32']}; "
            f"{int8['size_mb_int8']} MB vs {int8['size_mb_fp32']} MB; batch 1 {int8['latency_ms_batch1_int8']} ms "
            f"vs {int8['latency_ms_batch1_fp32']} ms")


def _preds(classifier: TextClassifier, texts: list) -> torch.Tensor:
    return torch.from_numpy(classifier.decisions(texts))


def _batch1_ms(classifier: TextClassifier, texts: list) -> float:
    classifier.logits(texts[:1])  # warm-up
    times = []
    for text in texts:
        started = time.perf_counter()
        classifier.logits([text])
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)
