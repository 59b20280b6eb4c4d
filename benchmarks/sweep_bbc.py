"""A Bayesian search on BBC News with the default model (python -m pipeline.sweep with conf/sweep/lr_epochs.yaml)
against the default settings: validation and test macro F1 of each, the search's wall time and its pruned trials.

    .venv/bin/python benchmarks/sweep_bbc.py [--trials 8] [--out FILE]

In a clone of HEAD (a git repository, as `dvc exp run` needs), on the CPU (-S gpu=cpu):
  1. the default settings: `dvc exp run evaluate -S gpu=cpu` (val F1 from models/trained/training.json, test F1
     from reports/metrics.json);
  2. the search: `python -m pipeline.sweep sweep.n_trials=N gpu=cpu`, timed; its trials find preprocess and baseline
     in DVC's run cache (step 1 ran them);
  3. the winner: `python -m pipeline.sweep sweep.n_trials=0 --apply` (the best trial's experiment in the workspace),
     then `dvc repro evaluate` for its test F1 (the search never reads the test split).
Prints one line per trial and a JSON summary, which is appended to --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import optuna

from common import clone_of_head, cpu_name, pipeline_env

STUDY = "lr_epochs"  # conf/sweep/lr_epochs.yaml's study name


def run(clone: Path, *command: str) -> str:
    result = subprocess.run(command, cwd=clone, env=pipeline_env(), capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def scores(clone: Path) -> dict:
    training = json.loads((clone / "models/trained/training.json").read_text())
    metrics = json.loads((clone / "reports/metrics.json").read_text())
    return {"val_f1": training["val/f1"], "test_f1": metrics["test/f1_macro"],
            "test_low": metrics["test/f1_macro_low"], "test_high": metrics["test/f1_macro_high"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("sweep_bbc.jsonl"))
    args = parser.parse_args()
    dvc = [sys.executable, "-m", "dvc"]
    with clone_of_head("bench-sweep-") as clone:
        head = run(clone, "git", "rev-parse", "--short", "HEAD").strip()
        print(f"Machine: {cpu_name()}; HEAD {head}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        run(clone, *dvc, "exp", "run", "evaluate", "-S", "gpu=cpu", "--name", "defaults")
        defaults = {**scores(clone), "seconds": round(time.perf_counter() - started, 1)}
        print(f"defaults: {defaults}", flush=True)

        started = time.perf_counter()
        log = run(clone, sys.executable, "-m", "pipeline.sweep", f"sweep.n_trials={args.trials}", "gpu=cpu")
        seconds = round(time.perf_counter() - started, 1)
        print(log, flush=True)
        study = optuna.load_study(study_name=STUDY, storage=f"sqlite:///{clone / 'optuna.db'}")
        trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
                   "epochs_run": len(t.intermediate_values)} for t in study.trials]
        best = study.best_trial

        run(clone, sys.executable, "-m", "pipeline.sweep", "sweep.n_trials=0", "--apply", "gpu=cpu")
        run(clone, *dvc, "repro", "evaluate")
        summary = {"head": head, "trials": trials, "sweep_seconds": seconds, "defaults": defaults,
                   "best": {"number": best.number, "params": best.params, **scores(clone)},
                   "pruned": sum(t["state"] == "PRUNED" for t in trials)}
    line = json.dumps(summary)
    with args.out.open("a") as handle:
        handle.write(line + "\n")
    print(line)


if __name__ == "__main__":
    main()
