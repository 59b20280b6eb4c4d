"""`python -m pipeline ...` is a thin translation to `dvc exp run -S ...`, after validating the overrides."""

import sys

import pytest

from conftest import ROOT, run
from pipeline.__main__ import dvc_command
from pipeline.core.errors import PipelineError


def test_overrides_become_set_params_and_flags_pass_through():
    command = dvc_command(["model=tiny", "train.max_epochs=1", "--name", "quick"], ROOT / "conf")
    assert command == [sys.executable, "-m", "dvc", "exp", "run",
                       "-S", "model=tiny", "-S", "train.max_epochs=1", "--name", "quick"]


def test_unknown_group_option_names_the_group_and_the_choices():
    with pytest.raises(PipelineError) as err:
        dvc_command(["model=nope"], ROOT / "conf")
    message = str(err.value)
    assert "model" in message and "nope" in message and "minilm" in message and "tiny" in message


def test_a_bad_value_fails_before_dvc_runs():
    with pytest.raises(PipelineError) as err:
        dvc_command(["model=tiny", "train.global_batch_size=abc"], ROOT / "conf")
    assert err.value.code == "config-wrong-type" and "train.global_batch_size" in err.value.where


def test_front_end_error_is_one_line_and_exit_code_2(tmp_path):
    (tmp_path / "conf").symlink_to(ROOT / "conf")
    result = run([sys.executable, "-m", "pipeline", "train.max_epoch=3"], tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error[config-unknown-key]: unknown key train.max_epoch [params.yaml train.max_epoch] "
        "-> fix: did you mean train.max_epochs?"]
