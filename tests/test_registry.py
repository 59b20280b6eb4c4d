"""Registering exported models in MLflow, the challenger/champion aliases, and the pyfunc model."""

import mlflow.pyfunc
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.models.factory import build_model, build_tokenizer
from pipeline.registry import CHALLENGER, CHAMPION, current_champion, promotion, register
from pipeline.serving import load_folder, predict_texts

NAME = "text-classifier-test"


@pytest.fixture
def exported(compose, small_frame, tmp_path):
    model_cfg = compose("model=tiny").model
    texts = small_frame["text"].tolist()
    tokenizer = build_tokenizer(model_cfg, texts)
    folder = tmp_path / "export"
    build_model(model_cfg, ["business", "sport"], tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_register_sets_challenger_and_the_pyfunc_predicts_like_the_folder(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("registry-test")
    first = register(client, NAME, client.create_run(experiment).info.run_id, exported, {"test/f1_macro": "0.5"})
    second = register(client, NAME, client.create_run(experiment).info.run_id, exported, {"test/f1_macro": "0.6"})
    assert (int(first.version), int(second.version)) == (1, 2)
    assert client.get_model_version_by_alias(NAME, CHALLENGER).version == second.version
    assert current_champion(client, NAME) is None

    client.set_registered_model_alias(NAME, CHAMPION, first.version)
    assert current_champion(client, NAME).version == first.version
    mlflow.set_tracking_uri(client.tracking_uri)
    texts = ["Shares rose after the results.", "The striker scored twice."]
    served = mlflow.pyfunc.load_model(f"models:/{NAME}@{CHAMPION}").predict(pd.DataFrame({"text": texts}))
    local = predict_texts(*load_folder(exported), texts)
    assert served["label"].tolist() == local["label"].tolist()
    assert served["score"].tolist() == pytest.approx(local["score"].tolist(), abs=1e-6)
    assert list(local.columns) == ["label", "score", "prob/business", "prob/sport"]


@pytest.mark.parametrize("gate, ours, champion, promoted", [
    (False, 0.99, None, False),
    (True, 0.80, None, True),
    (True, 0.95, {"version": "3", "test/f1_macro": 0.90}, True),
    (True, 0.90, {"version": "3", "test/f1_macro": 0.90}, False),
    (True, 0.85, {"version": "3", "test/f1_macro": 0.90}, False),
])
def test_promotion_rule(gate, ours, champion, promoted):
    decision, reason = promotion(gate, "test/f1_macro", ours, champion)
    assert decision is promoted and reason
