"""MLflow model registry: register a logged model as a new version (alias `challenger`), move `champion`.

Whether a version deserves `champion` is pipeline.evaluation.champion's decision.
"""

from __future__ import annotations

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"


def current_champion(client: MlflowClient, name: str):
    """The champion model version, or None when there is none yet."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def register(client: MlflowClient, name: str, model_uri: str, tags: dict[str, str]):
    """Register the logged model at `model_uri` as a new version of `name`, aliased challenger; returns it."""
    mlflow.set_tracking_uri(client.tracking_uri)
    version = mlflow.register_model(model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version


def promote(client: MlflowClient, name: str, version: str) -> None:
    """Move the champion alias to `version`."""
    client.set_registered_model_alias(name, CHAMPION, version)
