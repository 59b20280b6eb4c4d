"""params.yaml is the composition of conf/ defaults; overrides compose as DVC would."""

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import ROOT
from pipeline.core.errors import PipelineError
from pipeline.config.params import load_params


def test_params_yaml_is_the_composed_default(compose):
    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert committed == OmegaConf.to_container(compose()), \
        "params.yaml drifted from conf/: regenerate it with `python -m pipeline.config.compose`"


def test_model_override_changes_model_and_its_learning_rate(compose):
    cfg = compose("model=tiny", "train.max_epochs=1")
    assert cfg.model.source == "scratch"
    assert cfg.train.lr == cfg.model.lr == 1e-3
    assert cfg.train.max_epochs == 1


def test_csv_data_watches_the_file_it_reads(compose):
    cfg = compose("data=csv", "data.path=mine.csv")
    assert cfg.data.watch == "mine.csv"


def test_unknown_group_option_is_rejected_with_the_choices(compose):
    with pytest.raises(PipelineError, match="unknown option 'nope' for config group 'model'.*minilm"):
        compose("model=nope")


def test_load_params_checks_the_sections_it_returns(compose, tmp_path):
    cfg = compose()
    cfg.data.val_size = 1.5
    path = tmp_path / "params.yaml"
    path.write_text(OmegaConf.to_yaml(cfg))
    assert load_params("train", path=path).train.max_epochs == cfg.train.max_epochs
    with pytest.raises(PipelineError, match=r"data.val_size is 1.5.*params.yaml data.val_size"):
        load_params("data", path=path)
