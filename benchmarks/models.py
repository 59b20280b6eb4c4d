"""Models side by side on BBC News: test macro F1 and training time on this machine.

    .venv/bin/python benchmarks/models.py [--only NAME ...] [--pretrain-steps N]

Each variant is a real `dvc exp run` (every stage, -S gpu=cpu) in a throw-away clone of this
repository's HEAD, so the workspace, its mlflow.db and its DVC cache are not touched. Prints a
Markdown table of measured figures; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import clone_of_head, pipeline_env

COMMON = ["gpu=cpu", "eval.fail_on_gate=false"]  # report the figures even where the gate fails


def variants(pretrain_steps: int) -> dict[str, list[str]]:
    return {
        "lstm": ["model=lstm"],
        "tiny (scratch)": ["model=tiny"],
        "tiny (scratch + MLM)": ["model=tiny", f"pretrain.steps={pretrain_steps}"],
        "minilm (full)": ["model=minilm", "model.max_seq_len=128"],  # as measured: auto reads 512 on BBC News
        "minilm (lora)": ["model=minilm", "model.max_seq_len=128", "finetune=lora"],
    }


def run_variant(clone: Path, overrides: list[str]) -> dict:
    """One `dvc exp run`; its metrics, training summary and wall time."""
    env = pipeline_env()
    command = [sys.executable, "-m", "dvc", "exp", "run", *[p for o in COMMON + overrides for p in ("-S", o)]]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    read = lambda path: json.loads((clone / path).read_text())  # noqa: E731
    return {"wall": wall, "metrics": read("reports/metrics.json"), "training": read("models/trained/training.json"),
            "pretraining": read("models/pretrained/pretraining.json")}


def row(name: str, overrides: list[str], result: dict) -> str:
    training, metrics, pretraining = result["training"], result["metrics"], result["pretraining"]
    epochs = sum(r["max_epochs"] for r in training["rounds"])
    pretrain = f"{pretraining['seconds']:.0f} s ({pretraining['steps']} steps)" if pretraining["pretrained"] else "-"
    return (f"| {name} | `{' '.join(overrides)}` | {training['parameters']['trainable'] / 1e6:.2f}M / "
            f"{training['parameters']['total'] / 1e6:.2f}M | {epochs} | {pretrain} | {training['fit_seconds']:.0f} s | "
            f"{result['wall'] / 60:.1f} min | {metrics['test/f1_macro']:.4f} | {metrics['test/accuracy']:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="variant names to run (default: all)")
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    args = parser.parse_args()
    chosen = {name: o for name, o in variants(args.pretrain_steps).items() if not args.only or name in args.only}
    print("| variant | overrides | trained / total params | epochs | MLM pretraining | fit | whole pipeline "
          "| test macro F1 | test accuracy |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, overrides in chosen.items():
        with clone_of_head("bench-models-") as clone:
            print(row(name, overrides, run_variant(clone, overrides)), flush=True)


if __name__ == "__main__":
    main()
