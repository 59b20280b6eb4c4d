"""MLflow model registry: register the exported model, alias it `challenger`, promote it to `champion`.

A new version becomes champion only if the validation gate passed and its test metric beats the
current champion's on the same test split (the first model: champion if the gate passed).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"
PIP_REQUIREMENTS = ["torch", "transformers", "tokenizers", "pandas", "mlflow"]


def current_champion(client: MlflowClient, name: str):
    """The champion model version, or None when there is none yet."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def register(client: MlflowClient, name: str, run_id: str, folder: Path, tags: dict[str, str]):
    """Log `folder` as a pyfunc model in the training run and register it; returns the model version."""
    from pipeline.serving import TextClassifierModel

    mlflow.set_tracking_uri(client.tracking_uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=TextClassifierModel(),
                                       artifacts={"model": str(folder)}, pip_requirements=PIP_REQUIREMENTS)
    version = mlflow.register_model(info.model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CHALLENGER, version.version)
    return version


def promotion(gate_passed: bool, metric: str, ours: float, champion: dict | None) -> tuple[bool, str]:
    """Whether the challenger takes the champion alias, and why. `champion` holds its metric on our split."""
    if not gate_passed:
        return False, "the quality gate failed"
    if champion is None:
        return True, "first model that passed the gate"
    theirs = champion[metric]
    if ours > theirs:
        return True, f"{metric} {ours} beats champion v{champion['version']}'s {theirs} on the same test split"
    return False, f"{metric} {ours} does not beat champion v{champion['version']}'s {theirs} on the same test split"


def champion_predictions(client: MlflowClient, name: str, texts: list[str]) -> tuple[str, list[str]] | None:
    """The current champion's version and its predicted label names for `texts` (None without a champion)."""
    from pipeline.serving import load_registered, predict_texts

    version = current_champion(client, name)
    if version is None:
        return None
    mlflow.set_tracking_uri(client.tracking_uri)
    predicted = predict_texts(*load_registered(f"models:/{name}/{version.version}"), texts)
    return str(version.version), predicted["label"].astype(str).tolist()
