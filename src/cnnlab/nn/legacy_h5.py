"""Read a legacy Keras HDF5 model file (``model.save("x.h5")`` of Keras 2, such as fer's
``emotion_model.hdf5``) with h5py alone: no TensorFlow, no Keras.

Such a file holds the model's architecture as JSON in its ``model_config`` attribute and
each layer's weights in the ``model_weights`` group (one subgroup per layer, whose
``weight_names`` attribute lists its arrays in Keras's order). :func:`read_keras_h5` turns
the architecture into cnnlab.nn layers through the registry, as
:func:`~cnnlab.nn.from_keras` does for a live Keras model (the same Keras option checks),
and returns the weights by layer name; :func:`load_keras_h5` builds the whole model.

Example:
    >>> model = load_keras_h5("emotion_model.hdf5")     # doctest: +SKIP
    >>> model.predict(x)                                 # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.errors import ModelFileError
from cnnlab.nn.functional import Model
from cnnlab.nn.keras_config import KerasGraph, build_model, read_config
from cnnlab.nn.layers.base import Layer

__all__ = ["KerasH5", "load_keras_h5", "read_keras_h5"]


@dataclass
class KerasH5:
    """What a legacy Keras HDF5 file holds, as cnnlab.nn layers (not built).

    Attributes:
        name: the model's name.
        input_name, input_shape: its input (shape without the batch axis).
        graph: ``[(layer, inbound names)]`` in the file's (topological) order.
        weights: ``{layer name: [arrays in Keras's order]}`` for the layers with weights.
    """

    name: str
    input_name: str
    input_shape: tuple[int, ...]
    graph: list[tuple[Layer, tuple[str, ...]]]
    weights: dict[str, list[np.ndarray]]


def read_keras_h5(path: str | Path) -> KerasH5:
    """The architecture (as cnnlab.nn layers) and weights of a legacy Keras HDF5 model file.

    Raises:
        ModelFileError: not such a file (no ``model_config``, not a one-input, one-output
            Functional or Sequential model, weights missing).
        ArgumentError: a layer or option cnnlab.nn does not support, naming it.
    """
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            if raw is None or "model_weights" not in f:
                raise ModelFileError(f"{path}: not a legacy Keras HDF5 model (no model_config)")
            config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            group = f["model_weights"]
            weights = {}
            for layer_name in group:
                names = [
                    n.decode() if isinstance(n, bytes) else str(n)
                    for n in group[layer_name].attrs.get("weight_names", [])
                ]
                if names:
                    weights[layer_name] = [np.asarray(group[layer_name][n]) for n in names]
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the HDF5 file ({exc})") from None
    keras = read_config(path, config)
    for layer, _ in keras.graph:
        if layer.weight_names and layer.name not in weights:
            raise ModelFileError(f"{path}: no weights for layer {layer.name!r}")
    return KerasH5(keras.name, keras.input_name, keras.input_shape, keras.graph, weights)


def load_keras_h5(path: str | Path, seed: int | None = None) -> Model:
    """The whole model of a legacy Keras HDF5 file as a graph :class:`~cnnlab.nn.Model`, with
    its weights (without the optimizer)."""
    h5 = read_keras_h5(path)
    keras = KerasGraph(h5.name, h5.input_name, h5.input_shape, h5.graph)
    return build_model(path, keras, h5.weights, seed)
