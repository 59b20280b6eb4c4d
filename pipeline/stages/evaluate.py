"""Stage evaluate: the transformer's test metrics (with a bootstrap interval and calibration) beside the
classical baseline's, and a report for a person to act on (evaluation.report), to reports/ and the training
run.

The calibration temperature is fitted on the validation split; export ships it, so every serving path
returns the calibrated probabilities. For label sets (task=multi_label) each label's decision threshold is tuned
on the validation split instead (metrics.json `threshold/<label>`; export ships them). It logs what this model trained on (pipeline.data.fingerprint) and
scores the current registry champion beside it on the test rows the champion never trained on, so export
can decide promotion.
"""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig
from transformers import AutoTokenizer

from pipeline.config.params import load_params
from pipeline.core import paths
from pipeline.core.atomic import write_json
from pipeline.core.errors import run_main
from pipeline.core.outputs import read_json, training_summary
from pipeline.data.fingerprint import ARTIFACT, fingerprint
from pipeline.data.loader import split_examples, split_texts
from pipeline.evaluation import gate
from pipeline.evaluation.calibration import calibration_metrics, fit_temperature
from pipeline.evaluation.champion import score_champion
from pipeline.evaluation.metrics import classification_metrics, f1_interval, metric_keys
from pipeline.evaluation.multilabel import label_calibration, multilabel_metrics
from pipeline.evaluation.thresholds import decide, tune_thresholds
from pipeline.evaluation.report import FILES, LABEL_SET_FILES, write_label_set_report, write_report
from pipeline.models.safe_load import load_pretrained
from pipeline.serving.inference import available_device, load_model, model_logits
from pipeline.serving.text_classifier import MULTI_LABEL, sigmoid
from pipeline.tracking.registry import model_name
from pipeline.tracking.store import log_evaluation, training_client


def evaluate(cfg: DictConfig, device: str) -> dict[str, float]:
    labels, training = read_json(paths.LABELS), training_summary()
    mlflow = training_client(cfg.tracking, training)
    trust = cfg.model.trust_remote_code
    model, tokenizer = load_model(paths.TRAINED, trust), load_pretrained(AutoTokenizer, paths.TOKENIZER, trust)
    (texts, targets), (val_texts, val_targets) = split_examples("test"), split_examples("validation")
    logits, val_logits = (model_logits(model, tokenizer, split, device) for split in (texts, val_texts))
    multi_label = model.config.problem_type == MULTI_LABEL
    if multi_label:
        thresholds = tune_thresholds(sigmoid(val_logits), val_targets.numpy())
        probs = sigmoid(logits)
        preds = torch.from_numpy(decide(probs, thresholds))
        scores = {**multilabel_metrics(preds, targets, labels), **f1_interval(preds, targets, len(labels)),
                  **f1_interval(preds, targets, len(labels), average="micro"),
                  **label_calibration(probs, targets.numpy(), labels),
                  **{f"threshold/{key}": value for key, value in zip(metric_keys(labels), thresholds)}}
    else:
        temperature = fit_temperature(val_logits, val_targets.numpy())
        preds = torch.from_numpy(np.argmax(logits, axis=1))
        scores = {**classification_metrics(preds, targets, labels), **f1_interval(preds, targets, len(labels)),
                  **calibration_metrics(logits, targets.numpy(), temperature)}
    metrics = {**scores, **read_json(paths.BASELINE), **gate.as_metrics(training["gate"]),
               **score_champion(mlflow, model_name(cfg.registry, cfg.data), texts, targets, preds, labels)}
    write_json(paths.METRICS, metrics)
    if multi_label:
        matrix, files = write_label_set_report(texts, targets, probs, preds, labels, metrics), LABEL_SET_FILES
    else:
        matrix, files = write_report(texts, targets, logits, labels, metrics), FILES
    log_evaluation(mlflow, training["mlflow_run_id"], metrics,
                   files={str(path): "evaluation" for path in (paths.METRICS, *files)},
                   artifacts={"evaluation/confusion_matrix.json": matrix, ARTIFACT: fingerprint(split_texts("train"))})
    return metrics


def main() -> None:
    cfg = load_params("model", "data", "tracking", "registry")
    metrics = evaluate(cfg, available_device())
    if "test/f1_micro" in metrics:  # label sets
        print(f"evaluate: label sets: test/f1_macro {metrics['test/f1_macro']} ({metrics['test/f1_macro_low']} to "
              f"{metrics['test/f1_macro_high']}), test/f1_micro {metrics['test/f1_micro']}, whole sets right "
              f"{metrics['test/accuracy']}, Hamming loss {metrics['test/hamming_loss']}; one-vs-rest TF-IDF baseline "
              f"{metrics['baseline/test/f1_macro']}; mean ECE per label {metrics['test/ece']}; report: {paths.ERRORS}, "
              f"{paths.FIGURES}/")
        return
    print(f"evaluate: test/accuracy {metrics['test/accuracy']}, test/f1_macro {metrics['test/f1_macro']} "
          f"({metrics['test/f1_macro_low']} to {metrics['test/f1_macro_high']}); TF-IDF baseline "
          f"{metrics['baseline/test/f1_macro']}; ECE {metrics['test/ece']} -> {metrics['test/ece_calibrated']} at "
          f"temperature {metrics['calibration/temperature']}; report: {paths.ERRORS}, {paths.FIGURES}/")


if __name__ == "__main__":
    run_main(main)
