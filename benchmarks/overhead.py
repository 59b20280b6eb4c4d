"""Pipeline overhead: a no-op `dvc repro`, and the time from `dvc repro` to the first optimizer step.

    .venv/bin/python benchmarks/overhead.py [--noop-runs 3] [--skip-minilm]

Everything runs in throw-away clones of this repository's HEAD (the workspace, its mlflow.db and its
DVC cache are not touched), with params.yaml composed from conf/ in the clone
(pipeline.config.compose.compose_config: `dvc repro` itself never composes).

1. tiny model (`model=tiny gpu=cpu train.max_epochs=1 ...`): a complete `dvc repro`, then the
   no-op `dvc repro` (every stage cached; only validate_env runs) `--noop-runs` times.
2. Then train.lr changes in params.yaml (train, and the cheap resolve, re-run) and `dvc repro` starts
   again: the first optimizer step is the first `train/loss` the train stage logs to the clone's MLflow
   store (log_every_n_steps=1), minus the wall-clock start of `dvc repro`. The repro is stopped there.
3. The same for the default model (minilm) in a second clone, after `dvc repro pretrain` has run every
   stage before train (MiniLM's full training takes minutes on a CPU, so train itself never ran there).

Prints Markdown; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml
from mlflow.tracking import MlflowClient

from common import ROOT, clone_of_head, compose_params, cpu_name, pipeline_env

PYTHON = sys.executable
COMMON = ["gpu=cpu", "train.log_every_n_steps=1", "eval.fail_on_gate=false"]
TINY = ["model=tiny", "train.max_epochs=1", "refine.max_rounds=0", *COMMON]  # the cheapest complete run
MINILM = ["model=minilm", *COMMON]
CHANGED_LR = "train.lr=5.0e-4"  # a training param only: resolve and train re-run, preprocess does not
POLL_S = 0.5


def machine() -> str:
    cpu = cpu_name()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return (f"Machine: {cpu}, {os.cpu_count()} logical CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), Python {platform.python_version()}; repository HEAD {commit}")


def timed_repro(clone: Path, *targets: str) -> float:
    """Seconds one `dvc repro [targets]` takes; stops the benchmark with dvc's output if it fails."""
    command = [PYTHON, "-m", "dvc", "repro", *targets]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=clone, env=pipeline_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {clone}:\n{(result.stdout + result.stderr)[-3000:]}")
    return seconds


def first_step(clone: Path) -> dict[str, float]:
    """Start `dvc repro`, wait for train's first logged `train/loss`, stop the repro; seconds from its start."""
    experiment = yaml.safe_load((clone / "params.yaml").read_text())["tracking"]["experiment"]
    client = MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")
    client.search_experiments()  # creates the store's tables now, not while train opens it
    log = clone.parent / "repro.log"
    with log.open("w") as output:
        started = time.time()
        repro = subprocess.Popen([PYTHON, "-m", "dvc", "repro"], cwd=clone, env=pipeline_env(), stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True)
        try:
            run, loss = wait_for_first_loss(client, experiment, started, repro)
        finally:
            stop(repro)
    if loss is None:
        raise SystemExit(f"dvc repro ended (exit {repro.returncode}) before train logged train/loss:\n"
                         f"{log.read_text()[-3000:]}")
    return {"to_train_run": run.info.start_time / 1000 - started, "to_first_step": loss.timestamp / 1000 - started}


def wait_for_first_loss(client: MlflowClient, experiment: str, started: float, repro: subprocess.Popen):
    """(train's MLflow run, its first train/loss metric) once logged; (None, None) if the repro ends first."""
    while True:
        finished = repro.poll() is not None  # checked before the store: a last look after the repro ended
        run = train_run(client, experiment, started)
        history = client.get_metric_history(run.info.run_id, "train/loss") if run else []
        if history:
            return run, min(history, key=lambda metric: metric.timestamp)
        if finished:
            return None, None
        time.sleep(POLL_S)


def train_run(client: MlflowClient, experiment: str, started: float):
    """The run the train stage opened after `started`, or None yet."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = client.search_runs([found.experiment_id], max_results=1, order_by=["attributes.start_time ASC"],
                              filter_string=f"attributes.start_time >= {int(started * 1000)} AND tags.stage = 'train'")
    return runs[0] if runs else None


def stop(process: subprocess.Popen) -> None:
    """End `dvc repro` and the stage it runs (its whole process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def measure_tiny(noop_runs: int) -> tuple[float, list[float], dict[str, float]]:
    """(complete repro, no-op repros, first step after a training param changed) for the tiny model."""
    with clone_of_head("bench-overhead-") as clone:
        compose_params(clone, TINY)
        complete = timed_repro(clone)
        noops = [timed_repro(clone) for _ in range(noop_runs)]
        compose_params(clone, [*TINY, CHANGED_LR])
        return complete, noops, first_step(clone)


def measure_minilm() -> tuple[float, dict[str, float]]:
    """(repro of every stage before train, first step) for the default model."""
    with clone_of_head("bench-overhead-") as clone:
        compose_params(clone, MINILM)
        upstream = timed_repro(clone, "pretrain")
        return upstream, first_step(clone)


def step_row(name: str, times: dict[str, float]) -> str:
    return (f"| {name} | {times['to_train_run']:.1f} s | {times['to_first_step'] - times['to_train_run']:.1f} s | "
            f"**{times['to_first_step']:.1f} s** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noop-runs", type=int, default=3, help="no-op `dvc repro` repetitions")
    parser.add_argument("--skip-minilm", action="store_true", help="measure the tiny model only")
    args = parser.parse_args()
    print(f"## Pipeline overhead\n\n{machine()}\n", flush=True)

    complete, noops, tiny_step = measure_tiny(args.noop_runs)
    print(f"params.yaml composed with `{' '.join(TINY)}`.\n\n| measurement | wall time |\n|---|---|\n"
          f"| complete `dvc repro` (every stage, tiny model, 1 epoch) | {complete:.1f} s |\n"
          f"| no-op `dvc repro` (everything cached), median of {len(noops)} | **{statistics.median(noops):.2f} s** "
          f"({', '.join(f'{s:.2f}' for s in noops)}) |\n", flush=True)

    print(f"`dvc repro` start to the first optimizer step (first `train/loss` in MLflow, log_every_n_steps=1), "
          f"every stage before train cached. tiny: after the complete run, `{CHANGED_LR}` changed.")
    rows = [step_row("tiny", tiny_step)]
    if not args.skip_minilm:
        upstream, minilm_step = measure_minilm()
        print(f"minilm (`{' '.join(MINILM)}`): a fresh clone after `dvc repro pretrain` ({upstream:.1f} s).")
        rows.append(step_row("minilm", minilm_step))
    print("\n| model | repro start to train's MLflow run (validate_env, resolve, imports, data, model) | "
          "run to first step (Trainer setup, sanity validation, first step) | total |\n|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
