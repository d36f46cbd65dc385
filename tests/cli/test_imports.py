"""Imports cost only what is used: ``import cnnlab``, ``import cnnlab.nn``, ``cnnlab --help``
and a NumPy run's ``predict`` import neither TensorFlow, Keras, matplotlib, scikit-learn nor
the studio's web server. Checked through the real entry point, from ``sys.modules`` at exit
(the commands that run a Keras run's model are checked in
tests/reliability/test_no_tensorflow.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn", "starlette", "uvicorn", "torch")
RECORDER = f"""\
import atexit, os, sys

def _record(path=os.environ["CNNLAB_IMPORTS_OUT"]):
    with open(path, "w") as fh:
        fh.write(",".join(m for m in {HEAVY!r} if m in sys.modules))

atexit.register(_record)
"""
CNNLAB = Path(sys.executable).with_name("cnnlab")


@pytest.fixture(scope="module")
def recorder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("recorder")
    (folder / "sitecustomize.py").write_text(RECORDER)
    return folder


def _imported(recorder: Path, command: list[str], tmp_path: Path) -> list[str]:
    out = tmp_path / "imports.txt"
    env = {**os.environ, "PYTHONPATH": str(recorder), "CNNLAB_IMPORTS_OUT": str(out)}
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    return [m for m in out.read_text().split(",") if m]


@pytest.mark.parametrize(
    "command",
    [
        ["python", "-c", "import cnnlab"],
        ["python", "-c", "import cnnlab.nn, cnnlab.ops, cnnlab.engines"],
        ["cnnlab", "--help"],
        ["cnnlab", "predict", "--help"],
    ],
    ids=" ".join,
)
def test_light_commands_import_nothing_heavy(recorder, tmp_path, command):
    exe = {"python": sys.executable, "cnnlab": str(CNNLAB)}[command[0]]
    assert _imported(recorder, [exe, *command[1:]], tmp_path) == []


def test_predict_on_a_numpy_run_imports_nothing_heavy(recorder, tmp_path):
    from PIL import Image

    from cnnlab import training

    run = training.train(
        training.TrainConfig(
            task="signs", engine="numpy", model="course", data="digits", epochs=1,
            out=tmp_path / "run",
        ),
        progress=False,
    )  # fmt: skip
    image = tmp_path / "digit.png"
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(image)
    command = [str(CNNLAB), "predict", str(run.dir), str(image)]
    assert _imported(recorder, command, tmp_path) == []
