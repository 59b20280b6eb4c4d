"""The MLflow UI link the pipeline prints, opened as a user opens it: a real `mlflow server` and headless
Chromium (Debian's package, which `make test` installs), the page's DOM after its scripts ran."""

import re
import shutil
import subprocess

from mlflow import MlflowClient

from conftest import running_mlflow_server
from pipeline.tracking.store import experiment_id, ui_link

RUN_NAME = "train-zebra"  # a run name no other text on the page contains


def rendered(url: str, profile) -> tuple[str, str]:
    """The page's title and visible text once MLflow's scripts have rendered it (a fresh browser profile)."""
    chromium = shutil.which("chromium")
    assert chromium, "no chromium on PATH: `make test` installs Debian's package (apt-get install chromium)"
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
                          "--virtual-time-budget=20000", "--dump-dom", url],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    title = re.search(r"<title>([^<]*)</title>", dom)[1]
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", dom, flags=re.S)
    return title, " ".join(text.split())


def test_the_printed_link_opens_the_runs_view_where_the_experiment_tag_alone_does_not(tmp_path):
    with running_mlflow_server(tmp_path) as server:
        client = MlflowClient(server["url"])
        experiment = experiment_id(client, "text-classification")  # as train makes it, with its kind tag
        run = client.create_run(experiment, run_name=RUN_NAME)
        client.log_metric(run.info.run_id, "val/f1", 0.9)
        client.set_terminated(run.info.run_id)

        title, text = rendered(ui_link(server["url"], experiment), tmp_path / "first")
        plain_title, plain_text = rendered(f"{server['url']}/#/experiments/{experiment}", tmp_path / "second")

    assert title.startswith(f"Runs - Experiment {experiment}")  # the model-training view: the runs table
    assert RUN_NAME in text and "Model registry" in text
    # Without ?workflowType a new browser opens the GenAI overview, the tag notwithstanding (README says so)
    assert plain_title.startswith(f"Overview - Experiment {experiment}")
    assert RUN_NAME not in plain_text and "Traces" in plain_text
