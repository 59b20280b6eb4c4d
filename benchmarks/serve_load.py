"""A bounded load test of the registered champion served by `mlflow models serve` on 127.0.0.1.

    cd benchmarks && ../.venv/bin/python serve_load.py PROJECT [--clients 1 4] [--seconds 30]
        [--texts-per-request 1] [--workers 1] [--threads N]

PROJECT is a project folder after `dvc repro` (its mlflow.db holds the champion; reports/registry.json
names it). As a user would deploy it: a fresh virtual environment (uv) with only the model's own
requirements.txt, `mlflow models serve -m models:/NAME@champion --env-manager local --workers W` (with
TEXT_CLASSIFIER_THREADS=N in its environment when --threads is given), then, for each --clients count in
turn, that many threads each sending one request at a time (the test texts, `dataframe_split`) for
--seconds. First, in the same environment and with the same threads, the served model's own batch-1
latency: the median of text_classifier's logits for one test text at a time (32 texts, as the model card
times them, 3 times each after a warm-up pass). Prints the /health answer, one request and its response,
and per client count p50/p99 latency, requests/s and failed requests.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import mlflow
import mlflow.artifacts
import yaml

from pipeline.data.loader import split_texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def payload(texts: list) -> dict:
    """The request body of `texts` (strings, or (text, text_pair) for a model of pairs)."""
    columns = ["text", "text_pair"] if isinstance(texts[0], tuple) else ["text"]
    rows = [list(text) if isinstance(text, tuple) else [text] for text in texts]
    return {"dataframe_split": {"columns": columns, "data": rows}}


def post(url: str, texts: list) -> dict:
    body = json.dumps(payload(texts)).encode()
    request = urllib.request.Request(f"{url}/invocations", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 180) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow models serve exited {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return f"HTTP {response.status} {response.read().decode()!r}"
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not become healthy")


def load(url: str, texts: list, clients: int, seconds: float, per_request: int) -> tuple[list[float], int]:
    latencies, failures, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + seconds

    def client(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            batch = [texts[(i + k) % len(texts)] for k in range(per_request)]
            i += clients * per_request
            started = time.perf_counter()
            try:
                ok = len(post(url, batch)["predictions"]) == per_request
            except OSError:
                ok = False
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures[0] += 1

    threads = [threading.Thread(target=client, args=(n * per_request,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures[0]


BATCH1 = """import json, statistics, sys, time
sys.path.insert(0, sys.argv[1] + "/code")
import text_classifier
config = json.load(open(sys.argv[2]))
model = text_classifier.TextClassifier(sys.argv[1] + "/artifacts/model", "onnx", config["onnx_file"],
                                       text_classifier.serving_threads())  # as served_model.py loads it
texts = json.load(open(sys.argv[3]))
times = []
for rep in range(4):  # the first pass warms up
    for text in texts:
        started = time.perf_counter()
        model.logits([text])
        times.append((time.perf_counter() - started) * 1000)
print(round(statistics.median(times[len(texts):]), 1))
"""


def batch1_ms(python: Path, model: Path, texts: list[str], env: dict) -> float:
    """The served file's own batch-1 latency (median ms of text_classifier's logits on one text at a time)."""
    config, sample = model.parent / "config.json", model.parent / "texts.json"
    config.write_text(json.dumps(yaml.safe_load((model / "MLmodel").read_text())["flavors"]["python_function"]["config"]))
    sample.write_text(json.dumps(texts[:32]))
    result = subprocess.run([str(python), "-c", BATCH1, str(model), str(config), str(sample)], env=env,
                            capture_output=True, text=True, check=True)
    return float(result.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--clients", type=int, nargs="+", default=[4])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (mlflow models serve --workers)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads per request "
                                                     "(TEXT_CLASSIFIER_THREADS; default: the served code's own)")
    args = parser.parse_args()
    project = args.project.resolve()
    os.chdir(project)
    store = f"sqlite:///{project / 'mlflow.db'}"
    name = json.loads(Path("reports/registry.json").read_text())["model_name"]
    uri = f"models:/{name}@champion"
    texts = split_texts("test")
    mlflow.set_tracking_uri(store)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        model = Path(mlflow.artifacts.download_artifacts(uri, dst_path=f"{tmp}/model"))
        requirements = model / "requirements.txt"
        venv = Path(tmp) / "venv"
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "--python", str(venv / "bin/python"), "-r", requirements], check=True)
        url = f"http://127.0.0.1:{free_port()}"
        env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "MLFLOW_TRACKING_URI": store}
        env.pop("PYTHONPATH", None)
        if args.threads is not None:
            env["TEXT_CLASSIFIER_THREADS"] = str(args.threads)
        own_ms = batch1_ms(venv / "bin/python", model, texts, env)
        with open(Path(tmp) / "serve.log", "w") as log:
            command = [str(venv / "bin/mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
                       "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1], "--workers", str(args.workers)]
            server = subprocess.Popen(command, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        try:
            health = wait_healthy(url, server)
            example = texts[0] if isinstance(texts[0], tuple) else "The striker scored twice in the second half."
            response = post(url, [example])
            results = {clients: load(url, texts, clients, args.seconds, args.texts_per_request)
                       for clients in args.clients}
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        packages = Path(requirements).read_text().split()
    threads = args.threads if args.threads is not None else "default"
    print(f"## Serving the champion over HTTP: a bounded load test (CPU)\n\n`{uri}` from {project}; a fresh "
          f"virtual environment with only the model's requirements ({', '.join(packages)}); `mlflow models serve "
          f"--env-manager local --workers {args.workers}` on 127.0.0.1, ONNX Runtime threads per request: {threads}."
          f"\n\n/health: {health}\n\nRequest: "
          f"`{json.dumps(payload([example]))}`\n\n"
          f"Response: `{json.dumps(response)}`\n\nThe served model's own batch-1 latency, same environment and "
          f"threads: {own_ms} ms\n")
    print("| workers | threads | clients | texts per request | seconds | requests | failed | requests/s | p50 ms | "
          "p99 ms | p50 / own batch 1 |\n|---|---|---|---|---|---|---|---|---|---|---|")
    for clients, (latencies, failures) in results.items():
        latencies.sort()
        p50 = statistics.median(latencies) if latencies else float("nan")
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
        print(f"| {args.workers} | {threads} | {clients} | {args.texts_per_request} | {args.seconds:.0f} | "
              f"{len(latencies)} | {failures} | {len(latencies) / args.seconds:.1f} | {p50:.1f} | {p99:.1f} | "
              f"{p50 / own_ms:.2f}x |")


if __name__ == "__main__":
    main()
