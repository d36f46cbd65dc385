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
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import nn
from cnnlab.errors import ArgumentError, EngineNote
from cnnlab.nn import registry
from cnnlab.nn.keras_file import load_keras_model, read_keras

__all__ = [
    "ENGINES",
    "LayerOutput",
    "check_engine",
    "engine_of",
    "keras_parents",
    "layer_outputs",
    "load_model",
]

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


# ---- the layer walk ----------------------------------------------------------------------
@dataclass
class LayerOutput:
    """One layer's output for one image, and where its input came from.

    Attributes:
        layer: the layer (of the model's engine); name, kind: its name and Keras class name.
        parents: the names of the tensors it takes (``"input"``: the image).
        output: its output for the image, without the batch axis.
    """

    layer: Any
    name: str
    kind: str
    parents: list[str]
    output: np.ndarray


def keras_parents(layer: Any) -> list[Any]:
    """The layers feeding ``layer`` in a Keras functional graph (its first call)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    return [
        t._keras_history.operation for t in nodes[0].input_tensors if hasattr(t, "_keras_history")
    ]


_PROBES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _keras_probe(model: Any):
    """A Keras model returning every layer's output, built once per model."""
    probe = _PROBES.get(model)
    if probe is None:
        import keras

        layers = [la for la in model.layers if registry.kind(la) != "InputLayer"]
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        probe = (layers, keras.Model(inputs=inputs, outputs=[la.output for la in layers]))
        _PROBES[model] = probe
    return probe


def layer_outputs(model: Any, x: np.ndarray) -> list[LayerOutput]:
    """Every layer's output for one image ``x`` ``(1, H, W, C)``, in the model's order, in
    inference mode, whichever engine the model is."""
    if engine_of(model) == "numpy":
        acts = model.forward_all(x, training=False)
        inbound = getattr(model, "inbound", None)
        steps, previous = [], "input"
        for layer in model.layers:
            parents = list(inbound[layer.name]) if inbound is not None else [previous]
            parents = ["input" if p == model.input_name else p for p in parents]
            out = np.asarray(acts[layer.name])[0]
            steps.append(LayerOutput(layer, layer.name, registry.kind(layer), parents, out))
            previous = layer.name
        return steps
    layers, probe = _keras_probe(model)
    outs = probe(x, training=False)
    outs = outs if isinstance(outs, list | tuple) else [outs]
    return [
        LayerOutput(
            layer,
            layer.name,
            registry.kind(layer),
            ["input" if registry.kind(p) == "InputLayer" else p.name for p in keras_parents(layer)],
            np.asarray(out)[0],
        )
        for layer, out in zip(layers, outs, strict=True)
    ]
