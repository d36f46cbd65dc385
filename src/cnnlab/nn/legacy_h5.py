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
from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError, ModelFileError
from cnnlab.nn import registry
from cnnlab.nn.functional import Model
from cnnlab.nn.layers.base import Input, InputLayer, Layer

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


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _layer(item: dict) -> Layer:
    kind, cfg = item.get("class_name"), item.get("config") or {}
    name = cfg.get("name", item.get("name"))
    cls = registry.BY_KERAS_NAME.get(kind)
    if cls is None or cls is InputLayer:
        raise ArgumentError(
            f"layer {name!r} of type {kind} is not supported by cnnlab.nn "
            f"(supported: {', '.join(registry.BY_KERAS_NAME)})"
        )
    registry.check_keras_options(name, kind, cfg)
    args = {key: _tuples(cfg[key]) for key in registry.keras_keys(cls) if key in cfg}
    try:
        return cls(**args, name=name, trainable=bool(cfg.get("trainable", True)))
    except ArgumentError as exc:
        raise ArgumentError(f"layer {name!r} ({kind}): {exc}") from None


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
    return _graph(path, config, weights)


def _graph(path: Path, config: dict, weights: dict) -> KerasH5:
    body = config.get("config") if isinstance(config, dict) else None
    items = body.get("layers") if isinstance(body, dict) else None
    if config.get("class_name") not in ("Model", "Functional") or not isinstance(items, list):
        raise ModelFileError(
            f"{path}: only Functional models are read (got {config.get('class_name')!r})"
        )
    first = items[0] if items else {}
    if first.get("class_name") != "InputLayer" or len(body.get("input_layers", [])) != 1:
        raise ModelFileError(f"{path}: the model must have one input, its first layer")
    shape = first["config"].get("batch_input_shape") or first["config"].get("batch_shape")
    graph = []
    for item in items[1:]:
        nodes = item.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ModelFileError(f"{path}: layer {item.get('name')!r} is used {len(nodes)} times")
        graph.append((_layer(item), tuple(entry[0] for entry in nodes[0])))
    for layer, _ in graph:
        if layer.weight_names and layer.name not in weights:
            raise ModelFileError(f"{path}: no weights for layer {layer.name!r}")
    return KerasH5(
        name=str(body.get("name", path.stem)),
        input_name=str(first["config"].get("name", first.get("name"))),
        input_shape=tuple(int(d) for d in shape[1:]),
        graph=graph,
        weights=weights,
    )


def load_keras_h5(path: str | Path, seed: int | None = None) -> Model:
    """The whole model of a legacy Keras HDF5 file as a graph :class:`~cnnlab.nn.Model`, with
    its weights (without the optimizer)."""
    h5 = read_keras_h5(path)
    model = Model(
        Input(shape=h5.input_shape, name=h5.input_name), h5.graph, name=h5.name, seed=seed
    )
    for layer in model.layers:
        if layer.name in h5.weights:
            layer.set_weights(h5.weights[layer.name])
    return model
