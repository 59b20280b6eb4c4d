"""Bayesian search (python -m pipeline.sweep): each Optuna trial a DVC experiment of the train stage on a small model,
several processes sharing one study, the median pruner stopping a poor trial, and the one-line errors."""

import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient

from conftest import ROOT, commit_all, run, tool_env

TINY = ["model=tiny", "train.max_epochs=1"]
# A poor learning rate shows after one epoch on pretrained weights (the tiny model from scratch needs many)
HEAD_ONLY = ["model=minilm", "finetune=head_only", "model.max_seq_len=64", "train.warmup_ratio=0", "train.max_epochs=2"]
FIXED = ["gpu=cpu", "data=csv", "data.path=data/small.csv", "data.text_column=body", "data.label_column=topic",
         "eval.gate.threshold=0", "tracking.system_metrics=false", "train.progress_bar=false"]
SWEEP = """study: {study}
storage: sqlite:///optuna.db
n_trials: 2
seed: {seed}
metric: val/f1
direction: maximize
target: train
pruner: {{n_startup_trials: 1, n_warmup_steps: 0}}
space: {space}
"""


def write_sweep(project: Path, name: str, space: str, seed: int = 42) -> None:
    (project / "conf/sweep" / f"{name}.yaml").write_text(SWEEP.format(study=name, seed=seed, space=space))


def sweep(project: Path, *args: str, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline.sweep", *args, *FIXED], cwd=cwd or project,
                            env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, f"{out}\n{err[-3000:]}"
    return out


def study(project: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{project / 'optuna.db'}")


def train_runs(project: Path, name: str) -> dict[int, object]:
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("text-classification")
    runs = client.search_runs([experiment.experiment_id], f"tags.`optuna.study` = '{name}' and tags.stage = 'train'")
    return {int(r.data.tags["optuna.trial"]): r for r in runs}


@pytest.fixture
def sweep_project(project, small_frame) -> Path:
    (project / "data").mkdir()
    small_frame.rename(columns={"text": "body", "label": "topic"}).to_csv(project / "data/small.csv", index=False)
    write_sweep(project, "shared", "{train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}}")
    shutil.copy(ROOT / "dvc.lock", project / "dvc.lock")  # as committed: outputs this project's cache lacks
    write_sweep(project, "pruning", "{train.lr: {type: categorical, choices: [1.0e-2, 1.0e-9]}}", seed=41)
    commit_all(project, "project with a small csv and two searches")
    return project


@pytest.mark.slow
def test_two_processes_share_a_study_of_dvc_experiments_and_a_second_call_adds_trials(sweep_project):
    project = sweep_project
    # Two processes, one from a subfolder: 4 trials of one epoch in one study.
    both = [sweep(project, "sweep=shared", *TINY),
            sweep(project, "sweep=shared", *TINY, cwd=project / "conf")]
    outputs = [finished(process) for process in both]
    trials = study(project, "shared").trials
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]  # none run twice
    assert {t.state for t in trials} <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert len({t.params["train.lr"] for t in trials}) == 4  # seeded by trial number: no two alike
    experiments = set(run([sys.executable, "-m", "dvc", "exp", "list", "--name-only"], project).stdout.split())
    assert {f"shared-{n}" for n in range(4)} <= experiments
    runs = train_runs(project, "shared")
    parent = study(project, "shared").user_attrs["mlflow_parent_run_id"]
    assert set(runs) == {0, 1, 2, 3}
    assert {r.data.tags["mlflow.parentRunId"] for r in runs.values()} == {parent}
    assert {r.info.run_name for r in runs.values()} == {f"shared-{n}" for n in range(4)}
    assert all("best trial" in out and "dvc exp apply shared-" in out for out in outputs)

    # A second call with the same study continues it, and applies the best trial to the workspace although the
    # committed dvc.lock names outputs (evaluate's, export's) this project's cache never held.
    out = finished(sweep(project, "sweep=shared", "sweep.n_trials=1", "--apply", *TINY))
    assert sorted(t.number for t in study(project, "shared").trials) == [0, 1, 2, 3, 4]
    best = study(project, "shared").best_trial
    assert f"applied shared-{best.number}" in out
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["lr"] == best.params["train.lr"]


@pytest.mark.slow
def test_the_pruner_stops_a_poor_trial_before_its_last_epoch(sweep_project):
    # seed 41: trial 0 trains at 1e-2 (the startup trial), trial 1 at 1e-9: below its median after epoch 0.
    out = finished(sweep(sweep_project, "sweep=pruning", *HEAD_ONLY))
    good, poor = study(sweep_project, "pruning").trials
    assert (good.params, poor.params) == ({"train.lr": 1e-2}, {"train.lr": 1e-9})
    assert good.state == optuna.trial.TrialState.COMPLETE and len(good.intermediate_values) == 2
    assert poor.state == optuna.trial.TrialState.PRUNED and list(poor.intermediate_values) == [0]
    assert train_runs(sweep_project, "pruning")[1].data.tags["optuna.pruned"] == "true"
    assert "trial 1 pruned" in out and "best trial 0" in out


@pytest.mark.parametrize("args, message", [
    (["sweep.metric=test/f1_macro"], "error[sweep-bad-metric]: 'test/f1_macro' is a test metric"),
    (["sweep.metric=val/loss"], "error[sweep-bad-metric]: train does not log 'val/loss'"),
    (["sweep=empty"], "error[sweep-bad-space]: the search space is empty"),
    (["sweep=typo"], "error[config-unknown-key]: unknown key train.lrr"),
    (["sweep=normal"], "error[sweep-bad-space]: unknown type 'normal' for train.lr"),
    (["sweep.storage=sqlite:////nonexistent/folder/optuna.db"], "error[sweep-storage-unreachable]"),
])
def test_a_bad_search_is_one_line_before_any_trial(project, args, message):
    write_sweep(project, "empty", "{}")
    write_sweep(project, "typo", "{train.lrr: {type: float, low: 1.0e-4, high: 1.0e-2}}")
    write_sweep(project, "normal", "{train.lr: {type: normal, low: 1.0e-4, high: 1.0e-2}}")
    process = sweep(project, *args, *TINY)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2 and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1 and "trial" not in out
