"""Data parallel training on the CPU: `python -m pipeline.stages.train` with strategy=ddp on 2 gloo processes
(started by Lightning, then by torchrun) ends where one process does.

Without dropout the runs compute the same gradients: at each optimizer step the 2 processes together train
on exactly the 8 examples one process would (EpochSampler shards every step), and DDP averages their
gradients. Only the order of floating-point sums differs, hence the small tolerance.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from safetensors.torch import load_file
from transformers import AutoModelForSequenceClassification

from conftest import ROOT, resolve_stage, run, train_stage
from pipeline.core import paths
from pipeline.config.compose import compose_config
from pipeline.core.errors import PipelineError
from pipeline.training.strategy import check_launcher

# 160 training rows / global batch 8 = 20 optimizer steps per epoch (the file's split column fixes the sizes: a
# last short batch would be padded for the second process); no dropout, so only float sums differ.
TINY = ["gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "data.split_column=split", "model.max_seq_len=64",
        "train.max_epochs=5",
        "train.global_batch_size=8", "eval.gate.threshold=0", "+model.arch.config.hidden_dropout_prob=0.0",
        "+model.arch.config.attention_probs_dropout_prob=0.0"]
DDP = ["strategy=ddp", "strategy.devices=2"]
# Absolute: best validation macro F1, largest weight difference. Adam can turn a float-level gradient difference
# into a step of up to about the learning rate (1e-3 for tiny), so weights may drift apart by about that much.
TOLERANCE = {"val/f1": 1e-6, "weights": 2e-3}
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def plan_for(*overrides) -> dict:
    """Write params.yaml and the plan resolve would write for these overrides (in the working directory)."""
    cfg = compose_config([*TINY, *overrides], conf_dir=ROOT / "conf")
    OmegaConf.save(cfg, "params.yaml")
    return resolve_stage(cfg)


def outcome(summary: dict) -> tuple[dict, dict]:
    """The training summary and the saved weights, once the saved model reloads with every weight of its config
    at full size; models/trained is removed for the next run."""
    _, loading = AutoModelForSequenceClassification.from_pretrained(paths.TRAINED, output_loading_info=True)
    assert not any(loading.values()), loading  # no missing, unexpected (flattened, sharded) or mismatched weights
    weights = load_file(paths.TRAINED / "model.safetensors")
    shutil.rmtree(paths.TRAINED)
    return summary, weights


def train_subprocess(*launcher: str) -> tuple[dict, dict]:
    result = run([*launcher, "-m", "pipeline.stages.train"], Path.cwd())
    assert result.stdout.count("train: best") == 1, result.stdout  # only the main process reports (and writes)
    return outcome(json.loads(paths.TRAINING_SUMMARY.read_text()))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, small_frame):
    path = tmp_path_factory.mktemp("ddp")
    place = small_frame.groupby("label").cumcount()  # 40 rows a class: 32 train, 4 validation, 4 test
    splits = place.map(lambda i: "train" if i < 32 else "validation" if i < 36 else "test")
    small_frame.assign(split=splits).to_csv(path / "data.csv", index=False)
    (path / "conf").symlink_to(ROOT / "conf")
    return path


@pytest.fixture
def single(workdir, monkeypatch):
    """One process, in-process: the reference run."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    summary = train_stage(compose_config(TINY, conf_dir=ROOT / "conf"))
    assert summary["val/f1"] > 0.5  # it learned: the comparison below means something
    return outcome(summary)


def assert_same_training(single, parallel):
    (summary, weights), (other, other_weights) = single, parallel
    assert abs(other["val/f1"] - summary["val/f1"]) <= TOLERANCE["val/f1"], (summary["val/f1"], other["val/f1"])
    assert other["best_epoch"] == summary["best_epoch"]
    shapes = [{key: value.shape for key, value in saved.items()} for saved in (weights, other_weights)]
    assert shapes[0] == shapes[1]
    largest = max(float((weights[key] - other_weights[key]).abs().max()) for key in weights)
    assert largest <= TOLERANCE["weights"], largest
    print(f"largest weight difference {largest:.2e}, val/f1 {summary['val/f1']} and {other['val/f1']}")


def test_ddp_on_two_processes_matches_one_process(single):
    plan = plan_for(*DDP)
    assert plan["settings"]["strategy"] == "ddp" and plan["settings"]["devices"] == 2
    assert plan["settings"]["micro_batch_size"] == 4  # global batch 8 over 2 processes
    assert_same_training(single, train_subprocess(sys.executable))  # Lightning starts the second process

    assert_same_training(single, train_subprocess(*TORCHRUN))


@pytest.mark.parametrize("launcher, environment", [
    ("torchrun", {"TORCHELASTIC_RUN_ID": "none", "RANK": "0", "GROUP_RANK": "0", "LOCAL_RANK": "0",
                  "LOCAL_WORLD_SIZE": "2", "WORLD_SIZE": "2"}),
    ("SLURM", {"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "train", "SLURM_PROCID": "0", "SLURM_LOCALID": "0"}),
])
def test_a_launcher_starting_another_process_count_than_the_plan_is_refused(monkeypatch, launcher, environment):
    """The variables torchrun and srun set for their processes (as the environment Lightning reads them from)."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = {"devices": 4, "num_nodes": 1}
    with pytest.raises(PipelineError, match=f"{launcher} started 2 process.* over 4") as err:
        check_launcher(settings)
    assert err.value.code == "train-launcher-mismatch"
    check_launcher({"devices": 1, "num_nodes": 2})  # 2 nodes of 1 process each: what was started
