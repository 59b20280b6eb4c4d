"""The one error type users see: what went wrong, where, and how to fix it."""

from __future__ import annotations

import sys
from collections.abc import Callable


class PipelineError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""

    def __init__(self, what: str, where: str, fix: str):
        super().__init__(f"{what} [{where}] -> fix: {fix}")
        self.what, self.where, self.fix = what, where, fix


def run_main(main: Callable[[], None]) -> None:
    """Run a command-line entry point, turning a PipelineError into one line on stderr."""
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
