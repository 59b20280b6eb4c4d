"""Fully sharded data parallel on the CPU: `python -m pipeline.stages.train` with strategy=fsdp on 2 gloo
processes saves the full weights and ends where one process does, within test_ddp's tolerance.

FSDP computes what DDP does (the gradients averaged over the processes, each updating its shard of the
weights), so test_ddp's reasoning and tolerance hold. Every process takes part in gathering each
checkpoint's full weights; each round trains a fresh copy of the model, so a refinement round wraps it again.
"""

import sys

import pytest

from test_ddp import assert_same_training, plan_for, single, train_subprocess, workdir  # noqa: F401 (fixtures)

FSDP = ["strategy=fsdp", "strategy.devices=2"]
REFINE = ["train.max_epochs=1", "eval.gate.threshold=1.0", "refine.max_rounds=1", "refine.extra_epochs=1"]


@pytest.mark.slow
def test_fsdp_on_two_processes_saves_full_weights_that_match_one_process(single):
    plan = plan_for(*FSDP)
    assert (plan["settings"]["strategy"], plan["settings"]["fsdp_sharding"]) == ("fsdp", "FULL_SHARD")
    assert plan["settings"]["micro_batch_size"] == 4  # global batch 8 over 2 processes
    assert_same_training(single, train_subprocess(sys.executable))  # outcome() reloads the saved model whole

    plan_for(*FSDP, *REFINE)
    summary, _ = train_subprocess(sys.executable)
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
