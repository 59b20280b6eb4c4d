"""ONNX export with dynamic axes, checked against PyTorch with ONNX Runtime."""

import numpy as np
import onnx
import onnxruntime as ort

from pipeline.models.sources import build_model, build_tokenizer
from pipeline.serving.onnx_export import TOLERANCE, export_onnx


def test_exported_model_matches_pytorch_for_any_batch_and_length(compose, small_frame, tmp_path):
    model_cfg = compose("model=tiny").model
    texts = small_frame["text"].tolist()
    tokenizer = build_tokenizer(model_cfg, texts)
    build_model(model_cfg, ["a", "b", "c"], tokenizer).save_pretrained(tmp_path / "model")

    check = export_onnx(tmp_path / "model", tokenizer, tmp_path / "model.onnx", texts[:16])
    assert check["checked_examples"] == 16 and check["max_abs_logit_diff"] <= TOLERANCE

    graph = onnx.load(tmp_path / "model.onnx").graph
    dims = [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    for batch, length in ((1, 5), (7, 40)):
        feeds = {i.name: np.ones((batch, length), dtype=np.int64) for i in session.get_inputs()}
        assert session.run(["logits"], feeds)[0].shape == (batch, 3)
