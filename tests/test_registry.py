"""Registering exported models in MLflow, the challenger/champion aliases, and the pyfunc model."""

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.evaluation.champion import promotion
from pipeline.models.sources import build_model, build_tokenizer
from pipeline.serving.inference import load_folder, predict_texts
from pipeline.serving.onnx_export import export_onnx
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.tracking.registry import CHALLENGER, CHAMPION, current_champion, promote, register

NAME = "text-classifier-test"


@pytest.fixture
def exported(compose, small_frame, tmp_path):
    model_cfg = compose("model=tiny").model
    texts = small_frame["text"].tolist()
    tokenizer = build_tokenizer(model_cfg, texts)
    folder = tmp_path / "export"
    build_model(model_cfg, ["business", "sport"], tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    export_onnx(folder, tokenizer, folder / "model.onnx", texts[:4])
    return folder


def test_register_sets_challenger_and_the_pyfunc_predicts_like_the_folder(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("registry-test")
    runs = [client.create_run(experiment).info.run_id for _ in range(2)]
    first = register(client, NAME, log_pyfunc(client.tracking_uri, runs[0], exported), {"test/f1_macro": "0.5"})
    second = register(client, NAME, log_pyfunc(client.tracking_uri, runs[1], exported), {"test/f1_macro": "0.6"})
    assert (int(first.version), int(second.version)) == (1, 2)
    assert client.get_model_version_by_alias(NAME, CHALLENGER).version == second.version
    assert current_champion(client, NAME) is None

    promote(client, NAME, first.version)
    assert current_champion(client, NAME).version == first.version
    mlflow.set_tracking_uri(client.tracking_uri)
    texts = ["Shares rose after the results.", "The striker scored twice."]
    served = mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}").predict(pd.DataFrame({"text": texts}))
    local = predict_texts(*load_folder(exported), texts)
    assert served["label"].tolist() == local["label"].tolist()
    assert served["score"].tolist() == pytest.approx(local["score"].tolist(), abs=1e-6)
    assert list(local.columns) == ["label", "score", "prob/business", "prob/sport"]


CHAMPION_V3 = {"champion/version": 3.0, "champion/test/f1_macro": 0.90}


@pytest.mark.parametrize("gate, metrics, promoted, reason", [
    (False, {"test/f1_macro": 0.99}, False, "the quality gate failed"),
    (True, {"test/f1_macro": 0.80}, True, "first model that passed the gate"),
    (True, {"test/f1_macro": 0.95, **CHAMPION_V3}, True,
     "test/f1_macro 0.95 beats champion v3's 0.9 on the same test split"),
    (True, {"test/f1_macro": 0.90, **CHAMPION_V3}, False,
     "test/f1_macro 0.9 does not beat champion v3's 0.9 on the same test split"),
    (True, {"test/f1_macro": 0.85, **CHAMPION_V3}, False,
     "test/f1_macro 0.85 does not beat champion v3's 0.9 on the same test split"),
])
def test_promotion_rule(gate, metrics, promoted, reason):
    assert promotion(gate, metrics) == (promoted, reason)
