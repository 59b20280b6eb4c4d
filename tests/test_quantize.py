"""Optional int8 serving: dynamic quantization, the F1 check that accepts or rejects it, and what is served."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from sklearn.metrics import f1_score

from conftest import export_tiny
from pipeline.core.atomic import write_json
from pipeline.evaluation.metrics import macro_f1
from pipeline.evaluation.quantization import check_int8, skipped
from pipeline.evaluation.release import release
from pipeline.serving.inference import load_folder, predicted_ids
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.quantize import INT8_FILE, has_vnni
from pipeline.serving.text_classifier import SPINNING, THREADS_ENV, TextClassifier, onnx_session, serving_threads

LABELS = ["business", "entertainment", "politics", "sport", "tech"]


@pytest.fixture
def exported(compose, small_frame, tmp_path):
    return export_tiny(compose, small_frame["text"].tolist(), tmp_path / "export", LABELS)


@pytest.mark.parametrize("flags, expected", [("fpu sse2 avx2 fma", False), ("fpu avx2 avx512f avx512_vnni", True),
                                             ("fpu avx2 avx_vnni", True), ("fpu avx512f amx_int8", True)])
def test_vnni_is_read_from_the_cpu_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert has_vnni(cpuinfo) is expected
    assert has_vnni(tmp_path / "missing") is False


def examples(frame, rows: slice) -> tuple[list[str], torch.Tensor]:
    part = frame[rows]
    return part["text"].tolist(), torch.tensor([LABELS.index(label) for label in part["label"]])


def test_int8_is_decided_on_validation_scored_like_pytorch_and_kept_only_within_the_allowed_drop(exported, small_frame,
                                                                                                  monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    validation, test = examples(small_frame, slice(0, 60)), examples(small_frame, slice(60, 100))
    model, tokenizer = load_folder(exported)
    pytorch_val = macro_f1(predicted_ids(model, tokenizer, validation[0]), validation[1], len(LABELS))
    pytorch_test = macro_f1(predicted_ids(model, tokenizer, test[0]), test[1], len(LABELS))

    compared = np.array([i % 2 == 0 for i in range(40)])  # the test rows a champion would be scored on
    kept = check_int8(exported, validation, test, max_drop=1.0, compared=compared)
    assert kept["accepted"] and (exported / INT8_FILE).is_file()
    assert kept["validation/f1_macro_fp32"] == pytest.approx(pytorch_val, abs=1e-6)  # fp32 ONNX predicts as PyTorch
    assert kept["test/f1_macro_fp32"] == pytest.approx(pytorch_test, abs=1e-6)
    assert kept["f1_drop"] == pytest.approx(kept["validation/f1_macro_fp32"] - kept["validation/f1_macro_int8"], abs=1e-6)
    int8 = TextClassifier(exported, "onnx", onnx_file=INT8_FILE)
    on_compared = int8.predict([text for text, keep in zip(test[0], compared) if keep])["label"]
    assert kept["compared/test/f1_macro_int8"] == pytest.approx(
        f1_score([LABELS[i] for i in test[1][torch.from_numpy(compared)]], on_compared, average="macro", labels=LABELS,
                 zero_division=0), abs=1e-6)
    assert kept["size_mb_int8"] < kept["size_mb_fp32"] / 2  # int8 weights: about a quarter of fp32's
    assert kept["latency_ms_batch1_int8"] > 0 and kept["latency_ms_batch1_fp32"] > 0
    assert kept["latency_threads"] == 0  # timed on the threads the served model runs on

    rejected = check_int8(exported, validation, test, max_drop=kept["f1_drop"] - 0.01)
    assert not rejected["accepted"] and not (exported / INT8_FILE).exists()
    assert "compared/test/f1_macro_int8" not in rejected  # no champion to compare with


def test_served_threads_are_onnx_runtimes_choice_unless_the_environment_says_and_never_spin(exported, monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert serving_threads() == 0  # ONNX Runtime's own choice
    options = onnx_session(exported / "model.onnx", serving_threads()).get_session_options()
    assert options.intra_op_num_threads == 0 and options.get_session_config_entry(SPINNING) == "0"
    monkeypatch.setenv(THREADS_ENV, "1")
    assert onnx_session(exported / "model.onnx", serving_threads()).get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=r"TEXT_CLASSIFIER_THREADS='two': set a whole number of threads"):
        serving_threads()


@pytest.mark.parametrize("export, reason", [({"quantize": "none", "serve_with": "onnx"}, "export.quantize=none"),
                                            ({"quantize": "dynamic_int8", "serve_with": "pytorch"},
                                             "export.serve_with=pytorch: int8 is an ONNX Runtime model")])
def test_no_int8_model_is_tried_when_quantization_is_off_or_pytorch_serves(export, reason):
    assert skipped(OmegaConf.create(export)) == {"accepted": False, "reason": reason}
    assert skipped(OmegaConf.create({"quantize": "dynamic_int8", "serve_with": "onnx"})) is None


def test_the_registered_model_carries_only_the_weights_it_serves(exported, small_frame, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts go under the working directory
    texts, targets = small_frame["text"].tolist()[:20], torch.zeros(20, dtype=torch.long)
    check_int8(exported, (texts, targets), (texts, targets), max_drop=1.0)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("int8")
    for onnx_file in ("model.onnx", INT8_FILE):
        run_id = client.create_run(experiment).info.run_id
        log_pyfunc(client.tracking_uri, run_id, exported, "onnx", onnx_file)
        logged = _mlmodel(tmp_path, run_id)
        weights = sorted(p.name for p in logged.parent.rglob("*") if p.suffix in (".onnx", ".safetensors"))
        assert weights == [onnx_file]
        assert yaml.safe_load(logged.read_text())["flavors"]["python_function"]["config"]["onnx_file"] == onnx_file


def _mlmodel(root: Path, run_id: str) -> Path:
    """The MLmodel file of the model logged to `run_id` (MLflow 3 keeps logged models under models/<id>)."""
    for mlmodel in root.rglob("MLmodel"):
        if yaml.safe_load(mlmodel.read_text()).get("run_id") == run_id:
            return mlmodel
    raise AssertionError(f"no model logged to run {run_id}")


def test_an_accepted_int8_model_is_a_new_version_promoted_on_its_own_f1(exported, small_frame, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    training = {"mlflow_run_id": client.create_run(client.create_experiment("int8")).info.run_id, "gate": {"passed": True}}
    fp32 = release(client, "int8-test", exported, training, {"test/f1_macro": 0.5}, LABELS, "onnx", 100)
    assert (fp32["version"], fp32["registered_now"]) == (1, True)

    check = check_int8(exported, examples(small_frame, slice(0, 40)), examples(small_frame, slice(40, 80)), max_drop=1.0)
    write_json(exported / "quantization.json", check)
    against_v1 = {"test/f1_macro": 0.5, "compared/test/f1_macro": 0.5, "champion/version": 1.0, "champion/rows_known": 1.0,
                  "champion/test/f1_macro": 0.5, "champion/compared_rows": 40.0, "champion/trained_on_rows": 0.0}
    int8 = release(client, "int8-test", exported, training, against_v1, LABELS, "onnx", 100)
    assert (int8["version"], int8["registered_now"]) == (2, True)  # the same training run, served another way
    tags = client.get_model_version("int8-test", "2").tags
    assert tags["served_with"] == f"onnx:{INT8_FILE}" and tags["test/f1_macro"] == str(check["test/f1_macro_int8"])
    again = release(client, "int8-test", exported, training, against_v1, LABELS, "onnx", 100)
    assert (again["version"], again["registered_now"]) == (2, False)
