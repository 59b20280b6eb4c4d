"""Where stages read and write (relative to the project root, where DVC runs them); dvc.yaml declares the
same paths."""

import os
from pathlib import Path

# The Hydra config groups: the working directory's when it is a project root, else those of the checkout
# this package runs from (absolute), so that plan and advise work from any directory.
CONF = Path("conf") if (Path("conf") / "config.yaml").is_file() else Path(__file__).resolve().parents[2] / "conf"
ENV_REPORT = Path("reports/env.json")
PROCESSED = Path("data/processed")
DATASET = PROCESSED / "dataset"
TOKENIZER = PROCESSED / "tokenizer"
LABELS = PROCESSED / "labels.json"
DATA_STATS = Path("reports/data_stats.json")
PLAN = Path("reports/plan.yaml")
BUDGET = Path("reports/budget.yaml")  # resolve's data-dependent decisions: epochs and the quality gate
PRETRAINED = Path("models/pretrained")
PRETRAINING_SUMMARY = PRETRAINED / "pretraining.json"
TRAINED = Path("models/trained")
TRAINING_SUMMARY = TRAINED / "training.json"
TRAINED_PLAN = TRAINED / "plan.yaml"  # the plan as trained: resolve's, with any out-of-memory adjustment
PLOTS = Path("reports/plots")
CONFUSION = PLOTS / "confusion.csv"
ERRORS = Path("reports/errors.csv")
PER_CLASS = Path("reports/per_class.csv")
FIGURES = Path("reports/figures")
CONFUSION_PNG = FIGURES / "confusion_matrix.png"
PER_LABEL_PNG = FIGURES / "per_label.png"  # task=multi_label: in place of the confusion matrix
RELIABILITY_PNG = FIGURES / "reliability.png"
BASELINE = Path("reports/baseline.json")
SUSPECT_LABELS = Path("reports/suspect_labels.csv")
METRICS = Path("reports/metrics.json")
EXPORT = Path("models/export")
REGISTRY = Path("reports/registry.json")
RETRAIN_RUN = "PIPELINE_RETRAIN_RUN"  # environment variable: pipeline.retrain's id for its `dvc repro`, kept in REGISTRY
# Environment variables: pipeline.sweep's trial, for the train stage of its DVC experiment (pipeline.training.trial)
OPTUNA_STORAGE, OPTUNA_STUDY, OPTUNA_TRIAL = "PIPELINE_OPTUNA_STORAGE", "PIPELINE_OPTUNA_STUDY", "PIPELINE_OPTUNA_TRIAL"
MLFLOW_PARENT_RUN = "PIPELINE_MLFLOW_PARENT_RUN"  # the study's MLflow run: the trial's train run is its child
OPTUNA_PRUNER_ATTR = "pruner"  # the study's user attribute with the median pruner's settings (sweep.pruner)

# The stage that writes each output (a file, or a folder and everything in it).
WRITTEN_BY = {ENV_REPORT: "validate_env", PROCESSED: "preprocess", DATA_STATS: "preprocess", PLAN: "resolve", BUDGET: "resolve",
              BASELINE: "baseline", SUSPECT_LABELS: "baseline", PRETRAINED: "pretrain", TRAINED: "train",
              METRICS: "evaluate", CONFUSION: "evaluate", ERRORS: "evaluate", PER_CLASS: "evaluate", FIGURES: "evaluate",
              EXPORT: "export", REGISTRY: "export"}


def project_root() -> Path:
    """The project's root, absolute: DVC_ROOT, which DVC sets for each stage it runs (for a queued or --temp
    experiment, the project, not the temporary copy under .dvc/tmp/exps the stage runs in), else the working
    directory."""
    return Path(os.environ.get("DVC_ROOT") or ".").resolve()


def enclosing_project(start: Path) -> Path | None:
    """The nearest folder at or above `start` with dvc.yaml and conf/config.yaml (a command run from a
    subfolder of the checkout), or None."""
    return next((folder for folder in (start, *start.parents)
                 if (folder / "dvc.yaml").is_file() and (folder / "conf/config.yaml").is_file()), None)


def writer(path: Path | str) -> str | None:
    """The stage that writes `path` (an output or a file inside one), or None."""
    path = Path(path).resolve()
    return next((stage for output, stage in WRITTEN_BY.items()
                 if path == output.resolve() or output.resolve() in path.parents), None)
