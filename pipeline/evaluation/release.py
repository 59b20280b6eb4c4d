"""Release an exported model to the MLflow registry: registered once per training run (alias challenger),
and champion only if it earned it (champion.promotion) and classifies the champion's labels."""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipeline.evaluation import gate
from pipeline.evaluation.champion import PROMOTE_METRIC, promotion
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.quantize import INT8_FILE
from pipeline.tracking.registry import (GATE_TAG, LABELS_TAG, check_same_task, current_champion, promote, register,
                                        registered_for_run)


def release(client: MlflowClient, name: str, folder: Path, training: dict, metrics: dict, labels: list[str],
            serve_with: str) -> dict:
    """Register `folder` (models/export) for the training run of `training` (training.json) unless that run
    is registered already, and move champion to it if it earned it; returns the decision (registry.json)."""
    passed, run_id = gate.passed(training), training["mlflow_run_id"]
    champion = current_champion(client, name)
    if champion is not None:
        check_same_task(name, champion, labels)
    version = registered_for_run(client, name, run_id)
    registered_now = version is None
    if registered_now:
        onnx_file = INT8_FILE if (folder / INT8_FILE).exists() else "model.onnx"  # int8 only where it was accepted
        model_uri = log_pyfunc(client.tracking_uri, run_id, folder, serve_with, onnx_file)
        version = register(client, name, model_uri, {PROMOTE_METRIC: str(metrics[PROMOTE_METRIC]),
                                                     GATE_TAG: str(passed), LABELS_TAG: json.dumps(labels)})
    if champion is not None and int(champion.version) == int(version.version):
        promoted, reason = True, "already the champion"
    else:
        promoted, reason = promotion(passed, metrics)
        if promoted:
            promote(client, name, version.version)
    return {"model_name": name, "version": int(version.version), "registered_now": registered_now,
            "champion": promoted, "reason": reason, "model_uri": f"models:/{name}/{version.version}"}


def describe(decision: dict) -> str:
    """'registered text-classifier-bbc_news v2; champion: no (...)'."""
    registered = "registered" if decision["registered_now"] else "already registered for this training run:"
    return (f"{registered} {decision['model_name']} v{decision['version']}; "
            f"champion: {'yes' if decision['champion'] else 'no'} ({decision['reason']})")
