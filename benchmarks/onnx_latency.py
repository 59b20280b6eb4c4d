"""ONNX Runtime vs PyTorch eager: CPU inference latency of the MiniLM sequence classifier.

    .venv/bin/python benchmarks/onnx_latency.py [--model models/export] [--batch-sizes 1 32] [--warmup 5]
                                                [--reps 30] [--threads N]

Without --model: the packaged all-MiniLM-L6-v2 with a fresh, random 5-label head (latency does not
depend on the head's weights), saved with save_pretrained to a temporary folder. With --model: an
exported folder (models/export: model and tokenizer). Either is exported by the pipeline's own
pipeline.serving.onnx_export.export_onnx (which checks the logits against PyTorch) and timed on BBC News
texts tokenized to exactly 128 tokens (truncated, padded where shorter): warm-up calls, then the
median and p90 of --reps timed calls per batch size. PyTorch runs under torch.inference_mode; both
runtimes get the same number of intra-op threads. Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from pipeline.data.sources import load_frame
from pipeline.models.safe_load import load_pretrained
from pipeline.models.sources import build_model, build_tokenizer
from pipeline.serving.onnx_export import export_onnx
from pipeline.serving.text_classifier import onnx_forward, onnx_session
from pipeline.serving.inference import load_model

from common import ROOT, cpu_name

SEQ_LEN = 128
PARITY_TEXTS = 32


def machine(threads: int) -> str:
    cpu = cpu_name()
    return (f"Machine: {cpu}, {os.cpu_count()} logical CPUs; torch {torch.__version__}, "
            f"onnxruntime {ort.__version__}; intra-op threads: torch {torch.get_num_threads()}, "
            f"ONNX Runtime {threads}")


def bbc_texts() -> tuple[list[str], list[str]]:
    """(texts, labels) of the packaged BBC News corpus, in file order."""
    frame = load_frame(OmegaConf.load(ROOT / "conf/data/bbc_news.yaml"))
    return frame["text"].tolist(), sorted(set(frame["label"]))


def save_packaged_minilm(folder: Path, labels: list[str]) -> PreTrainedTokenizerBase:
    """The packaged MiniLM with a fresh head for `labels`, saved to `folder` as train would save it."""
    model_cfg = OmegaConf.load(ROOT / "conf/model/minilm.yaml")
    tokenizer = build_tokenizer(model_cfg, [])
    torch.manual_seed(0)
    build_model(model_cfg, labels, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


def fixed_length_batch(tokenizer: PreTrainedTokenizerBase, texts: list[str], names: list[str]) -> dict:
    """`texts` tokenized to exactly SEQ_LEN tokens, as int64 arrays for the inputs the graph declares."""
    encoded = tokenizer(texts, padding="max_length", truncation=True, max_length=SEQ_LEN, return_tensors="np")
    return {name: encoded[name].astype(np.int64) for name in names}


def eager_call(model, batch: dict) -> Callable[[], object]:
    tensors = {name: torch.from_numpy(array) for name, array in batch.items()}

    def call():
        with torch.inference_mode():
            return model(**tensors).logits
    return call


def latencies_ms(call: Callable[[], object], warmup: int, reps: int) -> np.ndarray:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return np.array(times)


def row(batch_size: int, eager: np.ndarray, onnx: np.ndarray) -> str:
    e50, e90, o50, o90 = np.median(eager), np.percentile(eager, 90), np.median(onnx), np.percentile(onnx, 90)
    return (f"| {batch_size} | {SEQ_LEN} | {e50:.1f} | {e90:.1f} | {o50:.1f} | {o90:.1f} | **{e50 / o50:.2f}x** | "
            f"{batch_size / e50 * 1000:.1f} | {batch_size / o50 * 1000:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path,
                        help="an exported folder with its tokenizer, e.g. models/export (default: packaged MiniLM)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls per runtime and batch size")
    parser.add_argument("--reps", type=int, default=30, help="timed calls per runtime and batch size")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="intra-op threads for both runtimes (default: torch's, one per physical core)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    texts, labels = bbc_texts()
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        folder = args.model or Path(tmp) / "model"
        tokenizer = (load_pretrained(AutoTokenizer, folder) if args.model else save_packaged_minilm(folder, labels))
        tokenizer.model_max_length = SEQ_LEN  # the parity check cuts texts where the timed batches do
        check = export_onnx(folder, tokenizer, Path(tmp) / "model.onnx", texts[:PARITY_TEXTS])
        session = onnx_session(Path(tmp) / "model.onnx", args.threads)
        model = load_model(folder)
        names = [arg.name for arg in session.get_inputs()]
        print(f"## ONNX Runtime vs PyTorch eager (CPU)\n\n{machine(args.threads)}\n\n"
              f"Model: {args.model or 'packaged all-MiniLM-L6-v2, fresh random 5-label head'} "
              f"({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, fp32), ONNX opset {check['opset']}, "
              f"max |logit difference| {check['max_abs_logit_diff']:.1e} on {check['checked_examples']} BBC texts. "
              f"Inputs ({', '.join(names)}): BBC News texts at exactly {SEQ_LEN} tokens; {args.warmup} warm-up "
              f"calls, then {args.reps} timed calls per cell.\n")
        print("| batch | seq | PyTorch median ms | PyTorch p90 ms | ONNX Runtime median ms | ONNX Runtime p90 ms | "
              "speed-up (median) | PyTorch samples/s | ONNX Runtime samples/s |\n|---|---|---|---|---|---|---|---|---|")
        for batch_size in args.batch_sizes:
            batch = fixed_length_batch(tokenizer, texts[:batch_size], names)
            eager = latencies_ms(eager_call(model, batch), args.warmup, args.reps)
            onnx = latencies_ms(lambda: onnx_forward(session)(batch), args.warmup, args.reps)
            print(row(batch_size, eager, onnx), flush=True)


if __name__ == "__main__":
    main()
