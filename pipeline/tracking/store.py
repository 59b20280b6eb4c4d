"""MLflow helpers: which server, whether it answers, the experiment, which tags, and a client bound to the run train
opened."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import requests
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from pipeline.config.params import params_hash
from pipeline.core.errors import PipelineError, warn
from pipeline.core.paths import project_root
from pipeline.core.redact import redact

SQLITE = "sqlite:///"
LOCAL_URI = SQLITE + "mlflow.db"  # the embedded store, and where runs go when the server cannot be reached
SERVER_SCHEMES = ("http", "https", "databricks")  # stores behind an HTTP API: the ones that can stop answering

# MLflow retries a failed request 7 times with growing pauses (minutes in all) and waits 120 s for an answer.
# Before training, a server that does not answer at once is reported: one retry, 3 s each (at most ~6 s).
# During training, one failure moves the run to the local store for good, so a short blip gets two more
# tries; a dead server then costs one stall of ~3 s (refused) to ~33 s (no answer), not minutes per step.
CHECK_RETRIES, CHECK_TIMEOUT_S = 1, 3
TRAIN_RETRIES, TRAIN_TIMEOUT_S = 2, 10

# The experiment tag MLflow's UI reads to pick its view (mlflow.experimentKind, the ExperimentKind values in
# mlflow/server/js; MLflow's Python package defines no constant for it): without it MLflow 3 may open the GenAI view.
EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"
DVC_EXP_NAME = "DVC_EXP_NAME"  # the experiment's name: `dvc exp run`, queued or not, sets it for each stage
DVC_EXPERIMENT_TAG = "dvc_experiment"
PRUNED_TAG = "optuna.pruned"  # on the train run of a trial pipeline.sweep's pruner stopped


def ui_link(uri: str, experiment: str) -> str:
    """Where a person sees the experiment in MLflow's UI: its page with ?workflowType=machine_learning, which
    opens the model-training view (runs, models, registry). The page's GenAI / model-training switch, which
    the browser remembers (local storage, mlflow.workflowType; GenAI at first), wins over the experiment tag;
    the URL wins over both. A sqlite store needs `mlflow ui` started first."""
    page = f"#/experiments/{experiment}?workflowType=machine_learning"
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/{page}"
    return f"`mlflow ui --backend-store-uri {uri} --host 127.0.0.1 --port 5000`, then http://127.0.0.1:5000/{page}"


def tracking_uri(tracking: DictConfig) -> str:
    """MLFLOW_TRACKING_URI when set, else `tracking.uri` from params (sqlite:///mlflow.db by default)."""
    return absolute(os.environ.get("MLFLOW_TRACKING_URI") or tracking.uri)


def absolute(uri: str) -> str:
    """`uri` with a relative sqlite path made absolute against the project root (DVC_ROOT when DVC runs the
    stage), so a queued experiment, which runs in a temporary copy of the project, logs to the project's store.

    MLflow also caches stores by URI: the same relative URI used from another directory in one process
    would otherwise reach the first directory's file.
    """
    if uri.startswith(SQLITE) and not uri.startswith(SQLITE + "/"):
        uri = SQLITE + str((project_root() / uri[len(SQLITE):]).resolve())
    return uri


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of the MLflow experiment `name`, created if there is none, tagged as model training (unless it
    says otherwise) so that MLflow's UI opens it in its training-runs view, not the GenAI one.

    In a sqlite store its artifacts go to the project root's mlruns/<name>: MLflow's default, ./mlruns, would
    be the temporary copy a queued experiment runs in.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        local = urlsplit(client.tracking_uri).scheme == "sqlite"
        artifacts = str(project_root() / "mlruns" / name) if local else None
        try:
            return client.create_experiment(name, artifacts, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)  # a run in parallel (dvc queue start -j 2) made it
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
    return experiment.experiment_id


def is_server(uri: str) -> bool:
    """True for a tracking server (http, https, databricks), false for a local sqlite or file store."""
    return urlsplit(uri).scheme in SERVER_SCHEMES


@contextmanager
def http_limits(retries: int, timeout_s: int) -> Iterator[None]:
    """MLflow's HTTP retries and timeout set to these inside the block (MLflow reads them at each request)."""
    limits = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries), "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
              "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
    saved = {name: os.environ.get(name) for name in limits}
    os.environ.update(limits)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def server_unreachable(err: BaseException) -> bool:
    """True when `err` comes from an HTTP request that failed: refused, timed out, or 5xx after retries."""
    while err is not None:
        if isinstance(err, requests.RequestException):
            return True
        err = err.__cause__ or err.__context__
    return False


def answers(uri: str) -> bool:
    """Whether the store at `uri` answers within seconds (local stores always do)."""
    if not is_server(uri):
        return True
    try:
        with http_limits(CHECK_RETRIES, CHECK_TIMEOUT_S):
            MlflowClient(uri).search_experiments(max_results=1)
    except (MlflowException, requests.RequestException) as err:
        if not server_unreachable(err):
            raise
        return False
    return True


def unreachable(uri: str, fix: str) -> PipelineError:
    source = "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "params.yaml tracking.uri"
    return PipelineError("tracking-unreachable", f"MLflow server {redact(uri)} does not answer", source, fix)


def reachable_tracking_uri(tracking: DictConfig) -> str:
    """The tracking URI to log to, checked before training: a server must answer within seconds.

    An unreachable server is a PipelineError, unless `tracking.fallback_local` is true: then a warning,
    and the local sqlite store instead.
    """
    uri = tracking_uri(tracking)
    if answers(uri):
        return uri
    if not tracking.fallback_local:
        raise unreachable(uri, "start the server, or fix tracking.uri (or MLFLOW_TRACKING_URI), "
                               "or log to the local store with -S tracking.fallback_local=true")
    local = absolute(LOCAL_URI)
    warn("tracking-fallback-local", f"MLflow server {redact(uri)} does not answer; this run is logged "
         f"to {local} instead (tracking.fallback_local=true)")
    return local


def training_client(tracking: DictConfig, training: dict) -> MlflowClient:
    """A client for the store that holds train's run (`training` is models/trained/training.json): the
    configured one, or the local store train fell back to or moved to when the server was lost."""
    if training["mlflow_local_fallback"]:
        return MlflowClient(absolute(LOCAL_URI))
    uri = tracking_uri(tracking)
    if not answers(uri):
        raise unreachable(uri, f"start the server (train's run {training['mlflow_run_id']} is there), then dvc repro")
    return MlflowClient(uri)


def log_evaluation(client: MlflowClient, run_id: str, metrics: dict[str, float], files: dict[str, str],
                   artifacts: dict[str, dict]) -> None:
    """Log test metrics (one batch, step 0), files (path -> artifact folder) and dicts (artifact path ->
    content) to a run."""
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(key, value, now, 0) for key, value in metrics.items()])
    for artifact_path, content in artifacts.items():
        client.log_dict(run_id, content, artifact_path)
    for path, folder in files.items():
        client.log_artifact(run_id, path, folder)


def git_commit() -> str:
    """The commit the run started from, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def dvc_experiment() -> str | None:
    """The name of the DVC experiment running this stage, or None outside `dvc exp run` (e.g. `dvc repro`)."""
    return os.environ.get(DVC_EXP_NAME) or None


def run_tags(cfg: DictConfig) -> dict[str, str]:
    """Tags that say where a run came from (git, DVC experiment, GPU profile, params) and what it trained."""
    experiment = dvc_experiment()
    return {
        "git_commit": git_commit(),
        **({DVC_EXPERIMENT_TAG: experiment} if experiment else {}),
        "gpu_profile": cfg.gpu.profile,
        "dvc_params_hash": params_hash(cfg),
        "model": cfg.model.name,
        "data": cfg.data.name,
    }
