"""The registered champion serves outside this project: a fresh virtual environment with only the model's own
requirements, `mlflow models serve` on 127.0.0.1, real HTTP requests."""

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import mlflow.artifacts
import pandas as pd
import pytest

from conftest import commit_all, free_port, run, stop_process_group, wait_until_healthy
from test_end_to_end import TINY

pytestmark = pytest.mark.slow


def fresh_venv(folder: Path, requirements: Path) -> Path:
    """A new virtual environment holding what `requirements` lists and nothing else; returns its bin folder."""
    uv = Path(sys.executable).parent / "uv"
    subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(folder)], check=True)
    subprocess.run([str(uv), "pip", "install", "-q", "--python", str(folder / "bin/python"), "-r", str(requirements)],
                   check=True)
    return folder / "bin"


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

    texts = small_frame["text"].tolist()[-12:] + ["", "café &amp; naïve résumé " * 200]
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "texts.csv", index=False)
    local = [json.loads(line) for line in run([sys.executable, "-m", "pipeline.predict", "models/export",
                                               "--input", str(tmp_path / "texts.csv")], project).stdout.splitlines()]

    url, log = f"http://127.0.0.1:{free_port()}", tmp_path / "serve.log"
    env = {**os.environ, "PATH": f"{venv}:{os.environ['PATH']}", "MLFLOW_TRACKING_URI": store}
    env.pop("PYTHONPATH", None)
    with log.open("w") as out:
        server = subprocess.Popen([str(venv / "mlflow"), "models", "serve", "-m", champion, "--env-manager", "local",
                                   "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1]], cwd=tmp_path, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_healthy(url, server, log)
        served = post(f"{url}/invocations", {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}})
    finally:
        stop_process_group(server)
    assert server.returncode is not None
    predictions = served["predictions"]
    assert [p["label"] for p in predictions] == [row["label"] for row in local]
    assert [p["score"] for p in predictions] == pytest.approx([row["score"] for row in local], abs=1e-4)
