"""`python -m pipeline.retrain` as a scheduler runs it: first run, nothing to do, new rows, a failed gate.

It trains the lstm baseline, so the same stages are shown to carry a non-transformer model end to end.
"""

import json
import sys

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import commit_all, metric_keys, run

NAME = "text-classifier-csv-news"
SETTINGS = ["gpu=cpu", "model=lstm", "data=csv", "data.path=data/news.csv", "train.max_epochs=1",
            "eval.gate.threshold=0"]


def retrain(project):
    return run([sys.executable, "-m", "pipeline.retrain"], project, check=False)


@pytest.mark.slow  # 3.5 min: `make test-fast` skips it
def test_retrain_runs_only_when_data_or_params_change_and_exits_with_its_codes(project, small_frame, compose):
    def write_params(*overrides):  # what `dvc exp run -S ...` would write; retrain runs `dvc repro` on it
        (project / "params.yaml").write_text(OmegaConf.to_yaml(compose(*SETTINGS, *overrides)))

    (project / "data").mkdir()
    first_rows, new_rows = small_frame.iloc[:150], small_frame.iloc[150:]
    first_rows.to_csv(project / "data/news.csv", index=False)
    write_params()
    commit_all(project)

    first = retrain(project)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "changed: " in first.stdout and "text-classifier-csv-news v1: first model that passed the gate" in first.stdout
    assert set(json.loads((project / "reports/metrics.json").read_text())) == metric_keys(
        sorted(first_rows["label"].unique()))
    assert (project / "models/export/model.onnx").exists()

    unchanged = retrain(project)
    assert unchanged.returncode == 0 and "nothing to do" in unchanged.stdout

    new_rows.to_csv(project / "data/news.csv", mode="a", header=False, index=False)
    retrained = retrain(project)
    assert "changed: preprocess" in retrained.stdout
    decision = json.loads((project / "reports/registry.json").read_text())
    assert decision["version"] == 2 and "text-classifier-csv-news v2" in retrained.stdout
    assert retrained.returncode == (0 if decision["champion"] else 3), retrained.stderr[-2000:]
    assert json.loads((project / "reports/data_stats.json").read_text())["rows"] == \
        {"train": 159, "validation": 23, "test": 18}  # hash buckets of the 200 rows at seed 42: about 80/10/10
    # The rows of the first file kept their splits, so v1 trained on none of the new test rows: all 18 compared.
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert (metrics["champion/version"], metrics["champion/compared_rows"], metrics["champion/trained_on_rows"]) == \
        (1.0, 18.0, 0.0)
    assert "on the same 18 test rows, none of which v1 trained on" in \
        (project / "models/export/README.md").read_text()

    # Only evaluate's plot is gone: evaluate re-runs, the training run is not registered again, and the decision
    # is this run's (export re-ran with the new champion score, or did not run at all), never the stale file's.
    registry = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    versions = len(registry.search_model_versions(f"name='{NAME}'"))
    (project / "reports/plots/confusion.csv").unlink()
    rescored = retrain(project)
    assert rescored.returncode == 0, rescored.stdout[-2000:] + rescored.stderr[-2000:]
    assert ("nothing new registered" in rescored.stdout) != ("v2: already the champion" in rescored.stdout)
    assert len(registry.search_model_versions(f"name='{NAME}'")) == versions

    write_params("eval.gate.threshold=1.0", "refine.max_rounds=0")
    failed = retrain(project)
    assert failed.returncode == 3 and "quality gate failed" in failed.stderr
    changed = next(line for line in failed.stdout.splitlines() if line.startswith("retrain: changed:"))
    assert "train" in changed and "preprocess" not in changed
    assert json.loads((project / "reports/registry.json").read_text())["champion"] is False
    assert (project / "models/export/model.onnx").exists()  # exported for inspection

    # The same failed gate again with nothing changed: only export re-runs (DVC never recorded it), the
    # training run is registered already, and the exit code is 3 again.
    versions = len(registry.search_model_versions(f"name='{NAME}'"))
    failed_again = retrain(project)
    assert failed_again.returncode == 3 and "quality gate failed" in failed_again.stderr
    assert "retrain: changed: export" in failed_again.stdout
    assert len(registry.search_model_versions(f"name='{NAME}'")) == versions

    # Errors exit 1 with DVC's own message, never a traceback.
    (project / "data/news.csv").unlink()
    broken = retrain(project)
    assert broken.returncode == 1 and "failed to reproduce 'preprocess'" in broken.stderr
    assert "retrain: error: dvc repro exited" in broken.stderr and "Traceback" not in broken.stderr
    (project / "dvc.yaml").write_text("stages: [\n")
    unreadable = retrain(project)
    assert unreadable.returncode == 1 and "retrain: error: `dvc status` failed" in unreadable.stderr
    assert "dvc.yaml" in unreadable.stderr and "Traceback" not in unreadable.stderr
