"""`python -m pipeline.retrain`: scheduled retraining, for cron, systemd timers and CI.

Checks with `dvc status` whether data, params or code changed since the last run; if so runs
`dvc repro` (train -> evaluate -> export, which registers and maybe promotes the model).

Exit codes: 0 nothing to do, or a new champion was promoted; 3 retrained but not promoted
(the quality gate failed, or the model did not beat the champion); 1 any other error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from pipeline.core import paths
from pipeline.core.errors import PipelineError, run_main
from pipeline.core.interpreter import with_interpreter_on_path
from pipeline.core.outputs import read_json, training_summary
from pipeline.evaluation import gate

NOTHING_TO_DO = PROMOTED = 0
ERROR = 1
NOT_PROMOTED = 3


class RetrainError(Exception):
    """Retraining could not run or finish; the message says why (DVC's own words where DVC failed)."""


def changed_stages() -> list[str]:
    """Stages DVC would re-run, leaving out validate_env's standing 'always changed'."""
    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        raise RetrainError(f"`dvc status` failed (exit {result.returncode}):\n{result.stderr.strip() or result.stdout.strip()}")
    try:
        status = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        raise RetrainError(f"`dvc status --json` printed something else than JSON:\n{result.stdout.strip()}") from None
    return [stage for stage, changes in status.items() if changes != ["always changed"]]


def retrain() -> int:
    stages = changed_stages()
    if not stages:
        print("retrain: nothing changed since the last run; nothing to do")
        return NOTHING_TO_DO
    print(f"retrain: changed: {', '.join(stages)}; running dvc repro", flush=True)
    # export writes this id into registry.json (before it enforces the gate): a file from an earlier run, or one
    # DVC restored from its run cache, lacks it
    this_run = uuid.uuid4().hex
    env = with_interpreter_on_path({**os.environ, paths.RETRAIN_RUN: this_run})
    repro = subprocess.run([sys.executable, "-m", "dvc", "repro"], env=env)
    decision = read_json(paths.REGISTRY) if paths.REGISTRY.exists() else {}
    exported_now = decision.get("retrain_run") == this_run
    if repro.returncode != 0:
        if exported_now and not gate.passed(training_summary()):
            print("retrain: the quality gate failed: not promoted", file=sys.stderr)
            return NOT_PROMOTED
        raise RetrainError(f"dvc repro exited {repro.returncode} (its error is above)")
    if not exported_now:
        print("retrain: the re-run stages' outputs did not change, so export did not run; nothing new registered")
        return NOTHING_TO_DO
    print(f"retrain: {decision['model_name']} v{decision['version']}: {decision['reason']}")
    return PROMOTED if decision["champion"] else NOT_PROMOTED


def main() -> None:
    try:
        code = retrain()
    except PipelineError as err:  # a missing output of the run: still exit 1, as the scheduler expects
        print(f"retrain: error[{err.code}]: {err}", file=sys.stderr)
        code = ERROR
    except (RetrainError, OSError, KeyError, ValueError) as err:  # never a traceback in a cron log
        print(f"retrain: error: {err}", file=sys.stderr)
        code = ERROR
    sys.exit(code)


if __name__ == "__main__":
    run_main(main)
