"""The schema of params.yaml: every conf/ option passes; a bad value stops with one line naming the key and the fix."""

import sys

import pytest
from omegaconf import DictConfig, OmegaConf

from conftest import ROOT, run
from pipeline.core.errors import PipelineError
from pipeline.config.schema import validate

# The pipeline's groups: those config.yaml's defaults list names (conf/sweep is pipeline.sweep's, tested below)
PIPELINE_GROUPS = {name for entry in OmegaConf.load(ROOT / "conf/config.yaml").defaults if isinstance(entry, DictConfig)
                   for name in entry}
GROUPS = {group.name: sorted(path.stem for path in group.glob("*.yaml"))
          for group in sorted((ROOT / "conf").iterdir()) if group.name in PIPELINE_GROUPS}
# Every option of every group at least once, in as few compositions as the largest group has options.
COMBINATIONS = [[f"{group}={options[i % len(options)]}" for group, options in GROUPS.items()]
                for i in range(max(map(len, GROUPS.values())))]

# overrides: (error code, the key it names, part of the fix)
BAD = {
    ("train.global_batch_size=abc",): ("config-wrong-type", "train.global_batch_size", "an integer"),
    ("train.max_epochs=abc",): ("config-out-of-range", "train.max_epochs", "-S train.max_epochs=auto"),
    ("train.max_epochs=0",): ("config-out-of-range", "train.max_epochs", "an integer >= 1, e.g. -S train.max_epochs=3"),
    ("data.labels=abc",): ("config-wrong-type", "data.labels", "a list of strings"),
    ("+train.max_epoch=3",): ("config-unknown-key", "train.max_epoch", "did you mean train.max_epochs?"),
    ("train.max_epoch=3",): ("config-unknown-key", "train.max_epoch", "did you mean train.max_epochs?"),
    ("+trian.max_epochs=3",): ("config-unknown-key", "trian", "did you mean train?"),
    ("+model.arch.num_head=4",): ("config-unknown-key", "model.arch.num_head", "did you mean model.arch.num_heads?"),
    ("data.revision=main",): ("config-unknown-key", "data.revision", "-S +data.revision="),  # bbc_news has none
    ("+data.max_tokens_per_character=3.0",): ("config-unknown-key", "data.max_tokens_per_character",
                                              "remove it; data.max_fragment_share and data.max_tokens_per_word"),
    ("data.val_size=1.5",): ("config-out-of-range", "data.val_size", "> 0 and < 1"),
    ("data.val_size=0.5", "data.test_size=0.5"): ("config-out-of-range", "data.val_size", "sum below 1"),
    ("train.global_batch_size=0",): ("config-out-of-range", "train.global_batch_size", ">= 1"),
    ("train.warmup_ratio=1.0",): ("config-out-of-range", "train.warmup_ratio", ">= 0 and < 1"),
    ("eval.gate.threshold=1.5",): ("config-out-of-range", "eval.gate.threshold", ">= 0 and <= 1"),
    ("finetune.mode=sideways",): ("config-out-of-range", "finetune.mode", "full, head_only, lora"),
    ("train.compile=maybe",): ("config-out-of-range", "train.compile", "auto, true, false"),
    ("train.max_epochs=null",): ("config-missing-value", "train.max_epochs", "-S train.max_epochs="),
    ("~train.lr",): ("config-missing-value", "train.lr", "-S train.lr="),
    ("finetune.mode=lora",): ("config-missing-value", "finetune.r", "-S finetune=lora"),
    ("model=bert", "model.max_seq_len=1024"): ("seq-len-too-long", "model.max_seq_len",
                                                "-S model.max_seq_len=512 or less"),
}


@pytest.mark.parametrize("overrides", COMBINATIONS, ids=" ".join)
def test_every_conf_option_composes_and_validates(compose, overrides):
    compose(*overrides)  # compose_config validates what it composes


def test_committed_params_yaml_validates():
    validate(OmegaConf.load(ROOT / "params.yaml"))


@pytest.mark.parametrize("overrides", list(BAD), ids=" ".join)
def test_bad_value_names_its_key_and_the_fix(compose, overrides):
    code, key, fix = BAD[overrides]
    with pytest.raises(PipelineError) as err:
        compose(*overrides)
    assert err.value.code == code
    assert err.value.where.startswith(f"params.yaml {key}")
    assert fix in err.value.fix


def test_only_the_given_sections_are_checked(compose):
    cfg = compose()
    cfg.train.max_epochs = "abc"
    validate(cfg, ["data", "model", "seed"])
    with pytest.raises(PipelineError, match=r"train.max_epochs is 'abc', must be auto or an integer >= 1"):
        validate(cfg, ["train"])
    cfg.train.max_epochs, cfg.eval.gate.threshold = 3, 1.5
    validate(cfg, ["train"])
    with pytest.raises(PipelineError, match=r"eval.gate.threshold is 1.5, must be auto or a number >= 0 and <= 1"):
        validate(cfg, ["eval"])


def test_interpolations_are_resolved_before_checking():
    cfg = OmegaConf.load(ROOT / "params.yaml")
    cfg.train.lr = "${finetune.lr}"
    validate(cfg, ["train"])
    cfg.finetune.lr = -1
    with pytest.raises(PipelineError, match=r"train\.lr is -1"):
        validate(cfg, ["train"])


def test_a_stage_given_a_bad_value_prints_one_line_exits_2_and_writes_nothing(compose, tmp_path):
    cfg = compose()
    cfg.train.global_batch_size = "abc"  # what `dvc exp run -S train.global_batch_size=abc` writes
    (tmp_path / "params.yaml").write_text(OmegaConf.to_yaml(cfg))
    result = run([sys.executable, "-m", "pipeline.stages.resolve"], tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error[config-wrong-type]: train.global_batch_size is 'abc', expected an integer "
        "[params.yaml train.global_batch_size] -> fix: set train.global_batch_size to an integer"]
    assert [path.name for path in tmp_path.iterdir()] == ["params.yaml"]


def test_loading_params_does_not_import_torch():
    check = "import sys, pipeline.config.params; assert 'torch' not in sys.modules"
    run([sys.executable, "-c", check], ROOT)


@pytest.mark.parametrize("name", sorted(path.stem for path in (ROOT / "conf/sweep").glob("*.yaml")))
def test_every_shipped_search_space_composes(name):
    from pipeline.sweep import checked_arguments

    checked_arguments([f"sweep={name}"], ROOT / "conf")  # raises on a key or value the pipeline's config refuses
