"""Bad input stops preprocess with one line (what, where, fix), exit code 2, and no output written."""

import sys

import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import run
from pipeline.errors import PipelineError
from pipeline.stages.preprocess import preprocess

BAD_CSVS = {
    "missing_text_column": ("body,label\nhello,a\nworld,b\n", "text column 'text' not found"),
    "missing_label_column": ("text,topic\nhello,a\nworld,b\n", "label column 'label' not found"),
    "empty_file": ("", "data file is empty"),
    "single_class": ("text,label\n" + "".join(f"text {i},same\n" for i in range(20)), "only one class"),
}


@pytest.fixture
def workdir(tmp_path, monkeypatch, compose):
    monkeypatch.chdir(tmp_path)
    cfg = compose("model=tiny", "data=csv", "data.path=bad.csv")
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(cfg))
    return tmp_path, cfg


@pytest.mark.parametrize("case", sorted(BAD_CSVS))
def test_bad_csv_stops_before_writing_anything(workdir, case):
    path, cfg = workdir
    content, expected = BAD_CSVS[case]
    (path / "bad.csv").write_text(content)
    with pytest.raises(PipelineError, match=expected) as err:
        preprocess(cfg)
    assert "bad.csv" in str(err.value) and "fix:" in str(err.value)
    assert not (path / "data").exists() and not (path / "reports").exists()


def test_stage_command_prints_one_line_and_exits_2(workdir):
    path, _ = workdir
    (path / "bad.csv").write_text(BAD_CSVS["missing_label_column"][0])
    result = run([sys.executable, "-m", "pipeline.stages.preprocess"], path, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error[data-column-missing]: label column 'label' not found")
    assert "data.label_column" in lines[0] and "fix:" in lines[0]


def test_good_csv_processes_with_trained_tokenizer(workdir, small_frame):
    path, cfg = workdir
    small_frame.to_csv(path / "bad.csv", index=False)
    stats = preprocess(cfg)
    assert stats["rows"] == {"train": 160, "validation": 20, "test": 20}
    assert (path / "data/processed/tokenizer/tokenizer.json").exists()
    assert stats["labels"] == sorted(pd.unique(small_frame["label"]))
