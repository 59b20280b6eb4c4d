"""The registered champion serves outside this project: a fresh virtual environment with only the model's own
requirements, `mlflow models serve` on 127.0.0.1, real HTTP requests."""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import mlflow.artifacts
import pandas as pd
import pytest

from conftest import commit_all, free_port, run, stop_process_group, wait_until_healthy
from pipeline.serving.inference import load_folder, model_logits
from test_end_to_end import TINY

pytestmark = pytest.mark.slow


def fresh_venv(folder: Path, requirements: Path) -> Path:
    """A new virtual environment holding what `requirements` lists and nothing else; returns its bin folder."""
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(folder)], check=True)
    subprocess.run([str(uv), "pip", "install", "-q", "--python", str(folder / "bin/python"), "-r", str(requirements)],
                   check=True)
    return folder / "bin"


@contextmanager
def serving(venv: Path, model_uri: str, store: str, folder: Path) -> Iterator[str]:
    """`mlflow models serve` of `model_uri` from the fresh environment `venv`, on a free port of 127.0.0.1 (its log
    in folder/serve.log): yields the URL once healthy, and stops the server after."""
    url, log = f"http://127.0.0.1:{free_port()}", folder / "serve.log"
    env = {**os.environ, "PATH": f"{venv}:{os.environ['PATH']}", "MLFLOW_TRACKING_URI": store}
    env.pop("PYTHONPATH", None)
    with log.open("w") as out:
        server = subprocess.Popen([str(venv / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
                                   "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1]], cwd=folder, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(url, server, log)
        yield url
    finally:
        stop_process_group(server)
    assert server.returncode is not None


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_champion_serves_from_a_fresh_environment_like_predict_on_the_export_folder(project, small_frame, tmp_path):
    (project / "data").mkdir()
    small_frame.rename(columns={"text": "body", "label": "topic"}).to_csv(project / "data/small.csv", index=False)
    commit_all(project)
    run([sys.executable, "-m", "dvc", "exp", "run", *TINY], project)
    store = f"sqlite:///{project / 'mlflow.db'}"
    champion = "models:/text-classifier-csv-small@champion"

    mlflow.set_tracking_uri(store)
    requirements = Path(mlflow.artifacts.download_artifacts(f"{champion}/requirements.txt", dst_path=str(tmp_path)))
    assert not any(line.startswith(("torch", "transformers")) for line in requirements.read_text().splitlines())
    venv = fresh_venv(tmp_path / "serving-venv", requirements)
    no_torch = subprocess.run([str(venv / "python"), "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0  # ONNX Runtime serves; the project's torch is not there

    raw = ["Shares &amp; bonds fell\n\tafter the &quot;results&quot;.", "café &amp;amp; naïve\r\n résumé " * 200]
    normalised = ["Shares & bonds fell after the \"results\".", ("café & naïve résumé " * 200).strip()]  # by hand
    texts = small_frame["text"].tolist()[-12:] + raw + normalised
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "texts.csv", index=False)
    int8 = json.loads((project / "models/export/quantization.json").read_text())  # int8 serves where accepted
    served_file = "models/export/model.int8.onnx" if int8["accepted"] else "models/export/model.onnx"
    local = {model: [json.loads(line) for line in run([sys.executable, "-m", "pipeline.predict", model, "--input",
                                                       str(tmp_path / "texts.csv")], project).stdout.splitlines()]
             for model in ("models/export", served_file)}

    with serving(venv, champion, store, tmp_path) as url:
        served = post(f"{url}/invocations", {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}})
        refused = {name: post_status(f"{url}/invocations", {"dataframe_split": {"columns": ["text"],
                                                                                 "data": [["fine"], [bad]]}})
                   for name, bad in (("null", None), ("empty", " &nbsp;\n"))}
    predictions = served["predictions"]
    assert [p["label"] for p in predictions] == [row["label"] for row in local[served_file]]
    assert [p["score"] for p in predictions] == pytest.approx([row["score"] for row in local[served_file]], abs=1e-4)
    # Raw text reads as its normalised form on every path: served, predict (ONNX file and folder), evaluate's.
    for rows in (predictions, *local.values()):
        assert [row["score"] for row in rows[12:14]] == pytest.approx([row["score"] for row in rows[14:]], abs=1e-6)
        assert [row["label"] for row in rows[12:14]] == [row["label"] for row in rows[14:]]
    model, tokenizer = load_folder(project / "models/export")
    assert model_logits(model, tokenizer, raw) == pytest.approx(model_logits(model, tokenizer, normalised), abs=1e-6)
    # A null or empty text is the request's error, never a prediction.
    assert refused["null"][0] == 400 and "text 2 is null, not a string" in refused["null"][1]
    assert refused["empty"][0] == 400 and "text 2 is empty once HTML entities and whitespace are read" in refused["empty"][1]


def post_status(url: str, payload: dict) -> tuple[int, str]:
    """The HTTP status and body of a request that is expected to fail."""
    try:
        post(url, payload)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    return 200, ""
