"""The shipped pretrained models: each file matches its recorded SHA-256, has its licence
and NOTICE entry, and a damaged, replaced or missing file is one error naming it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlab import pretrained
from cnnlab.errors import ModelFileError

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A copy of the shipped files in tmp_path that a test may damage; nothing verified yet."""
    copy = tmp_path / "files"
    shutil.copytree(pretrained.FILES, copy)
    monkeypatch.setattr(pretrained, "FILES", copy)
    monkeypatch.setattr(pretrained, "_verified", {})
    return copy


def test_every_shipped_model_matches_its_checksum():
    assert pretrained.verify_all() == {name: "ok" for name in pretrained.MODELS}


def test_every_model_has_its_licence_and_notice():
    notice = (pretrained.FILES / "NOTICE").read_text()
    for model in pretrained.MODELS.values():
        assert model.file in notice, model.file
        assert model.licence in ("Apache-2.0", "MIT")
    licences = sorted(p.name for p in pretrained.FILES.glob("LICENSE-*"))
    assert any("Apache-2.0" in n for n in licences) and any("MIT" in n for n in licences)
    assert "Apache License" in (pretrained.FILES / "LICENSE-mediapipe-Apache-2.0.txt").read_text()


def test_a_changed_byte_is_refused_naming_the_file(fresh):
    file = fresh / "hand_landmark_full.tflite"
    data = bytearray(file.read_bytes())
    data[1000] ^= 0xFF
    file.write_bytes(bytes(data))
    with pytest.raises(ModelFileError) as err:
        pretrained.path("hand_landmark_full")
    message = str(err.value)
    assert str(file) in message and "damaged or was replaced" in message and "\n" not in message
    assert pretrained.verify_all()["face_detection_short_range"] == "ok"  # the others still load


def test_a_missing_file_is_refused_naming_it(fresh):
    (fresh / "emotion_model.hdf5").unlink()
    with pytest.raises(ModelFileError, match=r"emotion_model\.hdf5: the pretrained .* missing"):
        pretrained.path("emotion_mini_xception")


def test_an_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ModelFileError, match="no pretrained model 'nope'; the shipped ones are"):
        pretrained.path("nope")


def test_a_tflite_model_runs_on_litert_without_tensorflow():
    # The face step in a fresh process: LiteRT runs BlazeFace, TensorFlow is never imported.
    code = (
        "import sys, numpy as np\n"
        "from cnnlab.data import faces\n"
        "crop, found = faces.face_crop(np.zeros((64, 64, 3), np.uint8), (32, 32))\n"
        "assert crop.shape == (32, 32, 3) and not found\n"
        "print('tensorflow' in sys.modules, 'ai_edge_litert' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]
    assert "XNNPACK" not in out.stderr


def test_the_hand_landmark_model_takes_and_gives_what_the_registry_says():
    interpreter = pretrained.tflite_interpreter("hand_landmark_full")
    inp = interpreter.get_input_details()[0]
    assert tuple(inp["shape"]) == (1, 224, 224, 3)
    interpreter.set_tensor(inp["index"], np.zeros((1, 224, 224, 3), np.float32))
    interpreter.invoke()
    sizes = sorted(int(np.prod(o["shape"])) for o in interpreter.get_output_details())
    assert sizes == [1, 1, 63, 63]  # presence, handedness, 21 landmarks x 3 (image, world)


def test_the_command_lists_every_model_with_its_licence_and_verifies():
    cnnlab = Path(sys.executable).with_name("cnnlab")  # the installed entry point
    out = subprocess.run(
        [str(cnnlab), "pretrained", "--verify"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    for model in pretrained.MODELS.values():
        assert f"{model.name}  ({model.licence})" in out.stdout
    assert f"checked {len(pretrained.MODELS)} files: {len(pretrained.MODELS)} ok" in out.stdout
