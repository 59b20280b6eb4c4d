"""fp32 ONNX Runtime, dynamic int8 ONNX Runtime and PyTorch eager on a trained model: size, test macro F1,
and CPU latency at batch 1 and 32.

    cd benchmarks && ../.venv/bin/python int8.py PROJECT [--warmup 5] [--reps 30] [--threads N]

PROJECT is a project folder after `dvc repro` (models/export and data/processed). The int8 model is made
as `export.quantize=dynamic_int8` makes it (pipeline.serving.quantize, reduce_range off where the CPU has
VNNI), in a temporary folder. F1: the whole test split, each runtime through the pipeline's own inference
path (PyTorch as evaluate runs it, ONNX Runtime as the registered model serves). Latency: test texts cut or
padded to exactly 128 tokens; warm-up calls, then the median and p90 of --reps timed calls. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from onnx_latency import SEQ_LEN, eager_call, fixed_length_batch, latencies_ms, machine, ort_session
from pipeline.data.loader import split_examples
from pipeline.evaluation.metrics import macro_f1
from pipeline.models.safe_load import load_pretrained
from pipeline.serving.inference import load_model, predicted_ids
from pipeline.serving.quantize import INT8_FILE, has_vnni, quantize_int8
from pipeline.serving.text_classifier import TextClassifier, onnx_forward


def size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path, help="a project folder after `dvc repro`")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.chdir(args.project)  # the pipeline's paths are relative to the project root
    export = Path("models/export").resolve()
    texts, targets = split_examples("test")
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        folder = Path(tmp) / "model"
        shutil.copytree(export, folder, ignore=shutil.ignore_patterns("*.safetensors"))
        reduce_range = not has_vnni()
        quantize_int8(folder / "model.onnx", folder / INT8_FILE, reduce_range)
        model, tokenizer = load_model(export), load_pretrained(AutoTokenizer, export)
        n = len(model.config.id2label)
        runtimes = {"PyTorch eager (fp32)": (export / "model.safetensors", None),
                    "ONNX Runtime fp32": (folder / "model.onnx", TextClassifier(folder, "onnx")),
                    "ONNX Runtime dynamic int8": (folder / INT8_FILE, TextClassifier(folder, "onnx", INT8_FILE))}
        f1 = {"PyTorch eager (fp32)": macro_f1(predicted_ids(model, tokenizer, texts), targets, n)}
        for name, (_, classifier) in list(runtimes.items())[1:]:
            f1[name] = macro_f1(torch.from_numpy(classifier.logits(texts).argmax(axis=1)), targets, n)
        sessions = {name: ort_session(path, args.threads) for name, (path, _) in list(runtimes.items())[1:]}
        names = [arg.name for arg in next(iter(sessions.values())).get_inputs()]
        timings = {}
        for batch_size in (1, 32):
            batch = fixed_length_batch(tokenizer, texts[:batch_size], names)
            timings[("PyTorch eager (fp32)", batch_size)] = latencies_ms(eager_call(model, batch), args.warmup, args.reps)
            for name, session in sessions.items():
                timings[(name, batch_size)] = latencies_ms(lambda: onnx_forward(session)(batch), args.warmup, args.reps)
        print(f"## int8 against fp32 and PyTorch (CPU inference)\n\n{machine(args.threads)}; VNNI: {has_vnni()} "
              f"(reduce_range={reduce_range})\n\nModel: {args.project}/models/export "
              f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params); test split: {len(texts)} texts, "
              f"{n} labels. Latency: inputs of exactly {SEQ_LEN} tokens, {args.warmup} warm-up calls, then "
              f"{args.reps} timed calls per cell.\n")
        print("| runtime | size MB | test macro F1 | batch 1 median ms (p90) | batch 32 median ms (p90) | "
              "batch 1 speed-up vs fp32 ONNX |\n|---|---|---|---|---|---|")
        base = np.median(timings[("ONNX Runtime fp32", 1)])
        for name, (path, _) in runtimes.items():
            one, many = timings[(name, 1)], timings[(name, 32)]
            print(f"| {name} | {size_mb(path):.1f} | {f1[name]:.4f} | {np.median(one):.1f} ({np.percentile(one, 90):.1f}) "
                  f"| {np.median(many):.1f} ({np.percentile(many, 90):.1f}) | {base / np.median(one):.2f}x |")


if __name__ == "__main__":
    main()
