"""`python -m pipeline.predict MODEL "text" ...` or `... MODEL --input file.csv [--text-column text]`

MODEL is an exported folder (models/export), its ONNX file (models/export/model.onnx), or an
MLflow model URI such as models:/text-classifier-bbc_news@champion (read from the tracking store in
params.yaml, or MLFLOW_TRACKING_URI). Prints one JSON line per text:
the label, its probability and every label's probability.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from pipeline.config.params import PARAMS_FILE, load_params
from pipeline.core.errors import PipelineError, run_main
from pipeline.serving.inference import load_folder, load_registered, predict_texts
from pipeline.serving.text_classifier import TextClassifier
from pipeline.tracking.store import tracking_uri


def predict(model: str, texts: list[str]) -> pd.DataFrame:
    """Predictions from whichever kind of model `model` names."""
    if model.startswith(("models:/", "runs:/")):
        import mlflow

        if PARAMS_FILE.exists():  # the project's tracking store, unless MLFLOW_TRACKING_URI says otherwise
            mlflow.set_tracking_uri(tracking_uri(load_params("tracking").tracking))
        return load_registered(model).predict(texts)
    path = Path(model)
    if path.suffix == ".onnx" and path.is_file():
        return TextClassifier(path.parent, "onnx", onnx_file=path.name).predict(texts)
    if path.is_dir():
        return predict_texts(*load_folder(path), texts)
    raise PipelineError("predict-model-missing", f"no model at '{model}'", "MODEL argument",
                        "give an exported folder, its model.onnx, or an MLflow URI like models:/NAME@champion")


def read_texts(args: argparse.Namespace) -> list[str]:
    if args.input is None:
        if not args.texts:
            raise PipelineError("predict-no-text", "no text to classify", "command line", 'pass "some text" or --input file.csv')
        return args.texts
    frame = pd.read_csv(args.input, dtype=str, keep_default_na=False)
    if args.text_column not in frame.columns:
        raise PipelineError("predict-column-missing", f"column '{args.text_column}' not found (columns: {', '.join(frame.columns)})",
                            args.input, "pass --text-column <one of those columns>")
    return frame[args.text_column].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("texts", nargs="*")
    parser.add_argument("--input", help="CSV file with the texts")
    parser.add_argument("--text-column", default="text")
    args = parser.parse_args()
    texts = read_texts(args)
    for text, row in zip(texts, predict(args.model, texts).to_dict("records")):
        print(json.dumps({"text": text[:80], **{k: (round(v, 6) if isinstance(v, float) else v)
                                                for k, v in row.items()}}))


if __name__ == "__main__":
    run_main(main)
