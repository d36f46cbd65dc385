"""Running a Keras run's model needs no TensorFlow: ``predict``, ``evaluate``, ``show``,
``interpret`` and ``explain model`` read ``model.keras`` with zipfile and h5py into the NumPy
engine, and agree with Keras's own inference (``--engine keras``). A model with a layer the
NumPy engine lacks falls back to Keras with one ``note:`` line.

Each command runs the real entry point with a ``sitecustomize`` that records, at exit, which
of TensorFlow and Keras were imported: behavioural, where a timing would be noise.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import digits_run, run_cnnlab
from .test_early_options import RECORDER

pytestmark = pytest.mark.slow  # trains a Keras run through the real entry point


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A one-epoch Keras run, an image, and the recorder's folder."""
    root = tmp_path_factory.mktemp("no_tf")
    run, image = digits_run(root, "keras")
    (root / "recorder").mkdir()
    (root / "recorder" / "sitecustomize.py").write_text(RECORDER)
    return run, image, root


def _recorded(root: Path, *args):
    out = root / "imports.txt"
    out.unlink(missing_ok=True)
    env = {"PYTHONPATH": str(root / "recorder"), "CNNLAB_IMPORTS_OUT": str(out)}
    result = run_cnnlab(*args, cwd=root, env=env)
    return result, out.read_text().split(",") if out.read_text() else []


@pytest.mark.parametrize(
    "command",
    [
        ("predict", "RUN", "IMG"),
        ("predict", "RUN", "IMG", "--top-k", "3"),
        ("evaluate", "RUN"),
        ("show", "RUN", "IMG", "--cam", "--out", "OUT/show.png"),
        ("interpret", "RUN", "--top", "4"),
        ("explain", "model", "RUN"),
    ],
    ids=lambda c: "-".join(a for a in c if a.startswith("-") or a.isalpha())[:40],
)
def test_commands_on_a_keras_run_import_neither_tensorflow_nor_keras(place, command, tmp_path):
    run, image, root = place
    names = {"RUN": str(run), "IMG": str(image)}
    args = [names.get(a, a.replace("OUT", str(tmp_path))) for a in command]
    result, imported = _recorded(root, *args)
    assert result.code == 0, result.stderr
    assert imported == [], f"cnnlab {' '.join(command)} imported {imported}"
    assert "note:" not in result.stderr


def _probabilities(stdout: str) -> list[tuple[str, float]]:
    return [(line.split("\t")[1], float(line.split("\t")[2])) for line in stdout.splitlines()]


def test_numpy_inference_of_a_keras_run_agrees_with_keras(place):
    run, image, root = place
    ours, imported = _recorded(root, "predict", run, image, image)
    keras, imported_keras = _recorded(root, "predict", run, image, "--engine", "keras")
    assert ours.code == keras.code == 0, ours.stderr + keras.stderr
    assert imported == [] and "tensorflow" in imported_keras
    (label, p), _ = _probabilities(ours.stdout)
    [(label_keras, p_keras)] = _probabilities(keras.stdout)
    assert label == label_keras and abs(p - p_keras) <= 1e-4  # printed with 4 decimals


def test_a_layer_the_numpy_engine_lacks_falls_back_to_keras_with_one_note(place, tmp_path):
    import keras

    run, image, root = place
    other = tmp_path / "run"
    shutil.copytree(run, other)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Conv2D(2, 3, dilation_rate=2, name="dilated"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.save(other / "model.keras")
    result, imported = _recorded(root, "predict", other, image)
    assert result.code == 0, result.stderr
    assert "tensorflow" in imported
    notes = [line for line in result.err_lines if line.startswith("note:")]
    assert len(notes) == 1, result.stderr
    assert "model.keras" in notes[0] and "'dilated'" in notes[0] and "dilation_rate" in notes[0]
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr

    forced = run_cnnlab("predict", other, image, "--engine", "numpy", cwd=root)
    assert forced.code == 2 and "'dilated'" in forced.stderr and "Traceback" not in forced.stderr


def test_the_studio_explores_a_keras_run_without_tensorflow_sklearn_or_matplotlib(place):
    """The studio's first explore of a Keras run (model, data, feature maps, Grad-CAM) and its
    confusion matrix, on a fresh server, import none of them: each costs seconds on a small
    machine, and an import holds up every other request of the server meanwhile."""
    import subprocess
    import sys

    run, _, _ = place
    code = (
        "import sys\n"
        "from cnnlab.studio.explorer import RunsFolder\n"
        f"got = RunsFolder({str(run.parent)!r}).explore({run.name!r}, 's:test:0')\n"
        "assert got['layers'] and got['grad_cam']['overlay'], sorted(got)\n"
        f"folder = RunsFolder({str(run.parent)!r})\n"
        f"cm = folder.confusion({run.name!r})\n"
        "assert cm['matrix'], sorted(cm)\n"
        "heavy = ('tensorflow', 'keras', 'sklearn', 'scipy', 'matplotlib')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
