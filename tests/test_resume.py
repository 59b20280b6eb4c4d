"""Crash-safe training: an interrupted run resumes from its checkpoint and ends exactly where an
uninterrupted one does; CUDA out of memory shrinks the micro batch (injected on the CPU); checkpoints
are written atomically and a corrupt one is a clear error."""

import importlib.util
import os
import shutil

import lightning as L
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from conftest import train_stage
from pipeline.core import paths
from pipeline.core.errors import PipelineError
from pipeline.training import resume
from pipeline.training.resume import CONSOLIDATED, ROOT, AtomicCheckpointIO, consolidate, load_checkpoint
from pipeline.training.module import TextClassifier

# 160 training rows / global batch 16 = 10 optimizer steps per epoch; a resume point every 3 steps.
TINY = ("gpu=cpu", "model=tiny", "data=csv", "data.path=data.csv", "train.max_epochs=2",
        "train.checkpoint_every_n_steps=3", "eval.gate.threshold=0")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, small_frame):
    path = tmp_path_factory.mktemp("resume")
    small_frame.to_csv(path / "data.csv", index=False)
    return path


@pytest.fixture
def fit(workdir, monkeypatch, compose):
    """fit(*overrides) -> the training summary of train() in the shared workdir."""
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return lambda *overrides: train_stage(compose(*TINY, *overrides), preprocess_cfg=compose(*TINY))


def fail_at(monkeypatch, error: Exception, when):
    """Make training_step raise `error` whenever when(module, batch) is true."""
    step = TextClassifier.training_step

    def failing(self, batch, batch_idx):
        if when(self, batch):
            raise error
        return step(self, batch, batch_idx)

    monkeypatch.setattr(TextClassifier, "training_step", failing)


def outcome(summary):
    """What must not depend on an interruption: the weights, every round's result and every step's loss."""
    curves = [(paths.PLOTS / name).read_text() for name in ("train_loss.csv", "val.csv")]
    weights = (paths.TRAINED / "model.safetensors").read_bytes()
    return weights, [(r["round"], r["score"], r["best_epoch"]) for r in summary["rounds"]], summary["gate"], curves


def test_crash_mid_epoch_resumes_to_the_same_weights_and_metrics(fit, monkeypatch):
    expected = outcome(fit())
    assert not ROOT.exists()  # a finished run leaves no checkpoints behind

    with monkeypatch.context() as patch:
        fail_at(patch, RuntimeError("simulated crash"), lambda module, batch: module.global_step == 14)
        with pytest.raises(RuntimeError, match="simulated crash"):
            fit()
    [last] = ROOT.glob("*/round-0/last.ckpt")
    assert load_checkpoint(last)["global_step"] == 12  # the last resume point before the crash: mid-epoch 1

    resumed = fit()
    assert resumed["rounds"][0]["resumed_at"] == {"global_step": 12, "epoch": 1, "batch": 2}
    assert outcome(resumed) == expected


def test_crash_in_a_refine_round_keeps_the_finished_rounds(fit, monkeypatch):
    refine = ("eval.gate.threshold=1.0", "refine.max_rounds=1", "refine.extra_epochs=1", "train.max_epochs=1")
    expected = outcome(fit(*refine))
    with monkeypatch.context() as patch:  # round 1 starts at the best round-0 epoch's weights; crash at its 5th step
        fail_at(patch, RuntimeError("simulated crash"),
                lambda module, batch: module.hparams.lr < 0.001 and module.global_step == 5)
        with pytest.raises(RuntimeError, match="simulated crash"):
            fit(*refine)
    resumed = fit(*refine)
    assert resumed["rounds"][0]["resumed_at"] is None  # round 0 was read back, not trained again
    assert resumed["rounds"][1]["resumed_at"]["global_step"] == 3
    assert outcome(resumed) == expected
    runs = MlflowClient(f"sqlite:///{os.getcwd()}/mlflow.db").get_run(resumed["rounds"][1]["mlflow_run_id"])
    assert runs.data.tags["refine_round"] == "1"  # the resumed round logged to its own nested run again


def test_a_code_change_after_a_crash_starts_afresh_and_leaves_the_crashed_runs_checkpoints(fit, monkeypatch, tmp_path):
    checkout = tmp_path / "checkout"  # a copy of the code to change: dvc.yaml and the pipeline package
    shutil.copytree(resume.PROJECT / "pipeline", checkout / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(resume.PROJECT / "dvc.yaml", checkout / "dvc.yaml")
    monkeypatch.setattr(resume, "PROJECT", checkout)
    with monkeypatch.context() as patch:
        fail_at(patch, RuntimeError("simulated crash"), lambda module, batch: module.global_step == 14)
        with pytest.raises(RuntimeError, match="simulated crash"):
            fit()
    [crashed] = ROOT.glob("*/round-0/last.ckpt")

    with (checkout / "pipeline/training/module.py").open("a") as handle:
        handle.write("\n# a fix made after the crash\n")
    fresh = fit()
    assert fresh["rounds"][0]["resumed_at"] is None  # trained from the start, not from the old code's checkpoint
    assert crashed.exists() and list(ROOT.iterdir()) == [crashed.parent.parent]  # only its own checkpoints went
    shutil.rmtree(ROOT)


def test_only_code_the_train_stage_runs_is_in_the_resume_key(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "pipeline/training").mkdir(parents=True)
    (checkout / "pipeline/serving").mkdir(parents=True)
    shutil.copy2(resume.PROJECT / "dvc.yaml", checkout / "dvc.yaml")
    for name in ("pipeline/training/fit.py", "pipeline/serving/served.py", "pipeline/stages/train.py"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_text("x = 1\n")
    assert resume.train_code(checkout) == [checkout / "pipeline/stages/train.py", checkout / "pipeline/training/fit.py"]


def test_out_of_memory_halves_the_micro_batch_and_keeps_the_global_batch(fit, monkeypatch, capsys):
    fail_at(monkeypatch, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
            lambda module, batch: len(batch["labels"]) > 4)
    secret_url = "data.path='https://alice:s3cret@data.example.com/news.csv?token=abc123'"  # as train sees it
    summary = fit("train.max_epochs=1", secret_url)
    assert [(a["micro_batch_size"], a["accumulate_grad_batches"]) for a in summary["plan_adjustments"]] == [(8, 2), (4, 4)]
    trained_plan = yaml.safe_load(paths.TRAINED_PLAN.read_text())
    assert trained_plan["settings"]["micro_batch_size"] == 4 and trained_plan["settings"]["accumulate_grad_batches"] == 4
    assert yaml.safe_load(paths.PLAN.read_text())["settings"]["micro_batch_size"] == 16  # resolve's plan as planned
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning[train-oom-retry]")]
    assert len(warnings) == 2 and "global batch 16" in warnings[0]
    run = MlflowClient(f"sqlite:///{os.getcwd()}/mlflow.db").get_run(summary["mlflow_run_id"])
    assert run.data.tags["oom_retries"] == "2" and run.data.tags["trained.micro_batch_size"] == "4"
    assert run.data.params["data/path"] == "https://alice:***@data.example.com/news.csv?token=***"
    assert "s3cret" not in str(run.data) and "abc123" not in str(run.data)


def test_out_of_memory_at_micro_batch_1_gives_up_with_the_fix(fit, monkeypatch):
    fail_at(monkeypatch, torch.OutOfMemoryError("CUDA out of memory"), lambda module, batch: True)
    with pytest.raises(PipelineError, match="at micro batch 1") as err:
        fit("train.max_epochs=1")
    assert err.value.code == "train-out-of-memory" and "max_seq_len" in err.value.fix


def test_corrupt_resume_checkpoint_is_a_clear_error(fit, monkeypatch):
    with monkeypatch.context() as patch:
        fail_at(patch, RuntimeError("simulated crash"), lambda module, batch: module.global_step == 4)
        with pytest.raises(RuntimeError):
            fit("train.max_epochs=1")
    [last] = ROOT.glob("*/round-0/last.ckpt")
    last.write_bytes(last.read_bytes()[:1000])  # truncated
    with pytest.raises(PipelineError, match="cannot read checkpoint") as err:
        fit("train.max_epochs=1")
    assert err.value.code == "checkpoint-corrupt" and err.value.where.endswith(str(last))
    assert f"delete {last.parent.parent}" in err.value.fix
    shutil.rmtree(ROOT)


def test_checkpoint_writes_are_atomic(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "last.ckpt"
    io.save_checkpoint({"step": torch.tensor(1)}, path)
    with pytest.raises(Exception):
        io.save_checkpoint({"step": torch.tensor(2), "unpicklable": lambda: None}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no partial file left behind
    assert io.load_checkpoint(path)["step"] == 1  # the previous checkpoint is intact


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed is installed here")
def test_only_a_deepspeed_checkpoint_folder_is_merged_then_read_from_its_merged_file(tmp_path):
    """DeepSpeed needs CUDA and its package, so its route is followed up to Lightning's merge of the shards."""
    trainer, checkpoint = L.Trainer(accelerator="cpu", logger=False), {"epoch": 3, "state_dict": {"w": torch.ones(2)}}
    full = tmp_path / "best.ckpt"  # FSDP's (gathered by every process), DDP's, one process's
    torch.save(checkpoint, full)
    consolidate(trainer, full)
    assert [path.name for path in tmp_path.iterdir()] == ["best.ckpt"]  # nothing to merge

    shards = tmp_path / "zero"
    shards.mkdir()
    with pytest.raises(ModuleNotFoundError, match="deepspeed"):  # the folder goes to DeepSpeed's merge
        consolidate(trainer, shards)
    torch.save(checkpoint, shards / CONSOLIDATED)  # what the merge writes
    assert load_checkpoint(shards)["epoch"] == 3
