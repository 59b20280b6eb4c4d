"""`python -m pipeline.retrain`: scheduled retraining, for cron, systemd timers and CI.

Checks with `dvc status` whether data, params or code changed since the last run; if so runs
`dvc repro` (train -> evaluate -> export, which registers and maybe promotes the model).

Exit codes: 0 nothing to do, or a new champion was promoted; 3 retrained but not promoted
(the quality gate failed, or the model did not beat the champion); 1 any other error.
"""

from __future__ import annotations

import json
import subprocess
import sys

from pipeline.core import paths
from pipeline.core.errors import PipelineError, run_main
from pipeline.core.interpreter import with_interpreter_on_path
from pipeline.core.outputs import read_json, training_summary
from pipeline.evaluation import gate

NOTHING_TO_DO = PROMOTED = 0
ERROR = 1
NOT_PROMOTED = 3


def changed_stages() -> list[str]:
    """Stages DVC would re-run, leaving out validate_env's standing 'always changed'."""
    result = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True,
                            check=True)
    status = json.loads(result.stdout or "{}")
    return [stage for stage, changes in status.items() if changes != ["always changed"]]


def retrain() -> int:
    try:
        stages = changed_stages()
    except (subprocess.CalledProcessError, json.JSONDecodeError) as err:
        print(f"retrain: error: `dvc status` failed: {err}", file=sys.stderr)
        return ERROR
    if not stages:
        print("retrain: nothing changed since the last run; nothing to do")
        return NOTHING_TO_DO
    print(f"retrain: changed: {', '.join(stages)}; running dvc repro")
    repro = subprocess.run([sys.executable, "-m", "dvc", "repro"], env=with_interpreter_on_path())
    if repro.returncode != 0:
        trained_now = "train" not in changed_stages()  # so models/trained is this run's, not a stale one
        if trained_now and not gate.passed(training_summary()):
            print("retrain: the quality gate failed: not promoted", file=sys.stderr)
            return NOT_PROMOTED
        print(f"retrain: error: dvc repro exited {repro.returncode}", file=sys.stderr)
        return ERROR
    decision = read_json(paths.REGISTRY)
    print(f"retrain: {decision['model_name']} v{decision['version']}: {decision['reason']}")
    return PROMOTED if decision["champion"] else NOT_PROMOTED


def main() -> None:
    try:
        code = retrain()
    except PipelineError as err:  # a missing output of the run: still exit 1, as the scheduler expects
        print(f"retrain: error[{err.code}]: {err}", file=sys.stderr)
        code = ERROR
    sys.exit(code)


if __name__ == "__main__":
    run_main(main)
