"""Every command works from any directory, and `--help` prints its usage without doing any work."""

import importlib.util
import subprocess
import sys

import pytest

from conftest import ROOT

COMMANDS = ["pipeline", "pipeline.plan", "pipeline.advise", "pipeline.predict", "pipeline.retrain", "pipeline.sweep",
            *(f"pipeline.stages.{path.stem}" for path in sorted((ROOT / "pipeline/stages").glob("[a-z]*.py")))]


def test_help_prints_the_usage_and_does_nothing_else(tmp_path):
    running = {name: subprocess.Popen([sys.executable, "-m", name, "--help"], cwd=tmp_path, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name in COMMANDS}
    for name, process in running.items():
        out, err = process.communicate(timeout=300)
        module = f"{name}.__main__" if name == "pipeline" else name
        first_line = importlib.util.find_spec(module).loader.get_source(module).split('"""')[1].splitlines()[0]
        assert process.returncode == 0, f"{name} --help: {err[-2000:]}"
        assert out.startswith(first_line), f"{name} --help printed {out[:200]!r}"
    assert list(tmp_path.iterdir()) == [], "a --help wrote files"


@pytest.mark.parametrize("command", [["pipeline.plan", "gpu=rtx3090", "model=bert"], ["pipeline.advise", "model=tiny"]])
def test_plan_and_advise_work_outside_the_project(tmp_path, command):
    result = subprocess.run([sys.executable, "-m", *command], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rtx3090" in result.stdout
