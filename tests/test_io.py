"""Atomic writes: the target appears whole or not at all, with normal permissions."""

from __future__ import annotations

import errno
import os

import pytest

from cnnlab import _io
from cnnlab._io import atomic_path, write_text


def test_write_text_creates_file_with_umask_permissions(tmp_path):
    target = tmp_path / "sub" / "note.txt"
    write_text(target, "hello")
    assert target.read_text() == "hello"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half-written")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_temporary_keeps_the_target_suffix(tmp_path):
    with atomic_path(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png"
        assert tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "plot.png").read_bytes() == b"x"


def test_a_file_in_the_way_is_named_as_not_a_directory(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for target in (tmp_path / "notes.txt" / "a.png", tmp_path / "notes.txt" / "sub" / "a.png"):
        with pytest.raises(NotADirectoryError) as info:
            _io.write_text(target, "x")
        assert info.value.filename == str(tmp_path / "notes.txt")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_an_error_about_the_temporary_names_the_target(tmp_path, monkeypatch):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")

    def fail(tmp):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    with pytest.raises(OSError) as info, _io.atomic_path(target) as tmp:
        fail(tmp)
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert _io.stale_temporaries(tmp_path, "model.npz") == []
