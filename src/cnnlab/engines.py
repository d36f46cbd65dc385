"""The two engines as everything above the model floor sees them: which engine a model is,
and the one way a saved model is opened.

cnnlab runs a model in one of two engines: Keras (on TensorFlow) or cnnlab's NumPy engine
(:mod:`cnnlab.nn`). Training with Keras needs TensorFlow; running a model does not. So
:func:`load_model` opens a ``.keras`` file in the NumPy engine unless asked otherwise: it
reads the archive with zipfile and h5py (:func:`cnnlab.nn.keras_file.read_keras`), which
takes a fraction of a second where importing TensorFlow takes ten, and predicts what Keras
predicts (within float32 rounding). A file with a layer the NumPy engine does not have is
opened with Keras instead, and a :class:`~cnnlab.errors.EngineNote` says why in one line:
never a silent difference.

=====================  =======================================  ================================
file                   ``engine=None`` (inference)              ``"keras"`` / ``"numpy"``
=====================  =======================================  ================================
``model.keras``        NumPy (Keras if the file needs it)        Keras's own / NumPy (or an error)
``model.cnnlab.npz``   NumPy                                    ``to_keras()`` / NumPy
=====================  =======================================  ================================

Example:
    >>> model = load_model("runs/mood/model.keras")     # doctest: +SKIP
    >>> engine_of(model)                                # doctest: +SKIP
    'numpy'
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from cnnlab import nn
from cnnlab.errors import ArgumentError, EngineNote
from cnnlab.nn.keras_file import load_keras_model, read_keras

__all__ = ["ENGINES", "check_engine", "engine_of", "load_model"]

#: The engines, by the name ``--engine`` takes.
ENGINES = ("keras", "numpy")


def check_engine(engine: str | None) -> str | None:
    """``engine`` if it is one of :data:`ENGINES` (or ``None``), else an ArgumentError."""
    if engine is not None and engine not in ENGINES:
        raise ArgumentError(
            f"engine must be one of {', '.join(ENGINES)}. Received: engine={engine!r}"
        )
    return engine


def engine_of(model: Any) -> str:
    """``"numpy"`` for a :mod:`cnnlab.nn` model, ``"keras"`` for anything else (a Keras
    model: this never imports Keras)."""
    return "numpy" if isinstance(model, nn.Sequential) else "keras"


def load_model(path: str | os.PathLike, engine: str | None = None):
    """The model saved at ``path`` (``.keras`` or ``.cnnlab.npz``), without its optimizer.

    Args:
        path: the model file.
        engine: ``None`` (inference: the NumPy engine where it can read the file, see the
            module's table), ``"numpy"`` or ``"keras"``.

    Raises:
        ModelFileError: a missing, damaged or oversized file.
        ArgumentError: ``engine="numpy"`` for a ``.keras`` file with a layer cnnlab.nn
            does not have (naming it); an unknown engine.
    """
    check_engine(engine)
    path = Path(path)
    if path.suffix != ".keras":
        model = nn.load_model(path)
        return model.to_keras() if engine == "keras" else model
    if engine == "keras":
        return load_keras_model(path)
    try:
        return read_keras(path)
    except ArgumentError as exc:
        if engine == "numpy":
            raise
        warnings.warn(
            f"{path}: opened with Keras, as the NumPy engine cannot run it ({exc})",
            EngineNote,
            stacklevel=2,
        )
        return load_keras_model(path)
