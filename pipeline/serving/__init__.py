"""Serving: the one inference path (tokenize, batch, logits), ONNX export and runtime, the MLflow pyfunc,
the model card."""
