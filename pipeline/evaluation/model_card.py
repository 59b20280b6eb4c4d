"""The model card (README.md of models/export): what the model does, how well, and the config that made it."""

from __future__ import annotations

import yaml
from omegaconf import DictConfig, OmegaConf

from pipeline.core.redact import redact
from pipeline.evaluation.champion import rows_compared
from pipeline.evaluation.multilabel import thresholds_of
from pipeline.serving.text_classifier import THREADS_ENV


def model_card(cfg: DictConfig, metrics: dict, stats: dict, plan: dict, onnx_check: dict, per_class: list[dict],
               run_id: str, int8: dict) -> str:
    """A README.md that says what the model does, how well, and the config that made it (secrets masked);
    `per_class` is reports/per_class.csv's rows, `run_id` the training run in MLflow."""
    rows = "\n".join(f"| {key} | {value} |" for key, value in metrics.items())
    multi = stats.get("task") == "multi_label"
    return f"""---
library_name: transformers
pipeline_tag: text-classification
---
# {cfg.model.name} fine-tuned on {cfg.data.name}

{"Multi-label classifier (a set of 0 to all of the labels a text, one sigmoid each)" if multi else "Sequence classifier"} for the labels: {", ".join(stats["labels"])}.
Rows used (train / validation / test): {stats["rows"]["train"]} / {stats["rows"]["validation"]} / {stats["rows"]["test"]}.

{_reading(stats["tokens"])}

## Test metrics
{_interval(metrics, stats["rows"]["test"])}
{_thresholds(metrics, stats["labels"]) if multi else _calibration(metrics)}
Per class (support: test rows of the label):

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{_per_class(per_class)}

{_report_files(multi, run_id)}

{_gate(plan)}
{_contest(metrics)}
| metric | value |
|---|---|
{rows}

## Usage

{_usage(bool(cfg.data.get("text_pair_column")))}

{_probabilities(multi)}

ONNX: `model.onnx` (opset {onnx_check["opset"]}, dynamic batch and sequence axes); ONNX Runtime matches
PyTorch within {onnx_check["max_abs_logit_diff"]:.1e} (max |logit difference| on {onnx_check["checked_examples"]}
validation texts; tolerance {onnx_check["tolerance"]}).
{_int8_section(int8)}
## Training plan

The settings training ran with (adjustments: changes made during training, such as a smaller micro
batch after CUDA ran out of memory):

```yaml
{yaml.safe_dump({"settings": plan["settings"], "adjustments": plan.get("adjustments", [])}, sort_keys=False).strip()}
```

Epochs: {plan["reasons"]["max_epochs"]}.

## Config that made it

```yaml
{yaml.safe_dump(redact(OmegaConf.to_container(cfg, resolve=True)), sort_keys=False).strip()}
```
"""


def _usage(pairs: bool) -> str:
    """transformers' pipeline on this folder, given a text or (for a model of pairs) a pair of texts."""
    call = ('{"text": "Shares rose after the results.", "text_pair": "The results lifted the shares."}' if pairs
            else '"Shares rose after the results."')
    return ('```python\nfrom transformers import pipeline\nclassifier = pipeline("text-classification", '
            f'model="path/to/this/folder")\nclassifier({call})\n```')


LONG_TEXT = {"truncate": "are truncated", "head_tail": "keep their start and end",
             "chunks": "are read in overlapping windows, their logits averaged"}


def _reading(tokens: dict) -> str:
    """What the model reads of a text, and how the training texts fared."""
    train = tokens["train"]
    unknown = f"; {train['unknown_share']:.2%} of their tokens were [UNK]" if train["unknown_share"] is not None else ""
    return (f"It reads up to {tokens['max_seq_len']} tokens of a text ({tokens['max_seq_len_reason']}); longer texts "
            f"{LONG_TEXT[tokens['long_text']]} (data.long_text={tokens['long_text']}). Of the training texts "
            f"{train['cut_share']:.0%} were longer, and {train['lost_share_of_cut']:.0%} of their tokens went unread"
            f"{unknown}. Every serving path of this project (the registered model, `python -m pipeline.predict`, "
            f"`text_classifier.py`) cuts texts the same way; transformers' own pipeline below only truncates.")


def _contest(metrics: dict) -> str:
    """Which test rows this model and the registry champion it was compared with were both scored on."""
    if "champion/version" not in metrics:
        return "No champion was registered when this model was evaluated: nothing to compare it with.\n"
    version = int(metrics["champion/version"])
    scores = (f": test macro F1 {metrics['compared/test/f1_macro']} against the champion's "
              f"{metrics['champion/test/f1_macro']}" if metrics["champion/compared_rows"] else "")
    return f"Compared with the registry champion v{version} on {rows_compared(metrics)}{scores}.\n"


def _int8_section(int8: dict) -> str:
    if "reason" in int8:
        return f"\nServed in fp32, no int8 model: {int8['reason']}.\n"
    verdict = ("accepted: the registered model serves `model.int8.onnx`" if int8["accepted"] else
               "rejected: served in fp32, and `model.int8.onnx` is not in this folder")
    return f"""
int8 (ONNX Runtime dynamic quantization, reduce_range={int8["reduce_range"]}): {verdict}. Validation macro F1
{int8["validation/f1_macro_int8"]} against fp32 ONNX's {int8["validation/f1_macro_fp32"]} (drop {int8["f1_drop"]}, allowed
{int8["max_drop"]}); on the test split {int8["test/f1_macro_int8"]} against {int8["test/f1_macro_fp32"]}. Size
{int8["size_mb_int8"]} MB against {int8["size_mb_fp32"]} MB; median batch-1 latency on the exporting machine
{int8["latency_ms_batch1_int8"]} ms against {int8["latency_ms_batch1_fp32"]} ms, {_threads(int8["latency_threads"])}.
"""


def _threads(count: int) -> str:
    """The ONNX Runtime threads each request ran on when the latency was measured: the served model's."""
    threads = "ONNX Runtime's own number of threads" if count == 0 else f"{count} ONNX Runtime thread{'s' * (count > 1)}"
    return f"{threads} per request as served ({THREADS_ENV}={count})"


def _report_files(multi: bool, run_id: str) -> str:
    if multi:
        return (f"The error report: `reports/errors.csv` (every test example whose predicted label set is wrong, with the "
                f"labels it missed and the labels it added), `reports/per_class.csv`, `reports/figures/per_label.png` and "
                f"`reports/figures/reliability.png` in the project that made this model, and the same files under "
                f"`evaluation/` in its MLflow run `{run_id}`.")
    return (f"The error report: `reports/errors.csv` (every misclassified test example, with the runner-up label),\n"
            f"`reports/per_class.csv`, `reports/figures/confusion_matrix.png` and `reports/figures/reliability.png` in the\n"
            f"project that made this model, and the same files under `evaluation/` in its MLflow run `{run_id}`;\n"
            f"`reports/suspect_labels.csv` lists the training examples whose label the baseline doubts.")


def _probabilities(multi: bool) -> str:
    if multi:
        return ("transformers' pipeline takes `function_to_apply=\"sigmoid\", top_k=None` for every label's probability; "
                "the labels predicted are those whose probability reaches their threshold in `thresholds.json`, as the "
                "registered model and `python -m pipeline.predict` return them.")
    return ("transformers' pipeline gives the raw softmax; the calibrated probabilities are softmax(logits / temperature),\n"
            "with the temperature in `calibration.json`, as the registered model and `python -m pipeline.predict` return them.")


def _thresholds(metrics: dict, labels: list[str]) -> str:
    tuned = ", ".join(f"{label} {value}" for label, value in thresholds_of(metrics, labels).items())
    return (f"Micro F1 {metrics['test/f1_micro']} ({metrics['test/f1_micro_low']} to {metrics['test/f1_micro_high']}); "
            f"whole label sets right {metrics['test/accuracy']}; Hamming loss {metrics['test/hamming_loss']} (the share "
            f"of label decisions wrong). A label is predicted where its sigmoid reaches its threshold, tuned on the "
            f"validation split for its best F1 (0.5 for a label with under 5 validation rows; `thresholds.json`): "
            f"{tuned}. Expected calibration error of the sigmoids on the test split, mean over the labels: "
            f"{metrics['test/ece']} (`test/ece_label/<label>` below).\n")


def _interval(metrics: dict, rows: int) -> str:
    if "test/f1_macro_low" not in metrics:
        return ""
    baseline = (f" A TF-IDF + logistic regression baseline fitted on the same training split scores "
                f"{metrics['baseline/test/f1_macro']} on the same test split." if "baseline/test/f1_macro" in metrics else "")
    return (f"\nTest macro F1 {metrics['test/f1_macro']}, 95 % bootstrap interval {metrics['test/f1_macro_low']} to "
            f"{metrics['test/f1_macro_high']} ({rows} test rows): a difference between two models smaller than this "
            f"range may be noise.{baseline}\n")


def _calibration(metrics: dict) -> str:
    return (f"Probabilities are calibrated by temperature scaling: temperature {metrics['calibration/temperature']}, "
            f"fitted on the validation split (`calibration.json`). Expected calibration error on the test split: "
            f"{metrics['test/ece']} with the raw softmax, {metrics['test/ece_calibrated']} calibrated (0 means a "
            f"predicted probability of p is right a share p of the time).\n")


def _per_class(rows: list[dict]) -> str:
    cell = lambda value: str(value).replace("|", "\\|")  # noqa: E731  (a | in a label would end the cell)
    return "\n".join("| " + " | ".join(cell(row[key]) for key in ("label", "precision", "recall", "f1", "support")) + " |"
                     for row in rows)


def _gate(plan: dict) -> str:
    rule = plan["gate"]
    return f"Quality gate (validation split): {rule['metric']} >= {rule['threshold']}; {rule['reason']}."
