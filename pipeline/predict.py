"""`python -m pipeline.predict MODEL "text" ...` or `... MODEL --input file.csv [--text-column text]`

MODEL is an exported folder (models/export), its ONNX file (models/export/model.onnx), or an
MLflow model URI such as models:/text-classifier-bbc_news@champion (read from the tracking store in
params.yaml, or MLFLOW_TRACKING_URI). Prints one JSON line per text:
the label, its probability and every label's probability.

A model trained on pairs of texts takes each text's pair: `MODEL "text" --pair "its pair" ...` (one --pair
per text, in order) or `--input file.csv --text-pair-column COLUMN`.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pandas as pd

from pipeline.config.params import PARAMS_FILE, load_params
from pipeline.core.errors import PipelineError, run_main
from pipeline.core.redact import redact
from pipeline.data.normalise import BadText, request_texts
from pipeline.data.pairs import text_fields
from pipeline.serving.inference import load_registered, predict_folder
from pipeline.serving.text_classifier import TextClassifier
from pipeline.tracking.store import tracking_uri


def predict(model: str, texts: list, trust_remote_code: bool = False) -> pd.DataFrame:
    """Predictions from whichever kind of model `model` names (a folder's own code runs only if trusted)."""
    if model.startswith(("models:/", "runs:/")):
        import mlflow
        from mlflow.exceptions import MlflowException

        if PARAMS_FILE.exists():  # the project's tracking store, unless MLFLOW_TRACKING_URI says otherwise
            mlflow.set_tracking_uri(tracking_uri(load_params("tracking").tracking))
        try:
            return load_registered(model).predict(texts)
        except MlflowException as err:
            said = (str(err.message).strip().splitlines() or [""])[0]
            raise PipelineError("predict-model-missing", f"the registry cannot give '{model}' ({err.error_code}: "
                                f"{said})", redact(mlflow.get_tracking_uri()),
                                "check the name and alias (`mlflow ui` lists them) and the tracking store") from None
    path = Path(model)
    beside = all((path.parent / name).is_file() for name in ("tokenizer.json", "config.json"))
    if path.suffix == ".onnx" and path.is_file() and beside:
        return TextClassifier(path.parent, "onnx", onnx_file=path.name).predict(texts)
    if path.is_dir() and (path / "config.json").is_file():
        return predict_folder(path, texts, trust_remote_code)
    found = "a folder without a model (no config.json)" if path.is_dir() else \
        "an ONNX file without tokenizer.json and config.json beside it" if path.is_file() and path.suffix == ".onnx" \
        else "no model"
    raise PipelineError("predict-model-missing", f"'{model}' is {found}", "MODEL argument",
                        "give an exported folder (models/export), its model.onnx, or an MLflow URI like models:/NAME@champion")


def read_texts(args: argparse.Namespace) -> list:
    """The texts to classify: strings, or (text, text_pair) where pairs are given."""
    if args.input is None:
        if not args.texts:
            raise PipelineError("predict-no-text", "no text to classify", "command line", 'pass "some text" or --input file.csv')
        if args.text_pair_column:
            raise PipelineError("predict-bad-pairs", "--text-pair-column names a column of --input, and there is none",
                                "command line", "give --input file.csv, or the pairs with --pair")
        if args.pair and len(args.pair) != len(args.texts):
            raise PipelineError("predict-bad-pairs", f"{len(args.texts)} text(s) but {len(args.pair)} --pair",
                                "command line", "give one --pair per text, in the texts' order")
        return list(zip(args.texts, args.pair)) if args.pair else args.texts
    if args.pair:
        raise PipelineError("predict-bad-pairs", "--pair goes with texts on the command line, not with --input",
                            "command line", "name the --input column of the pairs with --text-pair-column")
    frame = read_csv(Path(args.input))
    for column, option in ((args.text_column, "--text-column"), (args.text_pair_column, "--text-pair-column")):
        if column is not None and column not in frame.columns:
            raise PipelineError("predict-column-missing", f"column '{column}' not found (columns: {', '.join(frame.columns)})",
                                args.input, f"pass {option} <one of those columns>")
    if frame.empty:
        raise PipelineError("predict-no-text", "the file has a header but no rows", args.input, "add one text per row")
    texts = frame[args.text_column].tolist()
    return list(zip(texts, frame[args.text_pair_column].tolist())) if args.text_pair_column else texts


def read_csv(path: Path) -> pd.DataFrame:
    """The --input file as text columns; a missing, empty, non-UTF-8 or malformed file is one error line."""
    if not path.is_file():
        raise PipelineError("predict-input-unreadable", "no such file" if not path.exists() else "not a file", str(path),
                            "give the path of a CSV file with a header row and one text per row")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise PipelineError("predict-input-unreadable", f"cannot read it ({err.strerror})", str(path),
                            "check the path and that you may read the file") from None
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark (Excel's UTF-8 CSV) is not part of the header
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise PipelineError("predict-input-unreadable", f"not UTF-8 (byte 0x{data[err.start]:02x} on line {line})", str(path),
                            "save the file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8 in.csv > out.csv`)") from None
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise PipelineError("predict-no-text", "the file is empty", str(path), "add a header row and one text per row") from None
    except pd.errors.ParserError as err:
        raise PipelineError("predict-input-unreadable", f"not a well-formed CSV ({str(err).strip()})", str(path),
                            "quote the fields that hold commas, quotes or newlines") from None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("texts", nargs="*")
    parser.add_argument("--input", help="CSV file with the texts")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--pair", action="append", default=[], help="the pair of each text, for a model of pairs")
    parser.add_argument("--text-pair-column", help="the --input column of each text's pair, for a model of pairs")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let a model folder that ships its own Python code run it (read that code first)")
    args = parser.parse_args()
    texts = read_texts(args)
    try:
        request_texts(texts, pairs=bool(texts) and isinstance(texts[0], tuple))  # before any model is loaded
        predictions = predict(args.model, texts, args.trust_remote_code)
    except BadText as err:
        raise PipelineError("predict-bad-text", str(err), args.input or "command line",
                            "give every text some words (rows of --input count from 1 after the header), and a "
                            "model of pairs each text's pair") from None
    for text, row in zip(texts, predictions.to_dict("records")):
        shown = {name: value[:80] for name, value in text_fields(text).items()}
        print(json.dumps({**shown, **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}}))


if __name__ == "__main__":
    run_main(main)
