"""A bounded load test of the registered champion served by `mlflow models serve` on 127.0.0.1.

    cd benchmarks && ../.venv/bin/python serve_load.py PROJECT [--clients 4] [--seconds 30] [--texts-per-request 1]

PROJECT is a project folder after `dvc repro` (its mlflow.db holds the champion; reports/registry.json
names it). As a user would deploy it: a fresh virtual environment (uv) with only the model's own
requirements.txt, `mlflow models serve -m models:/NAME@champion --env-manager local`, then --clients
threads each sending one request at a time (BBC test texts, `dataframe_split`) for --seconds. Prints the
/health answer, one request and its response, and p50/p99 latency, requests/s and failed requests.
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

from pipeline.data.loader import split_texts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(url: str, texts: list[str]) -> dict:
    body = json.dumps({"dataframe_split": {"columns": ["text"], "data": [[text] for text in texts]}}).encode()
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


def load(url: str, texts: list[str], clients: int, seconds: float, per_request: int) -> tuple[list[float], int]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--texts-per-request", type=int, default=1)
    args = parser.parse_args()
    project = args.project.resolve()
    os.chdir(project)
    store = f"sqlite:///{project / 'mlflow.db'}"
    name = json.loads(Path("reports/registry.json").read_text())["model_name"]
    uri = f"models:/{name}@champion"
    texts = split_texts("test")
    mlflow.set_tracking_uri(store)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        requirements = mlflow.artifacts.download_artifacts(f"{uri}/requirements.txt", dst_path=tmp)
        venv = Path(tmp) / "venv"
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "--python", str(venv / "bin/python"), "-r", requirements], check=True)
        url = f"http://127.0.0.1:{free_port()}"
        env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "MLFLOW_TRACKING_URI": store}
        env.pop("PYTHONPATH", None)
        with open(Path(tmp) / "serve.log", "w") as log:
            server = subprocess.Popen([str(venv / "bin/mlflow"), "models", "serve", "-m", uri, "--env-manager", "local",
                                       "-h", "127.0.0.1", "-p", url.rsplit(":", 1)[1]], cwd=tmp, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        try:
            health = wait_healthy(url, server)
            example = "The striker scored twice in the second half."
            response = post(url, [example])
            latencies, failures = load(url, texts, args.clients, args.seconds, args.texts_per_request)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        packages = Path(requirements).read_text().split()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    print(f"## Serving the champion over HTTP: a bounded load test (CPU)\n\n`{uri}` from {project}; a fresh "
          f"virtual environment with only the model's requirements ({', '.join(packages)}); `mlflow models serve "
          f"--env-manager local` (1 worker) on 127.0.0.1.\n\n/health: {health}\n\nRequest: "
          f"`{{\"dataframe_split\": {{\"columns\": [\"text\"], \"data\": [[\"{example}\"]]}}}}`\n\n"
          f"Response: `{json.dumps(response)}`\n")
    print("| clients | texts per request | seconds | requests | failed | requests/s | p50 ms | p99 ms |\n"
          "|---|---|---|---|---|---|---|---|")
    print(f"| {args.clients} | {args.texts_per_request} | {args.seconds:.0f} | {len(latencies)} | {failures} | "
          f"{len(latencies) / args.seconds:.1f} | {statistics.median(latencies):.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
