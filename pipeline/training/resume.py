"""Crash-safe training: atomic checkpoint files, mid-epoch resume points, and where a run left off.

An interrupted train stage (SIGKILL, a reboot) keeps its state in .cache/train/<key>/, where <key> hashes
everything the fit depends on, its code included; `dvc repro` runs train again and it carries on from there
(after a code change it starts afresh):

    state.json       MLflow run ids and the settings in force (an out-of-memory retry changes the micro batch)
    round-<i>/       last.ckpt (full state every N optimizer steps), best.ckpt (best validation weights),
                     result.json (written when the round has finished)

A checkpoint is one file, or with DeepSpeed a folder of ZeRO shards (merged into one file by `consolidate`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from pipeline.core import paths
from pipeline.core.atomic import atomic_file, write_json
from pipeline.core.errors import PipelineError

ROOT = Path(".cache/train")
PROJECT = Path(__file__).resolve().parents[2]  # the checkout holding dvc.yaml and the pipeline package
CONSOLIDATED = "consolidated.pt"  # the full weights merged from a DeepSpeed checkpoint's ZeRO shards

# Expected when resuming: the round folder holds the checkpoints being resumed, and the train loader resumes
# mid-epoch itself (EpochSampler), which Lightning cannot see.
warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
warnings.filterwarnings("ignore", message=r"You're resuming from a checkpoint that ended before the epoch ended")


def consolidate(trainer: L.Trainer, path: Path | str) -> None:
    """Make the best checkpoint one file of full weights that every process can read, with all of them.

    FSDP's already is (every process took part in gathering it, state_dict_type="full"), as are DDP's and
    one process's. DeepSpeed writes a folder of ZeRO shards: the main process merges them into CONSOLIDATED
    in that folder (Lightning's convert_zero_checkpoint_to_fp32_state_dict) while the others wait.
    """
    if not Path(path).is_dir():
        return
    if trainer.is_global_zero:
        from lightning.pytorch.utilities.deepspeed import convert_zero_checkpoint_to_fp32_state_dict

        convert_zero_checkpoint_to_fp32_state_dict(path, Path(path) / CONSOLIDATED)
    trainer.strategy.barrier("consolidate")


def load_checkpoint(path: Path | str) -> dict:
    """A checkpoint's tensors and plain values (torch.load with weights_only=True); unreadable is an error.

    A DeepSpeed checkpoint (a folder) is read from the file `consolidate` wrote into it.
    """
    if Path(path).is_dir():
        path = Path(path) / CONSOLIDATED
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, ValueError) as err:  # truncated zip, bad pickle, not a checkpoint
        raise PipelineError("checkpoint-corrupt", f"cannot read checkpoint ({str(err).splitlines()[0]})", str(path),
                            f"delete {Path(path).parent.parent} and run again: train then starts from the "
                            "beginning") from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written atomically (pipeline.core.atomic): a kill mid-write leaves the previous one intact.

    Reading is weights_only (no arbitrary objects).
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        with atomic_file(path, "wb") as handle:
            torch.save(checkpoint, handle)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return load_checkpoint(path)


class ResumeCheckpoint(ModelCheckpoint):
    """The full training state (weights, optimizer, scheduler, loops, callbacks) every N optimizer steps.

    Saved mid-epoch only: at an epoch's last batch Lightning's loop state and the data order of the next
    epoch do not line up on restore, so that point is covered by the previous save.
    """

    def __init__(self, dirpath: Path, every_n_steps: int):
        super().__init__(dirpath=dirpath, filename="last", every_n_train_steps=every_n_steps, save_top_k=1,
                         enable_version_counter=False)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if not trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class ResumePoint(L.Callback):
    """Saves the random number generators with each checkpoint; after a resume, restores them at the
    first batch (so dropout draws what an uninterrupted run would) and records where the run resumed."""

    def __init__(self):
        self.pending: dict | None = None
        self.resumed_at: dict | None = None

    def state_dict(self) -> dict:
        state = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        self.pending = state_dict

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.pending is None:
            return
        torch.set_rng_state(self.pending["torch"])
        if "cuda" in self.pending and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.pending["cuda"])
        self.pending = None
        self.resumed_at = {"global_step": trainer.global_step, "epoch": trainer.current_epoch, "batch": batch_idx}


class ResumeDir:
    """One training run's resumable state under .cache/train/<key>/ (see the module docstring).

    Every process reads it; only the main one (rank 0) writes it.
    """

    def __init__(self, key: str, root: Path = ROOT):
        self.root, self.path = root, root / key
        state = self.path / "state.json"
        self.state: dict = json.loads(state.read_text()) if state.exists() else {}

    @rank_zero_only
    def save_state(self, **values) -> None:
        self.state.update(values)
        write_json(self.path / "state.json", self.state)

    def round_dir(self, index: int) -> Path:
        return self.path / f"round-{index}"

    def last_checkpoint(self, index: int) -> Path | None:
        last = self.round_dir(index) / "last.ckpt"
        return last if last.exists() else None

    def finished(self, index: int) -> dict | None:
        """A finished round's result (with its best weights as `state_dict`), or None."""
        result = self.round_dir(index) / "result.json"
        if not result.exists():
            return None
        summary = json.loads(result.read_text())
        return {**summary, "state_dict": load_checkpoint(self.round_dir(index) / "best.ckpt")["state_dict"]}

    @rank_zero_only
    def finish(self, index: int, summary: dict) -> None:
        write_json(self.round_dir(index) / "result.json", summary)
        last = self.round_dir(index) / "last.ckpt"
        if last.is_dir():  # DeepSpeed's: a folder of shards
            shutil.rmtree(last)
        else:
            last.unlink(missing_ok=True)

    @rank_zero_only
    def restart_round(self, index: int) -> None:
        shutil.rmtree(self.round_dir(index), ignore_errors=True)

    @rank_zero_only
    def clear(self) -> None:
        """The run finished and its model is saved: its checkpoints go (another run's, say a sweep trial
        beside it, stay), and .cache/train too once nothing is left in it."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()


def resume_key(cfg: DictConfig, plan: dict) -> str:
    """A hash of everything the fit depends on: params, plan, processed data, pretrained weights and the
    train stage's code (train_code)."""
    digest = hashlib.sha256(json.dumps([OmegaConf.to_container(cfg, resolve=True), plan["settings"]],
                                       sort_keys=True).encode())
    for path in [*sorted(paths.DATASET.glob("*/state.json")), paths.LABELS, *sorted(paths.PRETRAINED.glob("*.json"))]:
        digest.update(path.read_bytes())
    for path in train_code(PROJECT):
        digest.update(str(path.relative_to(PROJECT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def train_code(project: Path) -> list[Path]:
    """The Python files of the code paths dvc.yaml lists as the train stage's deps (the same that make DVC
    re-run it), in a fixed order."""
    deps = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["train"]["deps"]
    code = [project / dep for dep in deps if dep.startswith("pipeline/")]
    return sorted(file for path in code for file in ([path] if path.is_file() else path.rglob("*.py")))
