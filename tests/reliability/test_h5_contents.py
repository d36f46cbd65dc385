"""Course ``.h5`` files whose contents would be trained on silently: one line, exit 2.

Images of 0x0 pixels (they became all-black), bool pixels (a mask: 0 or 1 of 255), an
array declared but never written (it reads as zeros) and two classes of one name are
refused alike by every path that reads a course file: ``train --data``, ``train --data
--stream`` and ``data info`` (the checks live in one place, ``cnnlab.data.h5``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from .conftest import assert_unchanged, assert_user_error, run_cnnlab, snapshot, temporaries

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


def _course_file(path: Path, case: str) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    y = np.arange(10) % 2
    classes = np.array([b"cat", b"dog"])
    with h5py.File(path, "w") as f:
        if case == "empty_pixels":
            f["train_set_x"] = np.zeros((10, 0, 0, 3), np.uint8)
        elif case == "bool":
            f["train_set_x"] = x > 127
        elif case == "unwritten":
            f.create_dataset("train_set_x", shape=(10, 8, 8, 3), dtype="uint8")
        else:
            f["train_set_x"] = x
        if case == "unwritten_labels":
            f.create_dataset("train_set_y", shape=(10,), dtype="int64", chunks=(5,))
        else:
            f["train_set_y"] = y
        f["list_classes"] = np.array([b"cat", b"cat"]) if case == "same_names" else classes
    return path


CASES = {
    "empty_pixels": ("train_set_x", "10 images of 0x0 pixels"),
    "bool": ("train_set_x", "bool pixels"),
    "unwritten": ("train_set_x", "declared (10x8x8x3) but was never written"),
    "unwritten_labels": ("train_set_y", "declared (10) but was never written"),
    "same_names": ("list_classes", "names class 'cat' twice (classes 0 and 1)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_course_file_that_would_train_on_nothing_is_refused_by_every_reader(case, tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    path = _course_file(user / f"train_{case}.h5", case)
    before = snapshot(user)
    run = user / "run"
    for args in (
        ("train", "--data", path, "--epochs", "1", "--image-size", "8", "--out", run),
        ("train", "--data", path, "--epochs", "1", "--image-size", "8", "--stream", "--out", run),
        ("data", "info", path, "--image-size", "8", "--no-grid"),
    ):
        result = run_cnnlab(*args, cwd=user, env={"CNNLAB_HOME": str(tmp_path / "home")})
        assert_user_error(result, str(path), *CASES[case], max_lines=1)
        assert not run.exists()
        assert_unchanged(user, before)
        assert temporaries(user) == []
