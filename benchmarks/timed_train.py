"""`python -m pipeline.stages.train` with the time spent in each of its features recorded.

    python /path/to/benchmarks/timed_train.py OUT.json      (in a project folder, where DVC runs the stage)

Wraps, without changing what they do, and sums the seconds spent inside: checkpoint writes
(AtomicCheckpointIO.save_checkpoint; `last` = resume checkpoints, `best` = the best epoch's weights), MLflow
metric logging (FallbackMLFlowLogger.log_metrics), the progress bar's (Rich or tqdm) and the curve recorder's
hooks, and
Lightning's sanity validation. Writes {feature: seconds} to OUT.json.
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

TOTALS: dict[str, float] = defaultdict(float)


def timed(owner: type, name: str, key) -> None:
    """Add the seconds each call of owner.name takes to TOTALS[key] (key may be a function of the call's args)."""
    original = getattr(owner, name)

    @wraps(original)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TOTALS[key(*args) if callable(key) else key] += time.perf_counter() - started

    setattr(owner, name, wrapper)


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(Path.cwd()))  # the project's own pipeline package, as `python -m` would import it
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
    from lightning.pytorch.trainer.trainer import Trainer

    from pipeline.tracking.fallback_logger import FallbackMLFlowLogger
    from pipeline.training.curves import CurveRecorder
    from pipeline.training.resume import AtomicCheckpointIO

    timed(AtomicCheckpointIO, "save_checkpoint", lambda io, checkpoint, path, *rest: f"checkpoint {Path(path).stem}")
    timed(FallbackMLFlowLogger, "log_metrics", "MLflow log_metrics")
    for bar in (RichProgressBar, TQDMProgressBar):  # Lightning's default is Rich's when rich is installed
        for hook in ("on_train_batch_end", "on_validation_batch_end", "on_train_batch_start", "on_train_epoch_end",
                     "on_validation_batch_start", "on_train_epoch_start", "on_validation_epoch_end"):
            timed(bar, hook, "progress bar")
    for hook in ("on_train_batch_end", "on_validation_end"):
        timed(CurveRecorder, hook, "curve recorder")
    timed(Trainer, "_run_sanity_check", "sanity validation")
    sys.argv = ["pipeline.stages.train"]
    try:
        runpy.run_module("pipeline.stages.train", run_name="__main__", alter_sys=True)
    finally:
        out.write_text(json.dumps(TOTALS))


if __name__ == "__main__":
    main()
