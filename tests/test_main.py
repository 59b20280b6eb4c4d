"""`python -m pipeline ...` is a thin translation to `dvc exp run -S ...`."""

import sys

import pytest

from conftest import ROOT
from pipeline.__main__ import dvc_command
from pipeline.errors import PipelineError


def test_overrides_become_set_params_and_flags_pass_through():
    command = dvc_command(["model=tiny", "train.max_epochs=1", "--name", "quick"], ROOT / "conf")
    assert command == [sys.executable, "-m", "dvc", "exp", "run",
                       "-S", "model=tiny", "-S", "train.max_epochs=1", "--name", "quick"]


def test_unknown_group_option_names_the_group_and_the_choices():
    with pytest.raises(PipelineError) as err:
        dvc_command(["model=nope"], ROOT / "conf")
    message = str(err.value)
    assert "model" in message and "nope" in message and "minilm" in message and "tiny" in message
