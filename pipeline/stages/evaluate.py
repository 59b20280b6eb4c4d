"""Stage evaluate: the only reader of the test split; metrics to reports/ and to the training run.

It also scores the current registry champion on the same test split, so export can decide promotion.
"""

from __future__ import annotations

import json
import re
import time

import torch
import yaml
from mlflow.entities import Metric
from omegaconf import DictConfig
from torchmetrics.functional.classification import (multiclass_accuracy, multiclass_confusion_matrix,
                                                    multiclass_f1_score, multiclass_precision,
                                                    multiclass_recall)

from pipeline import paths
from pipeline.atomic import write_csv, write_json
from pipeline.data.loader import load_processed, make_loader, split_texts
from pipeline.errors import run_main
from pipeline.params import load_params
from pipeline.registry import champion_predictions
from pipeline.serving import load_model
from pipeline.tracking import training_client

EVAL_BATCH = 64


@torch.inference_mode()
def predict_test(device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true label ids for the test split."""
    dataset, tokenizer = load_processed()
    model = load_model(paths.TRAINED).to(device)
    preds, targets = [], []
    for batch in make_loader(dataset["test"], tokenizer, EVAL_BATCH):
        targets.append(batch.pop("labels"))
        preds.append(model(**batch.to(device)).logits.argmax(dim=-1).cpu())
    return torch.cat(preds), torch.cat(targets)


def test_metrics(preds: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> dict[str, float]:
    """Accuracy, macro F1/precision/recall and per-class precision/recall/F1 under `test/` names."""
    n = len(labels)
    metrics = {
        "test/accuracy": multiclass_accuracy(preds, targets, n, average="micro"),
        "test/f1_macro": macro_f1(preds, targets, n),
        "test/precision_macro": multiclass_precision(preds, targets, n, average="macro"),
        "test/recall_macro": multiclass_recall(preds, targets, n, average="macro"),
    }
    per_class = {"precision": multiclass_precision(preds, targets, n, average=None),
                 "recall": multiclass_recall(preds, targets, n, average=None),
                 "f1": multiclass_f1_score(preds, targets, n, average=None)}
    for name, values in per_class.items():
        for label, value in zip(labels, values):
            metrics[f"test/{name}/{metric_safe(label)}"] = value
    return {key: round(float(value), 6) for key, value in metrics.items()}


def macro_f1(preds: torch.Tensor, targets: torch.Tensor, n: int) -> float:
    """Macro F1 over the n labels; a prediction with id n (a label the data lacks) counts as a wrong class."""
    return round(float(multiclass_f1_score(preds, targets, n + 1, average="macro")), 6)


def score_champion(mlflow, name: str, targets: torch.Tensor, labels: list[str]) -> dict[str, float]:
    """The registry champion's test macro F1 on this split, computed as ours (empty without a champion).

    Scored by label name, so a champion trained on other data is compared on the same split.
    """
    champion = champion_predictions(mlflow, name, split_texts("test"))
    if champion is None:
        return {}
    version, predicted = champion
    ids = {label: i for i, label in enumerate(labels)}
    preds = torch.tensor([ids.get(label, len(labels)) for label in predicted])
    return {"champion/version": float(version), "champion/test/f1_macro": macro_f1(preds, targets, len(labels))}


def metric_safe(label: str) -> str:
    """A label as MLflow accepts it in a metric name (letters, digits, _ - . space /)."""
    return re.sub(r"[^\w\-. ]", "_", label)


def gate_verdict(gate: dict) -> dict[str, float]:
    """The validation gate's outcome as metrics beside the test metrics (DVC metrics are numbers)."""
    return {"gate/passed": float(gate["passed"]), "gate/refine_rounds": float(gate["refine_rounds"]),
            "gate/value": gate["value"], "gate/threshold": float(gate["threshold"])}


def evaluate(cfg: DictConfig, device: str) -> dict[str, float]:
    labels = json.loads(paths.LABELS.read_text())
    training = json.loads(paths.TRAINING_SUMMARY.read_text())
    mlflow = training_client(cfg.tracking, training)
    preds, targets = predict_test(device)
    metrics = {**test_metrics(preds, targets, labels), **gate_verdict(training["gate"])}
    metrics.update(score_champion(mlflow, cfg.registry.model_name, targets, labels))
    matrix = multiclass_confusion_matrix(preds, targets, len(labels)).tolist()
    write_json(paths.METRICS, metrics)
    write_csv(paths.PLOTS / "confusion.csv",
              [{"actual": labels[t], "predicted": labels[p]} for t, p in zip(targets.tolist(), preds.tolist())])

    run_id = training["mlflow_run_id"]
    now = int(time.time() * 1000)
    mlflow.log_batch(run_id, metrics=[Metric(key, value, now, 0) for key, value in metrics.items()])
    mlflow.log_dict(run_id, {"labels": labels, "matrix": matrix}, "evaluation/confusion_matrix.json")
    mlflow.log_artifact(run_id, str(paths.METRICS), "evaluation")
    return metrics


def main() -> None:
    cfg = load_params("tracking", "registry")
    plan = yaml.safe_load(paths.PLAN.read_text())
    device = "cuda" if plan["settings"]["accelerator"] == "gpu" else "cpu"
    metrics = evaluate(cfg, device)
    print(f"evaluate: test/accuracy {metrics['test/accuracy']}, test/f1_macro {metrics['test/f1_macro']}")


if __name__ == "__main__":
    run_main(main)
