"""Atomic writes: ordinary permissions, synced to disk, and the old output kept until the new one is in place."""

import os
import stat
from pathlib import Path

import pytest

from pipeline.core import atomic
from pipeline.core.atomic import atomic_dir, atomic_file, write_json


@pytest.fixture
def umask():
    """Set the process umask for a test, and restore it."""
    saved = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(saved)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_outputs_are_readable_by_other_users_under_the_usual_umask(tmp_path, umask):
    write_json(tmp_path / "reports/metrics.json", {"a": 1})
    with atomic_dir(tmp_path / "models/export") as out:
        (out / "model.bin").write_bytes(b"weights")
        write_json(out / "card.json", {})
        private = out / "tokenizer" / "vocab.json"  # some libraries write through private 0600 files
        private.parent.mkdir(mode=0o700)
        private.write_text("{}")
        private.chmod(0o600)
    assert mode(tmp_path / "reports/metrics.json") == 0o644
    assert mode(tmp_path / "models/export") == 0o755
    assert mode(tmp_path / "models/export/model.bin") == mode(tmp_path / "models/export/card.json") == 0o644
    assert (mode(tmp_path / "models/export/tokenizer"), mode(tmp_path / "models/export/tokenizer/vocab.json")) == \
        (0o755, 0o644)


def test_a_stricter_umask_is_honoured(tmp_path, umask):
    umask(0o027)
    write_json(tmp_path / "metrics.json", {})
    with atomic_dir(tmp_path / "export"):
        pass
    assert (mode(tmp_path / "metrics.json"), mode(tmp_path / "export")) == (0o640, 0o750)


def test_the_file_and_its_folder_are_synced(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync

    def recording_fsync(fd):
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", recording_fsync)
    write_json(tmp_path / "out/metrics.json", {"a": 1})
    assert synced[-1] == tmp_path / "out"  # the rename, after the file's own data
    assert synced[0].parent == tmp_path / "out" and synced[0].name == ".metrics.json.tmp"
    synced.clear()
    with atomic_dir(tmp_path / "export") as out:
        (out / "weights").write_bytes(b"w")
    assert any(path.name == "weights" for path in synced) and synced[-1] == tmp_path


def test_a_failed_block_keeps_the_old_output_and_leaves_nothing_behind(tmp_path):
    write_json(tmp_path / "metrics.json", {"old": True})
    with atomic_dir(tmp_path / "export") as out:
        (out / "model").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "export") as out:
            (out / "model").write_text("new, half written")
            assert (tmp_path / "export/model").read_text() == "old"  # the old one stays in place meanwhile
            raise RuntimeError("the stage failed")
    with pytest.raises(RuntimeError):
        with atomic_file(tmp_path / "metrics.json") as handle:
            handle.write('{"new": ')
            raise RuntimeError("the stage failed mid-write")
    assert (tmp_path / "export/model").read_text() == "old"
    assert (tmp_path / "metrics.json").read_text() == '{\n  "old": true\n}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "metrics.json"]


def test_the_old_output_comes_back_if_the_new_one_cannot_be_put_in_place(tmp_path, monkeypatch):
    with atomic_dir(tmp_path / "export") as out:
        (out / "model").write_text("old")
    real_replace = os.replace

    def failing_replace(source, target):
        if Path(source).name == ".export.tmp":
            raise OSError(28, "No space left on device")
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError):
        with atomic_dir(tmp_path / "export") as out:
            (out / "model").write_text("new")
    assert (tmp_path / "export/model").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_a_new_output_replaces_the_old_one_whole(tmp_path):
    with atomic_dir(tmp_path / "export") as out:
        (out / "stale.onnx").write_text("old")
    with atomic_dir(tmp_path / "export") as out:
        (out / "model").write_text("new")
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["model"]
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_what_a_killed_write_left_behind_is_cleaned_up_or_restored(tmp_path):
    # killed mid-write: a half-written temporary file and folder
    (tmp_path / ".metrics.json.tmp").write_text('{"half')
    (tmp_path / ".export.tmp").mkdir()
    (tmp_path / ".export.tmp" / "half").write_text("half")
    write_json(tmp_path / "metrics.json", {"a": 1})
    with atomic_dir(tmp_path / "export") as out:
        (out / "model").write_text("first")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "metrics.json"]
    assert [p.name for p in (tmp_path / "export").iterdir()] == ["model"]
    # killed between moving the old folder aside and moving the new one in: the old one comes back first
    (tmp_path / "export").rename(tmp_path / ".export.old")
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "export"):
            assert (tmp_path / "export/model").read_text() == "first"
            raise RuntimeError("the stage failed")
    assert (tmp_path / "export/model").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "metrics.json"]
