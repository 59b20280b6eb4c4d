"""`python -m pipeline.sweep [sweep=NAME] [sweep.KEY=VALUE ...] [KEY=VALUE ...] [--apply]`: a Bayesian search
over the pipeline's params, each trial one DVC experiment.

  sweep=NAME          the search in conf/sweep/NAME.yaml (default lr_epochs): space, metric, n_trials, storage, ...
  sweep.KEY=VALUE     changes one of its settings, e.g. sweep.n_trials=20 sweep.study=lora-vs-full
  KEY=VALUE           a fixed override for every trial (`-S` of dvc exp run), e.g. model=tiny gpu=cpu
  --apply             applies the best trial's experiment to the workspace (dvc exp apply)

Optuna's TPE sampler (seeded) proposes each trial's values; `dvc exp run --temp <target> -S ... --name
<study>-<number>` runs it in a temporary copy of the project, so several processes running this command against
one storage share the study and run side by side. n_trials counts the trials this call adds. Train reports the
validation metric after each epoch; the median pruner stops poor trials early (state PRUNED, MLflow tag
optuna.pruned). Each trial's train run is a child of the study's MLflow run. Test metrics play no part.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import optuna
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError

from pipeline.config.compose import check_group_option, compose_config
from pipeline.config.schema import Gate
from pipeline.core.errors import PipelineError, run_main
from pipeline.core.interpreter import with_interpreter_on_path
from pipeline.core.paths import (MLFLOW_PARENT_RUN, OPTUNA_PRUNER_ATTR, OPTUNA_STORAGE, OPTUNA_STUDY, OPTUNA_TRIAL,
                                 enclosing_project)
from pipeline.core.redact import redact
from pipeline.tracking.store import PRUNED_TAG, absolute, experiment_id, reachable_tracking_uri

DEFAULT_SWEEP = "lr_epochs"
TYPES = ("float", "int", "categorical")  # a space entry's distribution: float and int take low, high and log
PARENT_RUN_ATTR = "mlflow_parent_run_id"  # the study's user attribute that names its MLflow run


def read_arguments(argv: list[str], conf: Path) -> tuple[DictConfig, list[str], bool]:
    """The sweep settings, the fixed overrides and whether to apply the best trial, from the command line."""
    apply = "--apply" in argv
    pairs = [arg for arg in argv if arg != "--apply"]
    for arg in pairs:
        if "=" not in arg:
            raise PipelineError("config-bad-override", f"cannot read '{arg}' as a key=value override",
                                "the command line", "write sweep=NAME, sweep.KEY=VALUE or KEY=VALUE; --help prints "
                                "usage")
    name = next((arg.split("=", 1)[1] for arg in pairs if arg.startswith("sweep=")), DEFAULT_SWEEP)
    check_group_option(f"sweep={name}", conf)
    sweep = OmegaConf.load(conf / "sweep" / f"{name}.yaml")
    OmegaConf.set_struct(sweep, True)  # a mistyped setting is an error; the space stays open to new keys
    OmegaConf.set_struct(sweep.space, False)
    settings = [arg[len("sweep."):] for arg in pairs if arg.startswith("sweep.")]
    try:
        sweep = OmegaConf.merge(sweep, OmegaConf.from_dotlist(settings))
    except ConfigKeyError as err:
        raise PipelineError("config-unknown-key", f"unknown key sweep.{err.full_key}", f"conf/sweep/{name}.yaml",
                            f"use one of: {', '.join(f'sweep.{key}' for key in sweep)}") from None
    fixed = [arg for arg in pairs if not arg.startswith(("sweep=", "sweep."))]
    return sweep, fixed + [f"eval.gate.metric={sweep.metric}"], apply


def checked_arguments(argv: list[str], conf: Path) -> tuple[DictConfig, list[str], bool]:
    """read_arguments, with the metric and every value of the space checked before any trial runs."""
    sweep, fixed, apply = read_arguments(argv, conf)
    check_metric(sweep.metric)
    check_space(sweep.space, fixed, conf)
    return sweep, fixed, apply


def check_metric(metric: str) -> None:
    """The metric must be a validation metric train logs and monitors: never a test metric."""
    where = "sweep.metric"
    if metric.startswith("test/"):
        raise PipelineError("sweep-bad-metric", f"'{metric}' is a test metric: choosing on it leaks the test split",
                            where, "search on val/f1 or val/accuracy; evaluate reads test once, for the winner")
    logged = next(f.metadata["choices"] for f in fields(Gate) if f.name == "metric")
    if metric not in logged:
        raise PipelineError("sweep-bad-metric", f"train does not log '{metric}'", where,
                            f"use one of: {', '.join(logged)}")


def check_space(space: DictConfig, fixed: list[str], conf: Path) -> None:
    """Every key of the search space exists in the composed config and takes its first value there."""
    if not space:
        raise PipelineError("sweep-bad-space", "the search space is empty", "sweep.space",
                            "add keys, e.g. train.lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}")
    for key, spec in space.items():
        if spec.get("type") not in TYPES:
            raise PipelineError("sweep-bad-space", f"unknown type '{spec.get('type')}' for {key}", "sweep.space",
                                f"use one of: {', '.join(TYPES)}")
        first = spec.choices[0] if spec.type == "categorical" else spec.low
        when = [f"{name}={value}" for name, value in (spec.get("when") or {}).items()]
        compose_config([*fixed, *when, f"{key}={first}"], conf_dir=conf)


def sample(trial: optuna.Trial, space: DictConfig) -> dict:
    """The trial's values, in the space's order; a key with `when` only where the values sampled so far match."""
    values = {}
    for key, spec in space.items():
        if any(values.get(name) != value for name, value in (spec.get("when") or {}).items()):
            continue
        if spec.type == "categorical":
            values[key] = trial.suggest_categorical(key, list(spec.choices))
        else:
            suggest = trial.suggest_float if spec.type == "float" else trial.suggest_int
            values[key] = suggest(key, spec.low, spec.high, log=spec.get("log", False))
    return values


def open_study(sweep: DictConfig) -> tuple[optuna.Study, bool]:
    """The study in `sweep.storage`, created if missing; True when this call created it."""
    storage = absolute(sweep.storage)
    options = {"study_name": sweep.study, "storage": storage, "direction": sweep.direction,
               "pruner": optuna.pruners.MedianPruner(**sweep.pruner)}
    for _ in range(3):  # two processes making a new database at once: the later one's tables clash, once
        try:
            return optuna.create_study(**options), True
        except optuna.exceptions.DuplicatedStudyError:
            return optuna.load_study(**{k: v for k, v in options.items() if k != "direction"}), False
        except Exception as err:  # the driver's own errors: sqlalchemy's, a missing driver, a malformed URL
            failure = err
            time.sleep(1)
    raise PipelineError("sweep-storage-unreachable", f"cannot open the study's storage: {str(failure).splitlines()[0]}",
                        f"sweep.storage {redact(storage)}", "fix sweep.storage (sqlite:///optuna.db needs no server)")


def parent_run(study: optuna.Study, created: bool, uri: str, experiment_name: str) -> tuple[MlflowClient, str, str]:
    """A client, the MLflow experiment and the study's run: made by the process that created the study, found by
    the others (which touch the store only then: two processes creating a new sqlite store at once collide)."""
    if not created:
        for _ in range(60):  # the creator sets it right after creating the study
            if PARENT_RUN_ATTR in study.user_attrs:
                break
            time.sleep(1)
        else:
            raise PipelineError("sweep-study-incomplete", f"study {study.study_name} has no MLflow run after 60 s",
                                "sweep.storage", "use another sweep.study, or delete this one (optuna delete-study)")
    client = MlflowClient(uri)
    experiment = experiment_id(client, experiment_name)
    if created:
        run = client.create_run(experiment, run_name=study.study_name, tags={"optuna.study": study.study_name})
        study.set_user_attr(PARENT_RUN_ATTR, run.info.run_id)
    return client, experiment, study.user_attrs[PARENT_RUN_ATTR]


def run_trial(study: optuna.Study, sweep: DictConfig, fixed: list[str], parent: str, client: MlflowClient,
              experiment: str) -> None:
    """Ask for a trial, run it as a DVC experiment, tell its metric (or PRUNED, or FAIL)."""
    trial = study.ask()
    # Seeded by trial number: processes sharing the study with one seed would otherwise propose the same values.
    study.sampler = optuna.samplers.TPESampler(seed=sweep.seed + trial.number)
    values = sample(trial, sweep.space)
    name = f"{study.study_name}-{trial.number}"
    trial.set_user_attr("dvc_experiment", name)
    env = with_interpreter_on_path({
        **os.environ, OPTUNA_STORAGE: absolute(sweep.storage), OPTUNA_STUDY: study.study_name,
        OPTUNA_TRIAL: str(trial.number), MLFLOW_PARENT_RUN: parent})
    overrides = [arg for value in [*fixed, *(f"{k}={v}" for k, v in values.items())] for arg in ("-S", value)]
    shown = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"sweep: trial {trial.number} ({shown}): dvc exp run --temp {sweep.target} --name {name}", flush=True)
    done = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "--temp", sweep.target, "--name", name,
                           *overrides], env=env, capture_output=True, text=True)
    runs = client.search_runs([experiment], f"tags.`optuna.study` = '{study.study_name}' and "
                                            f"tags.`optuna.trial` = '{trial.number}'")
    if done.returncode != 0 or not runs:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        print(f"sweep: trial {trial.number} failed:\n{(done.stderr or done.stdout)[-2000:]}", file=sys.stderr)
        return
    if runs[0].data.tags.get(PRUNED_TAG) == "true":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        print(f"sweep: trial {trial.number} pruned")
        return
    value = runs[0].data.metrics["gate/value"]  # the best value of sweep.metric, the gate's metric in each trial
    study.tell(trial, value)
    print(f"sweep: trial {trial.number}: {sweep.metric} {value:.4f}")


def report_best(study: optuna.Study, metric: str) -> str:
    """Print the best finished trial: its value, its -S overrides and its DVC experiment; returns the experiment."""
    best = study.best_trial
    experiment = best.user_attrs["dvc_experiment"]
    overrides = " ".join(f"-S {key}={value}" for key, value in best.params.items())
    print(f"sweep: best trial {best.number}: {metric} {best.value:.4f}, DVC experiment {experiment}\n"
          f"  its params: {overrides}\n  apply it: dvc exp apply {experiment}  (or python -m pipeline.sweep --apply)")
    return experiment


def main() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial, printed below
    root = enclosing_project(Path.cwd())
    if root is None:
        raise PipelineError("sweep-outside-project", "no project (dvc.yaml and conf/) here or above", str(Path.cwd()),
                            "run it inside the project's checkout")
    os.chdir(root)  # DVC and relative storage paths from the project root
    conf = root / "conf"
    sweep, fixed, apply = checked_arguments(sys.argv[1:], conf)
    cfg = compose_config(fixed, conf_dir=conf)
    study, created = open_study(sweep)
    study.set_user_attr(OPTUNA_PRUNER_ATTR, OmegaConf.to_container(sweep.pruner))  # for the trials' train stage
    client, experiment, parent = parent_run(study, created, reachable_tracking_uri(cfg.tracking),
                                            cfg.tracking.experiment)
    for _ in range(sweep.n_trials):
        run_trial(study, sweep, fixed, parent, client, experiment)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        raise PipelineError("sweep-no-trial", f"no trial of study {sweep.study} finished", "the trials above",
                            "read their errors; run again with more trials or a later pruner (sweep.pruner)")
    best = report_best(study, sweep.metric)
    if apply:
        apply_experiment(best, sweep.target)


def apply_experiment(name: str, target: str) -> None:
    """`dvc exp apply NAME`, but outputs missing from the cache are not an error: a trial ran up to `target`, so
    its experiment keeps the commit's lock entries for the stages after it, whose outputs this cache may never
    have held (a fresh clone); `dvc repro` rebuilds them."""
    from dvc.repo import Repo

    with Repo() as repo:
        repo.experiments.apply(name, allow_missing=True)
    print(f"sweep: applied {name} to the workspace; `dvc repro` runs the stages after {target}")


if __name__ == "__main__":
    run_main(main)
