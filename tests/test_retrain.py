"""`python -m pipeline.retrain` as a scheduler runs it: nothing to do, then new data, then a failed gate."""

import json
import sys

import pytest

from conftest import commit_all, run

# Each test runs the whole pipeline two or three times (about 3-4 minutes each here): `make test-all`.
pytestmark = pytest.mark.slow

SETTINGS = ["-S", "gpu=cpu", "-S", "model=tiny", "-S", "data=csv", "-S", "data.path=data/news.csv",
            "-S", "train.max_epochs=1", "-S", "eval.gate.threshold=0"]


def test_retrain_skips_unchanged_data_and_retrains_on_new_rows(project, small_frame):
    (project / "data").mkdir()
    first, extra = small_frame.iloc[:150], small_frame.iloc[150:]
    first.to_csv(project / "data/news.csv", index=False)
    commit_all(project)
    run([sys.executable, "-m", "dvc", "exp", "run", *SETTINGS], project)

    unchanged = run([sys.executable, "-m", "pipeline.retrain"], project)
    assert "nothing to do" in unchanged.stdout

    extra.to_csv(project / "data/news.csv", mode="a", header=False, index=False)
    retrained = run([sys.executable, "-m", "pipeline.retrain"], project, check=False)
    assert "changed: preprocess" in retrained.stdout
    assert retrained.returncode in (0, 3), retrained.stderr[-2000:]
    assert "text-classifier v2" in retrained.stdout
    assert json.loads((project / "reports/data_stats.json").read_text())["rows"]["train"] == 160


def test_retrain_exits_3_when_the_gate_fails(project, small_frame):
    (project / "data").mkdir()
    small_frame.to_csv(project / "data/news.csv", index=False)
    commit_all(project)
    settings = [arg if arg != "eval.gate.threshold=0" else "eval.gate.threshold=1.01" for arg in SETTINGS]
    settings += ["-S", "refine.max_rounds=0"]
    failed = run([sys.executable, "-m", "dvc", "exp", "run", *settings], project, check=False)
    assert failed.returncode != 0 and "quality gate failed" in failed.stderr
    assert (project / "models/export/model.onnx").exists()  # exported for inspection
    result = run([sys.executable, "-m", "pipeline.retrain"], project, check=False)
    assert result.returncode == 3 and "quality gate failed" in result.stderr
