"""The MLflow model-from-code file of every registered model: what `mlflow models serve` and
`mlflow.pyfunc.load_model` run. It is logged as a file, with text_classifier.py beside it (code_paths), and
needs nothing from this project.

Input: a DataFrame with a `text` column (and a `text_pair` column for a model trained on pairs of texts), or a
list of strings (of pairs), each read as training read its texts (HTML entities unescaped, whitespace
collapsed). A null, non-string or empty text, or a missing column, fails the request with
INVALID_PARAMETER_VALUE (HTTP 400 from `mlflow models serve`) naming it. Output: one row per text, the
predicted label, its probability, and every label's probability (`prob/<label>`).

An ONNX model runs each request on TEXT_CLASSIFIER_THREADS intra-op threads (unset or 0: ONNX Runtime's
own choice, a thread per physical core), which sleep when they have no work.
"""

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

try:  # served: MLflow puts the model's code/ folder (text_classifier.py) on sys.path
    import text_classifier
except ImportError:  # logged from the project
    from pipeline.serving import text_classifier


class ServedModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        config = context.model_config
        self.classifier = text_classifier.TextClassifier(context.artifacts["model"], config["backend"],
                                                         config.get("onnx_file", "model.onnx"),
                                                         text_classifier.serving_threads())

    def predict(self, context, model_input, params=None):
        try:
            return self.classifier.predict(self.classifier.request(model_input))
        except text_classifier.normalise.BadText as err:  # a null or empty text: the request's fault
            raise MlflowException(str(err), error_code=INVALID_PARAMETER_VALUE) from None


mlflow.models.set_model(ServedModel())
