"""Stage evaluate: the only reader of the test split; metrics and the error report (every misclassified test
example) to reports/ and to the training run.

It also scores the current registry champion on the same test split, so export can decide promotion.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig
from transformers import AutoTokenizer

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_csv, write_json
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json, read_yaml, training_summary
from pipeline.data.loader import split_examples
from pipeline.evaluation import errors, gate
from pipeline.evaluation.baseline import tfidf_baseline
from pipeline.evaluation.champion import score_champion
from pipeline.evaluation.metrics import classification_metrics, confusion, confusion_rows, f1_interval
from pipeline.models.safe_load import load_pretrained
from pipeline.serving.inference import load_model, model_logits
from pipeline.serving.text_classifier import softmax
from pipeline.tracking.registry import model_name
from pipeline.tracking.store import log_evaluation, training_client


def evaluate(cfg: DictConfig, device: str) -> dict[str, float]:
    labels, training = read_json(paths.LABELS), training_summary()
    mlflow = training_client(cfg.tracking, training)
    texts, targets = split_examples("test")
    trust = cfg.model.trust_remote_code
    model, tokenizer = load_model(paths.TRAINED, trust), load_pretrained(AutoTokenizer, paths.TOKENIZER, trust)
    probs = softmax(model_logits(model, tokenizer, texts, device))
    preds = torch.from_numpy(probs.argmax(axis=1))
    baseline = tfidf_baseline(split_examples("train"), split_examples("validation"), (texts, targets), len(labels))
    metrics = {**classification_metrics(preds, targets, labels), **f1_interval(preds, targets, len(labels)),
               **baseline, **gate.as_metrics(training["gate"]),
               **score_champion(mlflow, model_name(cfg.registry, cfg.data), texts, targets, labels)}
    write_json(paths.METRICS, metrics)
    write_csv(paths.CONFUSION, confusion_rows(preds, targets, labels))
    write_csv(paths.ERRORS, errors.misclassified(texts, targets, probs, labels), errors.FIELDS)

    log_evaluation(mlflow, training["mlflow_run_id"], metrics,
                   files={str(paths.METRICS): "evaluation", str(paths.ERRORS): "evaluation"},
                   artifacts={"evaluation/confusion_matrix.json": confusion(preds, targets, labels)})
    return metrics


def main() -> None:
    cfg = load_params("model", "data", "tracking", "registry")
    device = "cuda" if read_yaml(paths.PLAN)["settings"]["accelerator"] == "gpu" else "cpu"
    metrics = evaluate(cfg, device)
    print(f"evaluate: test/accuracy {metrics['test/accuracy']}, test/f1_macro {metrics['test/f1_macro']}")


if __name__ == "__main__":
    run_main(main)
