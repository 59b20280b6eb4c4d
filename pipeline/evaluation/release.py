"""Release an exported model to the MLflow registry: registered once per training run and way of serving
(alias challenger), and champion only if it earned it (champion.promotion), classifies the champion's
labels, and the champion is still the one it was compared with (registry.promote). Any registry failure is
error[registry-error]: nothing half-promoted, no traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline.core import paths
from pipeline.evaluation import gate
from pipeline.evaluation.champion import COMPARED, PROMOTE_METRIC, promotion
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.quantize import INT8_FILE
from pipeline.serving.text_classifier import input_columns, saved_thresholds
from pipeline.tracking.registry import (GATE_TAG, INPUTS_TAG, LABELS_TAG, MULTI_LABEL_TASK, SERVED_TAG, SINGLE_LABEL_TASK,
                                        TASK_TAG, check_same_task, current_champion, promote, register,
                                        registered_for_run, registry_error)


def release(client: MlflowClient, name: str, folder: Path, training: dict, metrics: dict, labels: list[str],
            serve_with: str, min_compared_rows: int) -> dict:
    """Register `folder` (models/export) for the training run of `training` (training.json) unless that run is
    registered already with the same serving (backend and ONNX file), and move champion to it if it earned it;
    returns the decision (registry.json)."""
    passed, run_id = gate.passed(training), training["mlflow_run_id"]
    onnx_file = INT8_FILE if (folder / INT8_FILE).exists() else "model.onnx"  # int8 only where it was accepted
    served_with = f"{serve_with}:{onnx_file}" if serve_with == "onnx" else serve_with
    metrics = served_metrics(folder, metrics)
    champion, inputs = current_champion(client, name), input_columns(folder)
    task = MULTI_LABEL_TASK if saved_thresholds(folder, labels) is not None else SINGLE_LABEL_TASK
    if champion is not None:
        check_same_task(name, champion, labels, inputs, task)
    version = registered_for_run(client, name, run_id, served_with)
    registered_now = version is None
    try:
        if registered_now:
            model_uri = log_pyfunc(client.tracking_uri, run_id, folder, serve_with, onnx_file)
            version = register(client, name, model_uri, {PROMOTE_METRIC: str(metrics[PROMOTE_METRIC]), GATE_TAG: str(passed),
                                                         LABELS_TAG: json.dumps(labels), SERVED_TAG: served_with,
                                                         INPUTS_TAG: json.dumps(inputs), TASK_TAG: task})
        if champion is not None and int(champion.version) == int(version.version):
            promoted, reason = True, "already the champion"
        else:
            promoted, reason = promotion(passed, metrics, min_compared_rows)
            if promoted:
                compared_with = metrics.get("champion/version")
                promote(client, name, version.version, int(compared_with) if compared_with else None)
    except MlflowException as err:
        raise registry_error(client, f"registering {name}", err) from None
    return {"model_name": name, "version": int(version.version), "registered_now": registered_now,
            "champion": promoted, "reason": reason, "model_uri": f"models:/{name}/{version.version}",
            "retrain_run": os.environ.get(paths.RETRAIN_RUN)}


def served_metrics(folder: Path, metrics: dict) -> dict:
    """The challenger's test metrics as it will serve: with an accepted int8 model, the promotion metrics are
    int8's (the champion is scored on what it serves too)."""
    check = folder / "quantization.json"
    int8 = json.loads(check.read_text()) if check.exists() else {}
    if not int8.get("accepted"):
        return metrics
    compared = {COMPARED: int8[f"{COMPARED}_int8"]} if f"{COMPARED}_int8" in int8 else {}
    return {**metrics, PROMOTE_METRIC: int8["test/f1_macro_int8"], **compared}


def describe(decision: dict) -> str:
    """'registered text-classifier-bbc_news v2; champion: no (...)'."""
    registered = "registered" if decision["registered_now"] else "already registered for this training run:"
    return (f"{registered} {decision['model_name']} v{decision['version']}; "
            f"champion: {'yes' if decision['champion'] else 'no'} ({decision['reason']})")
