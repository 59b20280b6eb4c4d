"""The MLflow pyfunc flavour of an exported folder (what the registry holds and `mlflow models serve` runs)."""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd

from pipeline.serving.inference import load_folder, predict_texts

PIP_REQUIREMENTS = ["torch", "transformers", "tokenizers", "pandas", "mlflow"]


class TextClassifierModel(mlflow.pyfunc.PythonModel):
    """Input: a DataFrame with a `text` column (or a list of strings); output: one row of probabilities per text."""

    def load_context(self, context):
        self.model, self.tokenizer = load_folder(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        texts = list(model_input["text"]) if isinstance(model_input, pd.DataFrame) else list(model_input)
        return predict_texts(self.model, self.tokenizer, [str(text) for text in texts])


def log_pyfunc(tracking_uri: str, run_id: str, folder: Path) -> str:
    """Log `folder` (models/export) as a pyfunc model `model` of the run; returns its model URI."""
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="model", python_model=TextClassifierModel(),
                                       artifacts={"model": str(folder)}, pip_requirements=PIP_REQUIREMENTS)
    return info.model_uri
