"""MLflow model registry: one version per training run (alias `challenger`), the `champion` alias, and the
label set each version classifies.

Whether a version deserves `champion` is pipeline.evaluation.champion's decision.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from pipeline.core.errors import PipelineError
from pipeline.core.redact import redact

CHAMPION, CHALLENGER = "champion", "challenger"
LABELS_TAG, GATE_TAG, SERVED_TAG, INPUTS_TAG, TASK_TAG = "labels", "gate_passed", "served_with", "inputs", "task"
SINGLE_LABEL_TASK, MULTI_LABEL_TASK = "single_label", "multi_label"
LOCK_SUFFIX = ".promotion-lock"
LOCK_WAIT_S = 120  # how long a promotion waits for another one to finish
LOCK_STALE_S = 600  # a lock this old was left by a process that died holding it


def model_name(registry: DictConfig, data: DictConfig) -> str:
    """`registry.model_name`, or by default one name per data set, so separate tasks get separate models:
    text-classifier-<data.name>, plus the file's name for data read from a file or the hub."""
    if registry.model_name:
        return registry.model_name
    parts = ["text-classifier", data.name] + ([Path(str(data.path)).stem] if data.source != "packaged" else [])
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(parts))


def current_champion(client: MlflowClient, name: str):
    """The champion model version, or None when `name` has no champion yet. Any other registry error stops:
    a model must never take the alias because the lookup failed."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as err:
        if _no_champion(err):
            return None
        raise registry_error(client, f"looking up {name}@{CHAMPION}", err) from None


def labels_of(version) -> list[str] | None:
    """The label set a registered version classifies (None for versions registered before it was recorded)."""
    value = version.tags.get(LABELS_TAG)
    return json.loads(value) if value else None


def inputs_of(version) -> list[str]:
    """What a registered version reads: ["text"], or ["text", "text_pair"] for pairs (versions registered before
    it was recorded read single texts)."""
    value = version.tags.get(INPUTS_TAG)
    return json.loads(value) if value else ["text"]


def task_of(version) -> str:
    """single_label, or multi_label for a version of label sets (versions registered before it was recorded are
    single_label)."""
    return version.tags.get(TASK_TAG) or SINGLE_LABEL_TASK


def check_same_task(name: str, champion, labels: list[str], inputs: list[str], task: str = SINGLE_LABEL_TASK) -> None:
    """A champion is only challenged by a model of the same task: one that gives one label or a label set as it
    does (`task`), reads the same `inputs` (single texts or pairs) and classifies every label the champion does
    (new data may add a label; a model that lacks one of the champion's labels is another task)."""
    theirs, reads = labels_of(champion), inputs_of(champion)
    if task_of(champion) != task:
        what = f"of the task {task_of(champion)}; this model's task is {task}"
    elif reads != inputs:
        what = f"that reads {' and '.join(reads)}; this model reads {' and '.join(inputs)}"
    elif theirs is not None and not set(theirs) <= set(labels):
        what = f"for the labels {theirs}; this model classifies {labels}"
    else:
        return
    raise PipelineError("registry-other-task", f"registered model '{name}' has a champion (v{champion.version}) {what}",
                        "params.yaml registry.model_name", "give this task its own name: -S registry.model_name=<name> "
                        "(the default follows data.name and data.path)")


def registered_for_run(client: MlflowClient, name: str, run_id: str, served_with: str):
    """The version of `name` already registered from training run `run_id` and served the same way, or None."""
    try:
        found = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except MlflowException as err:
        if _no_champion(err):
            return None
        raise registry_error(client, f"searching the versions of {name}", err) from None
    same = [version for version in found if version.tags.get(SERVED_TAG) == served_with]
    return min(same, key=lambda version: int(version.version)) if same else None


def register(client: MlflowClient, name: str, model_uri: str, tags: dict[str, str]):
    """Register the logged model at `model_uri` as a new version of `name`, aliased challenger; returns it."""
    mlflow.set_tracking_uri(client.tracking_uri)
    version = mlflow.register_model(model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version


def promote(client: MlflowClient, name: str, version: str, compared_with: int | None) -> None:
    """Move the champion alias to `version` if the champion is still `compared_with` (None: no champion), the
    version it was compared with; else a registry-champion-moved error and the alias stays.

    Compare and set happen under promotion_lock, so two runs releasing at once cannot both pass the check.
    """
    with promotion_lock(client, name):
        now = current_champion(client, name)
        if (int(now.version) if now else None) != compared_with:
            compared = f"v{compared_with}" if compared_with else "no champion"
            raise PipelineError(
                "registry-champion-moved", f"{name}@{CHAMPION} is v{now.version if now else '(none)'} now; this "
                f"model (v{version}) was compared with {compared}, so it was not promoted",
                f"models:/{name}@{CHAMPION}", "compare it with the new champion: dvc repro --force --single-item "
                "evaluate, then dvc repro")
        client.set_registered_model_alias(name, CHAMPION, version)


@contextmanager
def promotion_lock(client: MlflowClient, name: str, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold `name`'s promotion lock: the registered model `<name>.promotion-lock`, which the registry lets
    only one caller create. Waits up to `wait_s` for another holder; a lock older than LOCK_STALE_S was left by
    a process that died and is removed."""
    lock, deadline = f"{name}{LOCK_SUFFIX}", time.monotonic() + wait_s
    holder = f"held by {socket.gethostname()} pid {os.getpid()} while it moves {name}@{CHAMPION}"
    while True:
        try:
            client.create_registered_model(lock, description=holder)
            break
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise registry_error(client, f"taking the promotion lock {lock}", err) from None
        held = _lock_age_s(client, lock)
        if held is not None and held > LOCK_STALE_S:
            _remove_lock(client, lock)
        elif time.monotonic() > deadline:
            raise PipelineError("registry-busy", f"another run has been promoting {name} for over {wait_s:.0f} s "
                                f"(registered model {lock})", redact(client.tracking_uri),
                                f"re-run when it is done; if no run is, delete the registered model {lock}")
        else:
            time.sleep(0.5)
    try:
        yield
    finally:
        _remove_lock(client, lock)


def _lock_age_s(client: MlflowClient, lock: str) -> float | None:
    """Seconds since the lock was taken, or None when it was released meanwhile."""
    try:
        return time.time() - client.get_registered_model(lock).creation_timestamp / 1000
    except MlflowException:
        return None


def _remove_lock(client: MlflowClient, lock: str) -> None:
    try:
        client.delete_registered_model(lock)
    except MlflowException as err:
        if err.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise registry_error(client, f"releasing the promotion lock {lock}", err) from None


def registry_error(client: MlflowClient, doing: str, err: MlflowException) -> PipelineError:
    first_line = str(err.message).strip().splitlines()[0] if str(err.message).strip() else err.error_code
    return PipelineError("registry-error", f"the model registry failed {doing}: {err.error_code}: {first_line}",
                         redact(client.tracking_uri), "check the server is up and that you may read and write "
                         "its registry, then re-run; nothing was promoted")


def _no_champion(err: MlflowException) -> bool:
    """'No such registered model' or 'no such alias': the only errors that mean 'no champion yet'."""
    return err.error_code == "RESOURCE_DOES_NOT_EXIST" or (
        err.error_code == "INVALID_PARAMETER_VALUE" and "alias" in str(err.message) and "not found" in str(err.message))
