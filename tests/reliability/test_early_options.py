"""A bad option is refused before anything is loaded: no TensorFlow, no model, no dataset.

Loading a run's Keras model or a large dataset takes 30-56 s on a small machine; an option
that can be checked without them (an output path and its suffix, an existing output
without ``--force``, a folder under a regular file, an image size, a number's bounds, a
missing input file) must not wait for them. Each case runs the real entry point with a
``sitecustomize`` that records, at exit, whether ``tensorflow`` or ``keras`` was imported:
behavioural, where a timing would be noise on a shared machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from .conftest import assert_unchanged, assert_user_error, run_cnnlab, snapshot, temporaries

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

RECORDER = """\
import atexit, os, sys

def _record(path=os.environ["CNNLAB_IMPORTS_OUT"]):
    with open(path, "w") as fh:
        fh.write(",".join(m for m in ("tensorflow", "keras") if m in sys.modules))

atexit.register(_record)
"""


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    """A Keras run, an image, a text file and an existing PNG, side by side."""
    from PIL import Image

    root = tmp_path_factory.mktemp("early")
    result = run_cnnlab(
        "train", "--engine", "keras", "--model", "course", "--data", "digits",
        "--epochs", "1", "--out", root / "run", cwd=root,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(root / "img.png")
    Image.fromarray(np.full((16, 16), 100, np.uint8)).save(root / "old.png")
    (root / "notes.txt").write_text("a regular file\n")
    (root / "recorder").mkdir()
    (root / "recorder" / "sitecustomize.py").write_text(RECORDER)
    return root


# (args, words stderr must hold); RUN, IMG, OLD, TXT stand for the place's files
CASES = {
    "train-epochs": (("train", "--epochs", "0"), ("epochs", "positive")),
    "train-batch": (("train", "--batch-size", "2000000"), ("batch_size", "1,000,000")),
    "train-image-size": (("train", "--image-size", "100000"), ("--image-size", "1024")),
    "train-out-under-file": (("train", "--out", "TXT/run"), ("notes.txt", "Not a directory")),
    "train-replicas": (
        ("train", "--distribute", "mirrored", "--cpu-replicas", "100000"),
        ("cpu_replicas", "CPU cores"),
    ),
    "train-missing-data": (("train", "--data", "gone"), ("gone", "no such dataset")),
    "evaluate-missing-data": (("evaluate", "RUN", "--data", "gone"), ("gone", "no such dataset")),
    "evaluate-unsupported-data": (
        ("evaluate", "RUN", "--data", "TXT"),
        ("notes.txt", "unsupported file"),
    ),
    "predict-missing-image": (("predict", "RUN", "gone.png"), ("gone.png", "file not found")),
    "predict-top-k": (("predict", "RUN", "IMG", "--top-k", "0"), ("top_k", "between 1")),
    "export-suffix": (
        ("export", "RUN", "--format", "keras", "--out", "m.txt"),
        ("m.txt", "must end in .keras"),
    ),
    "export-existing": (
        ("export", "RUN", "--format", "tf_saved_model", "--out", "OLD"),
        ("old.png", "already exists", "--force"),
    ),
    "export-onnx-suffix": (
        ("export", "RUN", "--format", "onnx", "--out", "m.keras"),
        ("m.keras", "must end in .onnx"),
    ),
    "export-saved-model-as-file": (
        ("export", "RUN", "--format", "tf_saved_model", "--out", "m.tflite"),
        ("m.tflite", "is a folder"),
    ),
    "export-under-file": (
        ("export", "RUN", "--format", "keras", "--out", "TXT/m.keras"),
        ("notes.txt", "Not a directory"),
    ),
    "show-suffix": (("show", "RUN", "IMG", "--out", "s.jpg"), ("s.jpg", "must end in .png")),
    "show-existing": (("show", "RUN", "IMG", "--out", "OLD"), ("old.png", "already exists")),
    "show-class-without-cam": (("show", "RUN", "IMG", "--class", "3"), ("class_index", "cam")),
    "show-class-range": (
        ("show", "RUN", "IMG", "--cam", "--class", "99"),
        ("class_index", "0..9"),
    ),
    "show-under-file": (
        ("show", "RUN", "IMG", "--out", "TXT/s.png"),
        ("notes.txt", "Not a directory"),
    ),
    "explain-input": (("explain", "model", "happy", "--input", "5000"), ("--input", "1024")),
    "data-info-per-class": (("data", "info", "digits", "--per-class", "0"), ("--per-class",)),
    "data-info-out-suffix": (
        ("data", "info", "digits", "--out", "grid.jpg"),
        ("grid.jpg", "must end in .png"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_option_is_refused_before_tensorflow_or_a_model_loads(case, place, tmp_path):
    args, words = CASES[case]
    names = {
        "RUN": place / "run",
        "IMG": place / "img.png",
        "OLD": place / "old.png",
        "TXT": place / "notes.txt",
    }
    args = [str(names.get(a.split("/")[0], a)) + a[len(a.split("/")[0]) :] for a in args]
    if args[0] == "train" and "--out" not in args:
        args += ["--out", str(tmp_path / "new-run")]
    record = tmp_path / "imports.txt"
    before = snapshot(place)
    path = os.pathsep.join(p for p in (str(place / "recorder"), os.environ.get("PYTHONPATH")) if p)
    result = run_cnnlab(
        *args,
        cwd=tmp_path,
        env={"PYTHONPATH": path, "CNNLAB_IMPORTS_OUT": str(record)},
    )
    assert_user_error(result, *words, max_lines=1)
    assert record.read_text() == "", f"{case}: imported {record.read_text()} before refusing"
    assert_unchanged(place, before)
    assert temporaries(place) == [] and not (tmp_path / "new-run").exists()
