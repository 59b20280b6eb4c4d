"""Atomic writes: a failed stage never leaves a half-written output behind, and never loses the old one.

Every output is written beside its target under a temporary name, synced to disk (the file, then its
folder), and renamed into place. The old output is moved aside only once the new one is complete, and
deleted only after the new one is in place. Outputs get ordinary permissions (0644 files, 0755 folders
under the usual umask 022), so a serving or CI user can read them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import yaml


def umask() -> int:
    """The process's umask, read from /proc where it can be (os.umask can only read it by setting it)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8)
    except (OSError, StopIteration):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sibling(target: Path, tag: str) -> Path:
    """The hidden name beside `target` for its new (`tmp`) or its previous (`old`) version.

    Fixed names: what a killed write left behind is overwritten by the next write, never piled up.
    """
    return target.with_name(f".{target.name}.{tag}")


@contextmanager
def atomic_file(target: Path | str, mode: str = "w") -> Iterator[IO]:
    """A handle on a temporary sibling of `target` that replaces it, synced, only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "tmp")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)  # open() already applied the umask: 0666 & ~umask
        fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """A temporary sibling folder that replaces `target` only if the block succeeds.

    The old folder is renamed aside, the new one renamed into place, and only then is the old one deleted.
    A process killed between those two renames leaves the old folder aside: the next write puts it back first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, old = _sibling(target, "tmp"), _sibling(target, "old")
    if old.exists() and not target.exists():
        os.replace(old, target)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        _settle_tree(tmp)
        if target.exists():
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old.exists():
                os.replace(old, target)  # the old output back where it was
            raise
        fsync_dir(target.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _settle_tree(folder: Path) -> None:
    """Give every file and folder under `folder` ordinary permissions and fsync it (libraries such as
    save_pretrained write without syncing, some through private 0600 temporary files)."""
    mask = umask()
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            os.chmod(path, 0o666 & ~mask)
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.chmod(root, 0o777 & ~mask)
        fsync_dir(Path(root))


def write_text(target: Path | str, text: str) -> None:
    with atomic_file(target) as handle:
        handle.write(text)


def write_json(target: Path | str, data) -> None:
    """JSON with sorted keys and a final newline."""
    write_text(target, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_yaml(target: Path | str, data) -> None:
    write_text(target, yaml.safe_dump(data, sort_keys=False))


def write_csv(target: Path | str, rows: list[dict], fields: list[str] | None = None) -> None:
    """Rows of one shape as a CSV with a header: `fields`, or the first row's keys."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields or (list(rows[0]) if rows else ["empty"]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(target, buffer.getvalue())
