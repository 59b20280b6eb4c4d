"""A grid of experiments through DVC's own queue: each runs in a temporary copy of the project under .dvc/tmp/exps,
and must still log to the project's MLflow store, under its DVC experiment's name."""

import json
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import commit_all, run

TINY = ["-S", "gpu=cpu", "-S", "model=tiny", "-S", "data=csv", "-S", "data.path=data/small.csv",
        "-S", "data.text_column=body", "-S", "data.label_column=topic", "-S", "train.max_epochs=1",
        "-S", "eval.gate.threshold=0", "-S", "tracking.system_metrics=false"]
TIMEOUT_S = 900


def dvc(project: Path, *args: str) -> str:
    return run([sys.executable, "-m", "dvc", *args], project).stdout


def wait_for_queue(project: Path) -> list[str]:
    """Poll `dvc queue status` until no task is queued or running; returns the tasks' final statuses."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        tasks = [line.split()[-1] for line in dvc(project, "queue", "status").splitlines()[1:] if line.strip()
                 and not line.startswith("Worker status")]
        if not {"Queued", "Running"} & set(tasks):
            return tasks
        time.sleep(3)
    raise AssertionError(f"the queue did not finish in {TIMEOUT_S} s:\n{dvc(project, 'queue', 'status')}")


@pytest.mark.slow
def test_a_queued_grid_runs_in_temporary_copies_and_logs_to_the_projects_store(project, small_frame):
    (project / "data").mkdir()
    small_frame.rename(columns={"text": "body", "label": "topic"}).to_csv(project / "data/small.csv", index=False)
    commit_all(project, "project with a small csv")

    # Up to evaluate (its metrics and the artifacts it logs to the train run); export adds nothing queue-specific.
    queued = dvc(project, "exp", "run", "--queue", "evaluate", *TINY, "-S", "train.lr=1e-3,2e-3")
    assert queued.count("Queued experiment") == 2
    try:
        dvc(project, "queue", "start", "-j", "1")
        assert wait_for_queue(project) == ["Success", "Success"], dvc(project, "queue", "status")
    finally:
        run([sys.executable, "-m", "dvc", "queue", "stop", "--kill"], project, check=False)

    shown = json.loads(dvc(project, "exp", "show", "--json"))
    experiments = {rev["name"]: rev["data"] for baseline in shown for exp in baseline.get("experiments") or []
                   for rev in exp["revs"]}
    assert {data["params"]["params.yaml"]["data"]["train"]["lr"] for data in experiments.values()} == {1e-3, 2e-3}
    assert all("test/f1_macro" in data["metrics"]["reports/metrics.json"]["data"] for data in experiments.values())

    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("text-classification")
    runs = client.search_runs([experiment.experiment_id], "tags.stage = 'train'")
    assert {r.info.run_name for r in runs} == set(experiments)  # the train runs are named after the DVC experiments
    assert {r.data.tags["dvc_experiment"] for r in runs} == set(experiments)
    for tracked in runs:  # artifacts evaluate logged are in the project, not in the deleted temporary copy
        assert tracked.info.artifact_uri.startswith(str(project / "mlruns"))
        logged = [item.path for item in client.list_artifacts(tracked.info.run_id, "evaluation")]
        assert "evaluation/errors.csv" in logged
        assert (Path(tracked.info.artifact_uri) / "evaluation/errors.csv").is_file()
