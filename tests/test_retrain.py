"""`python -m pipeline.retrain` as a scheduler runs it: first run, nothing to do, new rows, a failed gate.

It trains the lstm baseline, so the same stages are shown to carry a non-transformer model end to end.
"""

import json
import sys

import pytest
from omegaconf import OmegaConf

from conftest import commit_all, metric_keys, run

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
    assert "changed: " in first.stdout and "text-classifier v1: first model that passed the gate" in first.stdout
    assert set(json.loads((project / "reports/metrics.json").read_text())) == metric_keys(
        sorted(first_rows["label"].unique()))
    assert (project / "models/export/model.onnx").exists()

    unchanged = retrain(project)
    assert unchanged.returncode == 0 and "nothing to do" in unchanged.stdout

    new_rows.to_csv(project / "data/news.csv", mode="a", header=False, index=False)
    retrained = retrain(project)
    assert "changed: preprocess" in retrained.stdout
    decision = json.loads((project / "reports/registry.json").read_text())
    assert decision["version"] == 2 and "text-classifier v2" in retrained.stdout
    assert retrained.returncode == (0 if decision["champion"] else 3), retrained.stderr[-2000:]
    assert json.loads((project / "reports/data_stats.json").read_text())["rows"]["train"] == 160

    write_params("eval.gate.threshold=1.0", "refine.max_rounds=0")
    failed = retrain(project)
    assert failed.returncode == 3 and "quality gate failed" in failed.stderr
    changed = next(line for line in failed.stdout.splitlines() if line.startswith("retrain: changed:"))
    assert "train" in changed and "preprocess" not in changed
    assert json.loads((project / "reports/registry.json").read_text())["champion"] is False
    assert (project / "models/export/model.onnx").exists()  # exported for inspection
