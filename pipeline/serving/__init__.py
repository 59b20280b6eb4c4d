"""Serving: the one inference path (tokenize, batch, logits), ONNX export and runtime, the MLflow pyfunc,
the model card."""


def __getattr__(name: str):
    """Versions registered before serving/ became a package pickled their model class as
    pipeline.serving.TextClassifierModel: MLflow's loader still finds it here."""
    if name == "TextClassifierModel":
        from pipeline.serving.pyfunc import TextClassifierModel

        return TextClassifierModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
