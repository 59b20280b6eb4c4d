"""The train stage against a plain PyTorch loop on the same split, and what each of its features costs.

    .venv/bin/python benchmarks/fit_costs.py [--epochs 2] [--train-size N] [--repeats 1]

One throw-away clone of HEAD: params.yaml composed for MiniLM (packaged), seq 128, batch 16, lr 1e-4, the
default seed and split; validate_env, preprocess and resolve run as `dvc repro` runs them. Then, in one run,
side by side on the same processed splits:
  loop     a plain PyTorch loop (benchmarks/trainers.py run_loop): the same model, optimizer groups, warmup
           schedule and epochs, validation after every epoch; its epochs and validations timed
  ours     `python -m pipeline.stages.train` (what `dvc repro` runs), fit_seconds from its training.json:
           Lightning's sanity validation, the epochs, validation, checkpoints and MLflow logging; run through
           benchmarks/timed_train.py, which also reports the seconds spent inside each feature
  ours with one feature off: resume checkpoints (train.checkpoint_every_n_steps=0), deterministic kernels
           (the plan's `deterministic` set to false, as `train.deterministic=false` makes resolve write), MLflow logging every 10 steps (train.log_every_n_steps
           larger than the run), the progress bar (train.progress_bar=false); then all of them off
With --repeats 2 or more the contenders run again in reverse order and the median is shown. Prints
Markdown; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from common import ROOT, clone_of_head, compose_params, run_in
from trainers import machine, our_overrides, prepare, run_loop, split_sizes, warmup_for

OFF = {  # feature -> (params overrides, plan settings) that turn it off
    "resume checkpoints": (["train.checkpoint_every_n_steps=0"], {}),
    "deterministic kernels": ([], {"deterministic": False}),
    "MLflow step logging": (["train.log_every_n_steps=1000000"], {}),
    "progress bar": (["train.progress_bar=false"], {}),
}


def variants() -> dict[str, tuple[list[str], dict]]:
    """Contender name -> (overrides, plan settings) for our stage."""
    found = {"ours (defaults)": ([], {})}
    found.update({f"ours without {feature}": off for feature, off in OFF.items()})
    found["ours without all four"] = ([o for overrides, _ in OFF.values() for o in overrides],
                                      {k: v for _, settings in OFF.values() for k, v in settings.items()})
    return found


def run_ours(clone: Path, base: list[str], overrides: list[str], settings: dict) -> dict:
    """Our train stage with `overrides` in params.yaml and `settings` changed in the plan it reads."""
    compose_params(clone, [*base, *overrides])
    plan_path = clone / "reports/plan.yaml"
    plan = yaml.safe_load(plan_path.read_text())
    original = dict(plan["settings"])
    plan["settings"].update(settings)
    plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    try:
        run_in(clone, [sys.executable, str(Path(__file__).with_name("timed_train.py")), "timings.json"])
    finally:
        plan["settings"] = original
        plan_path.write_text(yaml.safe_dump(plan, sort_keys=False))
    summary = json.loads((clone / "models/trained/training.json").read_text())
    return {"seconds": summary["fit_seconds"], "f1": summary["val/f1"],
            "parts": json.loads((clone / "timings.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, help="train examples (default: the whole train split)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    base = [*our_overrides(128, args.epochs, group_by_length=False), "refine.max_rounds=0"]
    contenders = ["plain PyTorch loop", *variants()]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    scores: dict[str, float] = {}
    parts: dict[str, list[float]] = defaultdict(list)  # seconds inside each feature, runs with the defaults
    with clone_of_head("bench-fit-costs-") as clone:
        prepare(clone, base, args.train_size)
        size, val_size = split_sizes(clone)
        warmup = warmup_for(size, args.epochs)
        for repeat in range(args.repeats):
            for name in contenders if repeat % 2 == 0 else contenders[::-1]:
                if name == "plain PyTorch loop":
                    result = run_loop(clone, args.epochs, warmup)
                else:
                    result = run_ours(clone, base, *variants()[name])
                times[name].append(result["seconds"])
                scores[name] = result["f1"]
                if name == "ours (defaults)":
                    for part, seconds in result["parts"].items():
                        parts[part].append(seconds)
    print(f"## The train stage against a plain loop, and the cost of its features (measured)\n\n"
          f"Machine: {machine()}.  \nCommit {commit.strip()} (a clone of HEAD). MiniLM (packaged), seq 128, batch 16, "
          f"lr 1e-4, {size} train x {args.epochs} epoch(s), {val_size} validation after every epoch, fp32 on the "
          f"CPU; {args.repeats} run(s) each, median.\n")
    loop = statistics.median(times["plain PyTorch loop"])
    ours = statistics.median(times["ours (defaults)"])
    print("| contender | samples/s | fit s | vs the loop | cost of the feature (s, share of ours) | val macro F1 (ours: best epoch; loop: last) |")
    print("|---|---|---|---|---|---|")
    for name in contenders:
        seconds = statistics.median(times[name])
        cost = f"{ours - seconds:+.1f} s ({(ours - seconds) / ours:+.1%})" if name.startswith("ours without") else "-"
        print(f"| {name} | {size * args.epochs / seconds:.2f} | {seconds:.1f} | {loop / seconds:.3f}x | {cost} "
              f"| {scores[name]:.4f} |")
    print("\nTime inside each feature in the default runs (timed by wrapping it, benchmarks/timed_train.py):\n")
    print("| feature | seconds | share of ours' fit |\n|---|---|---|")
    for part, seconds in sorted(parts.items()):
        print(f"| {part} | {statistics.median(seconds):.2f} | {statistics.median(seconds) / ours:.2%} |")
    print(f"\nAll runs: {json.dumps(times)}")


if __name__ == "__main__":
    main()
