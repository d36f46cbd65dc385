"""A NumPy-engine model file that asks for absurd sizes or is malformed gives one clear line.

A real run is made once with the installed ``cnnlab`` entry point; each case copies it, edits
its ``model.npz`` (a few bytes of JSON decide how much memory the model takes), and runs
``cnnlab predict`` / ``cnnlab evaluate`` under a 3 GB address-space limit: the command must
exit 2 with one line naming the file and the layer, allocate nothing big, and leave every
file of the run byte-identical.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from .conftest import (
    Result,
    assert_unchanged,
    assert_user_error,
    digits_run,
    run_cnnlab,
    snapshot,
    temporaries,
)

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

# Enough for Python, NumPy and the CLI; far below what the absurd models ask for.
ADDRESS_SPACE_KB = 3_000_000


@pytest.fixture(scope="module")
def numpy_run(tmp_path_factory) -> tuple[Path, Path]:
    """A one-epoch NumPy-engine run on the built-in digits, and a 16x16 PNG to predict."""
    return digits_run(tmp_path_factory.mktemp("model-files"), "numpy")


def _limited(*args, cwd: Path) -> Result:
    """``cnnlab ARGS...`` with its address space limited (``ulimit -v``)."""
    return run_cnnlab(*args, cwd=cwd, timeout=300, memory_kb=ADDRESS_SPACE_KB)


def _rewrite_model(path: Path, edit) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["__cnnlab__"].tobytes())
    edit(meta)
    arrays["__cnnlab__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _set(layer_index: int, key: str, value):
    def edit(meta):
        meta["config"]["layers"][layer_index]["config"][key] = value

    return edit


# id -> (edit of the architecture JSON, words stderr must contain besides the file)
CASES = {
    "filters-8000000": (_set(1, "filters", 8_000_000), ["'conv2d' (Conv2D)", "saving.MAX_"]),
    "filters-1e9-float": (_set(1, "filters", 1e9), ["'conv2d' (Conv2D)", "filters"]),
    "filters-string": (_set(1, "filters", "abc"), ["'conv2d' (Conv2D)", "'abc'"]),
    "input-100000x100000": (
        _set(0, "shape", [100000, 100000, 1]),
        ["input", "MAX_ACTIVATION_ELEMENTS"],
    ),
    "dense-units-1e9": (_set(8, "units", 10**9), ["'dense' (Dense)", "MAX_PARAMS"]),
}


# every case through predict; evaluate loads the model the same way, so one case suffices there
RUNS = [(name, "predict") for name in CASES] + [("input-100000x100000", "evaluate")]


@pytest.mark.parametrize(("name", "command"), RUNS, ids=[f"{c}-{n}" for n, c in RUNS])
def test_an_absurd_model_file_is_refused_in_one_line(numpy_run, tmp_path, name, command):
    run, image = numpy_run
    edit, words = CASES[name]
    case = tmp_path / "run"
    shutil.copytree(run, case)
    _rewrite_model(case / "model.npz", edit)
    before = snapshot(tmp_path)
    args = ("predict", case, image) if command == "predict" else ("evaluate", case)
    result = _limited(*args, cwd=tmp_path)
    assert_user_error(result, "model.npz", *words)
    assert "MemoryError" not in result.stderr and "could not allocate" not in result.stderr
    assert result.seconds < 60, f"took {result.seconds:.0f} s"
    assert_unchanged(tmp_path, before)
    assert not temporaries(tmp_path)


def test_a_weight_header_that_lies_about_its_size_is_refused(numpy_run, tmp_path):
    run, image = numpy_run
    case = tmp_path / "run"
    shutil.copytree(run, case)
    model = case / "model.npz"
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (200000, 200000), }"
    header += b" " * (118 - len(header)) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64
    original = model.read_bytes()
    (tmp_path / "orig.npz").write_bytes(original)
    with zipfile.ZipFile(tmp_path / "orig.npz") as src, zipfile.ZipFile(model, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, npy if item.filename == "w/conv2d/kernel.npy" else src.read(item))
    (tmp_path / "orig.npz").unlink()
    before = snapshot(tmp_path)
    result = _limited("predict", case, image, cwd=tmp_path)
    assert_user_error(result, "model.npz", "(200000, 200000)")
    assert_unchanged(tmp_path, before)


def test_the_unedited_run_still_predicts_under_the_same_limit(numpy_run, tmp_path):
    run, image = numpy_run
    result = _limited("predict", run, image, cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "digit.png" in result.stdout
