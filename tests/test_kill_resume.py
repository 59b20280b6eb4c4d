"""SIGKILL `dvc repro` while train is mid-epoch; the next `dvc repro` resumes from the last checkpoint and
ends with the same weights and test metrics as the uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

from omegaconf import OmegaConf

from conftest import ROOT, commit_all, run, tool_env
from pipeline.config.compose import compose_config

# 160 training rows / global batch 16 = 10 optimizer steps per epoch; a resume point every 3 steps (never at
# an epoch's end), so a checkpoint exists from step 3 on and every one of them is mid-epoch.
OVERRIDES = ["gpu=cpu", "model=tiny", "data=csv", "data.path=data/small.csv", "train.max_epochs=3",
             "train.checkpoint_every_n_steps=3", "eval.gate.threshold=0"]


def kill_when_checkpointed(project, timeout_s: float = 300) -> None:
    """Run `dvc repro -f -s train`, SIGKILL its whole process group once a resume checkpoint exists."""
    process = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "-f", "-s", "train"], cwd=project,
                               env=tool_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while not list((project / ".cache/train").glob("*/round-0/last.ckpt")):
        assert process.poll() is None, f"train ended ({process.returncode}) before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint written"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_sigkill_mid_epoch_then_dvc_repro_resumes_to_the_same_result(project, small_frame):
    (project / "data").mkdir()
    small_frame.to_csv(project / "data/small.csv", index=False)
    cfg = compose_config(OVERRIDES, conf_dir=ROOT / "conf")
    (project / "params.yaml").write_text(OmegaConf.to_yaml(cfg))
    commit_all(project)

    run([sys.executable, "-m", "dvc", "repro", "evaluate"], project)  # uninterrupted
    metrics = (project / "reports/metrics.json").read_text()
    weights = (project / "models/trained/model.safetensors").read_bytes()

    kill_when_checkpointed(project)
    assert not (project / "models/trained").exists()  # DVC removed the stage's outputs before it ran
    (project / "reports/metrics.json").unlink()  # so evaluate must run again, on the resumed model

    resumed = run([sys.executable, "-m", "dvc", "repro", "evaluate"], project)
    assert "train: resuming the interrupted run" in resumed.stdout
    summary = json.loads((project / "models/trained/training.json").read_text())
    resumed_at = summary["rounds"][0]["resumed_at"]
    assert resumed_at["global_step"] > 0 and 0 < resumed_at["batch"] < 10, resumed_at  # mid-epoch
    assert (project / "models/trained/model.safetensors").read_bytes() == weights
    assert (project / "reports/metrics.json").read_text() == metrics
    assert not (project / ".cache/train").exists()  # checkpoints removed once the model was saved
