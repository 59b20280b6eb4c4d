"""The one error type users see (what went wrong, where, how to fix it), warnings, and the exit path.

Every error and warning carries a code from pipeline/core/error_catalogue.py; README's Troubleshooting
section is generated from that catalogue (`python -m pipeline.core.error_catalogue`).
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable

from pipeline.core.error_catalogue import ERRORS, WARNINGS

# Write failures that are the machine's, not the code's: a full disk, a quota, a file-size limit.
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


class PipelineError(Exception):
    """A problem the user can fix; printed as one line `error[code]: what [where] -> fix: ...`, exit code 2."""

    def __init__(self, code: str, what: str, where: str, fix: str):
        if code not in ERRORS:
            raise ValueError(f"error code '{code}' is not in pipeline/core/error_catalogue.py")
        super().__init__(f"{what} [{where}] -> fix: {fix}")
        self.code, self.what, self.where, self.fix = code, what, where, fix


def warn(code: str, message: str) -> None:
    """Print one warning line `warning[code]: message` on stderr."""
    if code not in WARNINGS:
        raise ValueError(f"warning code '{code}' is not in pipeline/core/error_catalogue.py")
    print(f"warning[{code}]: {message}", file=sys.stderr, flush=True)


def write_failure(err: OSError) -> PipelineError:
    """A full disk (or quota, or file-size limit) as a PipelineError naming the file."""
    where = err.filename or "the output being written"
    return PipelineError("disk-write-failed", f"could not write: {err.strerror or err}", str(where),
                         "free disk space (or raise the quota) and run the stage again; "
                         "nothing half-written was kept")


def run_main(main: Callable[[], None]) -> None:
    """Run a command-line entry point: a PipelineError or a failed write becomes one line and exit code 2.

    `-h` / `--help` anywhere among the arguments prints the entry point's module docstring and does nothing else.
    """
    if {"-h", "--help"} & set(sys.argv[1:]):
        print((sys.modules["__main__"].__doc__ or "").strip())
        return
    try:
        main()
    except PipelineError as err:
        _exit(err)
    except OSError as err:
        if err.errno not in WRITE_FAILURES:
            raise
        _exit(write_failure(err))


def _exit(err: PipelineError) -> None:
    print(f"error[{err.code}]: {err}", file=sys.stderr, flush=True)
    sys.exit(2)
