"""A text classifier served from an exported folder, with nothing from this project: it travels with every
registered model (MLflow code_paths), so it imports only numpy, pandas, tokenizers and, per backend,
onnxruntime (the default) or torch and transformers.

The one inference path: texts are normalised as preprocess normalised the data (normalise.py: HTML entities,
whitespace; a null or empty text is an error), tokenized BATCH at a time (a model trained on pairs of texts,
data.text_pair_column, reads (text, text_pair) as its tokenizer encodes pairs) and cut to the tokenizer's
model_max_length as preprocess cut them (text_windows.py, data.long_text: truncated, head and tail, or overlapping windows), padded
to the batch's longest; a forward function turns each batch into logits (a text's logits are the mean of
its windows'), and a softmax of the logits divided by the folder's calibration temperature (calibration.json,
fitted on the validation split by evaluate; 1 without it) gives each label's probability. A model of label sets
(task=multi_label: config.json's problem_type) gives each label a sigmoid of its logit instead, and predicts the
labels whose probability reaches their threshold (thresholds.json, tuned on the validation split by evaluate;
0.5 without it). evaluate, predict, the ONNX parity check, champion scoring and the served model all go through
`logits`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

try:  # served: MLflow puts the model's code/ folder (normalise.py, text_windows.py beside this file) on sys.path
    import normalise
    import text_windows
except ImportError:  # in the project
    from pipeline.data import normalise, text_windows

BATCH = 32
Batch = dict[str, np.ndarray]           # input_ids, attention_mask (and token_type_ids) of one batch of texts
Text = str | tuple[str, str]            # a text, or a pair of texts for a model trained on pairs
Encode = Callable[[list[Text]], Batch]  # texts -> a padded batch of their cut inputs, `document` naming each row's text
Encoded = tuple[list[int], list[int], list[int], list | None]  # one whole text's token ids, token type ids,
                                        # special-token mask, and for a pair each token's text (0, 1; None: special)
NO_LIMIT = 1_000_000  # transformers' model_max_length for "no limit" is 1e30
Forward = Callable[[Batch], np.ndarray]  # a batch -> its logits
BACKENDS = ("onnx", "pytorch")
CALIBRATION_FILE = "calibration.json"  # {"temperature": T}: probabilities are softmax(logits / T)
THRESHOLDS_FILE = "thresholds.json"  # {"thresholds": {label: t}}: a model of label sets predicts sigmoid(logit) >= t
MULTI_LABEL = "multi_label_classification"  # config.json's problem_type for a model of label sets
DEFAULT_THRESHOLD = 0.5
THREADS_ENV = "TEXT_CLASSIFIER_THREADS"  # the served model's ONNX Runtime intra-op threads per request
SERVING_THREADS = 0  # without THREADS_ENV: ONNX Runtime's own choice, a thread per physical core
SPINNING = "session.intra_op.allow_spinning"  # off: a thread with no work sleeps, leaving the cores to concurrent
                                              # requests (on 2 cores, 1.1-1.3x the requests/s at 4 clients; docs/benchmarks.md)


def logits(forward: Forward, encode: Encode, texts: list[Text], num_labels: int, pairs: bool = False) -> np.ndarray:
    """Logits (texts x labels) of `texts` (pairs of texts for a model of `pairs`), normalised as preprocess
    normalised the training texts, BATCH at a time; a text cut into windows gets their mean. A null or empty
    text, or a text of the other kind, is normalise.BadText."""
    texts, chunks = normalise.request_texts(texts, pairs), []
    for start in range(0, len(texts), BATCH):
        batch = dict(encode(texts[start:start + BATCH]))
        document = batch.pop("document")
        chunks.append(document_mean(forward(batch), document, len(texts[start:start + BATCH])))
    return np.concatenate([np.empty((0, num_labels), dtype=np.float32), *chunks])


def document_mean(values: np.ndarray, document: np.ndarray, count: int) -> np.ndarray:
    """The mean of the rows of each of `count` texts (`document`: each row's text); one row each is kept as is."""
    if len(document) == count:
        return values
    sums = np.zeros((count, values.shape[1]), dtype=values.dtype)
    np.add.at(sums, document, values)
    return sums / np.bincount(document, minlength=count)[:, None].astype(values.dtype)


def cut_settings(strategy: str | None, max_length, side: str | None) -> dict:
    """How texts are cut (text_windows.windows arguments) from a tokenizer's settings: `long_text` (truncate
    when absent: models exported before it), model_max_length (None or transformers' 1e30: no limit) and
    truncation_side."""
    limit = max_length if isinstance(max_length, int) and max_length < NO_LIMIT else NO_LIMIT
    return {"strategy": strategy or "truncate", "max_len": limit, "side": side or "right"}


def windowed(encoded: list[Encoded], cut: dict, pad: tuple[int, int, str], names: list[str]) -> Batch:
    """The model inputs of whole encoded texts, cut by `cut` (cut_settings): a row per window, padded with
    `pad` (id, type id, side) to the longest row; only the inputs in `names`, and `document`."""
    rows, document = [], []
    for index, (ids, type_ids, special, sequences) in enumerate(encoded):
        for positions in text_windows.windows(special, cut["max_len"], cut["strategy"], cut["side"], sequences):
            rows.append(([ids[p] for p in positions], [type_ids[p] for p in positions]))
            document.append(index)
    width = max((len(ids) for ids, _ in rows), default=0)
    pad_id, pad_type_id, side = pad
    fields = {"input_ids": [], "attention_mask": [], "token_type_ids": []}
    for ids, type_ids in rows:
        filler = width - len(ids)
        for name, values, padding in (("input_ids", ids, pad_id), ("attention_mask", [1] * len(ids), 0),
                                      ("token_type_ids", type_ids, pad_type_id)):
            fields[name].append(values + [padding] * filler if side == "right" else [padding] * filler + values)
    batch = {name: np.array(fields[name], dtype=np.int64).reshape(len(rows), width)
             for name in names if name in fields}
    batch["document"] = np.array(document, dtype=np.int64)
    return batch


def softmax(values: np.ndarray) -> np.ndarray:
    exp = np.exp(values - values.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # 1 / (1 + e^-x), without overflow for large |x|


def saved_temperature(folder: Path | str) -> float:
    """The calibration temperature saved in an exported folder; 1.0 (the raw softmax) without one."""
    path = Path(folder) / CALIBRATION_FILE
    return float(json.loads(path.read_text(encoding="utf-8"))["temperature"]) if path.is_file() else 1.0


def calibrated(values: np.ndarray, temperature: float) -> np.ndarray:
    """Each label's probability from logits, calibrated by `temperature` (the same predicted label)."""
    return softmax(values / temperature)


def probabilities_frame(probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """One row per text: the predicted label, its probability, and every label's probability."""
    frame = pd.DataFrame(probs, columns=[f"prob/{label}" for label in labels])
    frame.insert(0, "label", [labels[i] for i in probs.argmax(axis=1)])
    frame.insert(1, "score", probs.max(axis=1))
    return frame


def label_sets_frame(probs: np.ndarray, thresholds: list[float], labels: list[str]) -> pd.DataFrame:
    """One row per text of a model of label sets: the predicted labels (a list, in label order; empty when no
    label reaches its threshold) and every label's probability."""
    frame = pd.DataFrame(probs, columns=[f"prob/{label}" for label in labels])
    frame.insert(0, "labels", [[labels[i] for i in np.flatnonzero(row)] for row in decide(probs, thresholds)])
    return frame


def decide(probs: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """The label sets of sigmoid probabilities: 1 where a label's probability reaches its threshold, else 0."""
    return (probs >= np.asarray(thresholds, dtype=probs.dtype)).astype(np.int64)


def predictions(values: np.ndarray, labels: list[str], temperature: float = 1.0,
                thresholds: list[float] | None = None) -> pd.DataFrame:
    """The predictions frame of logits: calibrated softmax and the top label, or for a model of label sets
    (`thresholds` given) sigmoids and the labels that reach their thresholds."""
    if thresholds is None:
        return probabilities_frame(calibrated(values, temperature), labels)
    return label_sets_frame(sigmoid(values), thresholds, labels)


def saved_thresholds(folder: Path | str, labels: list[str]) -> list[float] | None:
    """A model of label sets' decision thresholds, in `labels` order (thresholds.json; 0.5 for a label it lacks);
    None for a model of single labels (config.json's problem_type)."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("problem_type") != MULTI_LABEL:
        return None
    path = folder / THRESHOLDS_FILE
    saved = json.loads(path.read_text(encoding="utf-8"))["thresholds"] if path.is_file() else {}
    return [float(saved.get(label, DEFAULT_THRESHOLD)) for label in labels]


def tokenizer_encode(folder: Path | str) -> Encode:
    """The Encode of a saved fast tokenizer (tokenizer.json and tokenizer_config.json), with the tokenizers
    library alone: the same rows as inference.hf_encode gives with transformers."""
    from tokenizers import Tokenizer

    folder = Path(folder)
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()  # whole texts: windowed cuts them
    tokenizer.no_padding()
    settings = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    cut = cut_settings(settings.get("long_text"), settings.get("model_max_length"), settings.get("truncation_side"))
    pad = settings.get("pad_token")
    pad = pad["content"] if isinstance(pad, dict) else pad
    pad_id = tokenizer.token_to_id(pad) if pad is not None else None
    padding = (pad_id or 0, settings.get("pad_token_type_id", 0), settings.get("padding_side", "right"))
    names = settings.get("model_input_names") or ["input_ids", "token_type_ids", "attention_mask"]

    def encode(texts: list[Text]) -> Batch:  # only the inputs the model was trained with (gpt2: no token types)
        encoded = [(e.ids, e.type_ids, e.special_tokens_mask, e.sequence_ids) for e in tokenizer.encode_batch(texts)]
        return windowed(encoded, cut, padding, names)

    return encode


def serving_threads() -> int:
    """The served model's ONNX Runtime intra-op threads per request: THREADS_ENV, else SERVING_THREADS (0: ONNX
    Runtime's own choice, every physical core for each request)."""
    value = os.environ.get(THREADS_ENV, str(SERVING_THREADS))
    if not value.strip().isdigit():
        raise ValueError(f"{THREADS_ENV}={value!r}: set a whole number of threads (0: ONNX Runtime's own choice)")
    return int(value)


def onnx_session(onnx_path: Path | str, threads: int = 0):
    """An ONNX Runtime CPU session with `threads` intra-op threads (0: ONNX Runtime's own choice) that sleep
    when they have no work."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry(SPINNING, "0")
    return ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])


def onnx_forward(session) -> Forward:
    """The Forward of an ONNX Runtime session: feeds the inputs its graph declares."""
    def forward(batch: Batch) -> np.ndarray:
        return session.run(["logits"], {arg.name: np.asarray(batch[arg.name], dtype=np.int64)
                                        for arg in session.get_inputs()})[0]

    return forward


def torch_forward(model, device="cpu") -> Forward:
    """The Forward of a PyTorch sequence classifier on `device` (inputs it does not take are left out)."""
    import inspect

    import torch

    accepted = set(inspect.signature(model.forward).parameters)

    @torch.inference_mode()
    def forward(batch: Batch) -> np.ndarray:
        inputs = {name: torch.as_tensor(np.asarray(values)).to(device) for name, values in batch.items()
                  if name in accepted}
        return model(**inputs).logits.float().cpu().numpy()

    return forward


class TextClassifier:
    """An exported folder (model.onnx or model.safetensors, config.json, the tokenizer) ready to predict; an ONNX
    model on `threads` intra-op threads (0: ONNX Runtime's own choice). It reads `columns` (input_columns): pairs
    of texts where there are two."""

    def __init__(self, folder: Path | str, backend: str = "onnx", onnx_file: str = "model.onnx", threads: int = 0):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
        folder = Path(folder)
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        names = config.get("id2label") or {}  # transformers leaves out its defaults, LABEL_0, LABEL_1, ...
        self.labels = [names.get(str(i), f"LABEL_{i}") for i in range(len(names) or config.get("num_labels", 2))]
        self.encode = tokenizer_encode(folder)
        self.columns = input_columns(folder)
        self.pairs = len(self.columns) == 2
        self.temperature = saved_temperature(folder)
        self.thresholds = saved_thresholds(folder, self.labels)  # None: one label a text
        self.forward = onnx_forward(onnx_session(folder / onnx_file, threads)) if backend == "onnx" else \
            torch_forward(_load_torch(folder))

    def logits(self, texts: list[Text]) -> np.ndarray:
        return logits(self.forward, self.encode, texts, len(self.labels), self.pairs)

    def predict(self, texts: list[Text]) -> pd.DataFrame:
        return predictions(self.logits(texts), self.labels, self.temperature, self.thresholds)

    def decisions(self, texts: list[Text]) -> np.ndarray:
        """The predicted label id of each text, or for label sets a 0/1 row per text."""
        values = self.logits(texts)
        return values.argmax(axis=1) if self.thresholds is None else decide(sigmoid(values), self.thresholds)

    def request(self, model_input) -> list[Text]:
        """The texts of a request: a DataFrame's input columns (input_columns), or a list of texts (of pairs)."""
        if not isinstance(model_input, pd.DataFrame):
            return list(model_input)
        missing = [column for column in self.columns if column not in model_input.columns]
        if missing:
            raise normalise.BadText(f"the request has no `{missing[0]}` column: this model reads "
                                    f"{' and '.join(f'`{column}`' for column in self.columns)}")
        columns = [model_input[column].tolist() for column in self.columns]
        return list(zip(*columns)) if self.pairs else columns[0]


def input_columns(folder: Path | str) -> list[str]:
    """What an exported folder's model reads: `text`, and `text_pair` where it was trained on pairs of texts."""
    settings = json.loads((Path(folder) / "tokenizer_config.json").read_text(encoding="utf-8"))
    return ["text", normalise.PAIR] if settings.get(normalise.PAIRS_SETTING) else ["text"]


def _load_torch(folder: Path):
    """The PyTorch model of an exported folder, from safetensors only (no pickle, no code from the folder)."""
    from transformers import AutoModelForSequenceClassification

    try:  # the lstm baseline registers itself with the Auto classes; served, it is a file beside this one
        import lstm  # noqa: F401
    except ImportError:
        import pipeline.models.lstm  # noqa: F401
    return AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, trust_remote_code=False).eval()
