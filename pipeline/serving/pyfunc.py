"""The MLflow pyfunc of an exported folder: what the registry holds and `mlflow models serve` runs.

The logged model is self-contained: served_model.py (the model-from-code file) and text_classifier.py
travel with it, its requirements are pinned to the versions this project ran, and it carries one
backend's weights: model.onnx (ONNX Runtime; no torch needed to serve) or model.safetensors (PyTorch).
"""

from __future__ import annotations

import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd

import pipeline.models.lstm
from pipeline.data import normalise, text_windows
from pipeline.data.normalise import PAIR
from pipeline.serving import text_classifier

HERE = Path(__file__).resolve().parent
REQUIREMENTS = {"onnx": ("mlflow", "onnxruntime", "tokenizers", "numpy", "pandas"),
                "pytorch": ("mlflow", "torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas")}
INPUT_EXAMPLE = pd.DataFrame({"text": ["Shares rose after the company reported record profits."]})
PAIR_EXAMPLE = pd.DataFrame({"text": ["Shares rose after the company reported record profits."],
                             PAIR: ["The company's profits were the highest it has reported."]})


def pinned_requirements(backend: str) -> list[str]:
    """`name==version` of what the served model imports, as installed here (without local tags like +cpu;
    onnxruntime at the version of onnxruntime-gpu where that is what is installed)."""
    return [f"{name}=={installed_version(name).split('+')[0]}" for name in REQUIREMENTS[backend]]


def installed_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        if name != "onnxruntime":
            raise
        return version("onnxruntime-gpu")


def code_paths(backend: str) -> list[str]:
    """The files served_model.py imports: text_classifier.py, the normalise.py and text_windows.py it reads texts
    with, and the lstm baseline's model code for PyTorch."""
    files = [text_classifier.__file__, normalise.__file__, text_windows.__file__] + \
        ([pipeline.models.lstm.__file__] if backend == "pytorch" else [])
    return [str(Path(file).resolve()) for file in files]


def log_pyfunc(tracking_uri: str, run_id: str, folder: Path, backend: str = "onnx",
               onnx_file: str = "model.onnx") -> str:
    """Log `folder` (models/export) as the pyfunc model `model` of the run, served by `backend` (with
    `onnx_file`, the fp32 or the int8 model, for ONNX); returns its URI. Other weights are left out."""
    weights = onnx_file if backend == "onnx" else "model.safetensors"
    mlflow.set_tracking_uri(tracking_uri)
    with tempfile.TemporaryDirectory(prefix="served-model-") as tmp:
        served = Path(tmp) / "model"
        shutil.copytree(folder, served, ignore=lambda _, names: [name for name in names if name != weights and
                                                                 name.endswith((".onnx", ".safetensors"))])
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(HERE / "served_model.py"), artifacts={"model": str(served)},
                code_paths=code_paths(backend), model_config={"backend": backend, "onnx_file": onnx_file},
                pip_requirements=pinned_requirements(backend),
                input_example=PAIR_EXAMPLE if PAIR in text_classifier.input_columns(folder) else INPUT_EXAMPLE)
    return info.model_uri


class TextClassifierModel(mlflow.pyfunc.PythonModel):
    """The pickled pyfunc class of versions registered before models were logged from code; their
    python_model.pkl still names it, so MLflow's loader finds it here (PyTorch, from the whole folder)."""

    def load_context(self, context):
        self.classifier = text_classifier.TextClassifier(context.artifacts["model"], "pytorch")

    def predict(self, context, model_input, params=None):
        texts = model_input["text"] if isinstance(model_input, pd.DataFrame) else model_input
        return self.classifier.predict(list(texts))
