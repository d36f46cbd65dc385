"""A saved Keras model's architecture (the JSON a ``.keras`` file keeps in ``config.json``, or
a legacy ``.h5`` file in its ``model_config`` attribute) as cnnlab.nn layers, with no Keras.

Both files describe a model the same way: a ``Sequential`` (a list of layer configs) or a
``Functional`` model (layer configs, each with the layers it takes its input from). Keras 3
writes each input as ``{"class_name": "__keras_tensor__", "config": {"keras_history":
[layer, node, tensor]}}``, Keras 2 as ``[layer, node, tensor, kwargs]``; :func:`inbound`
reads both. Each layer becomes its cnnlab.nn twin through
:func:`cnnlab.nn.registry.from_keras_config`, the same function ``from_keras`` uses for a
live Keras model. Data-augmentation layers (the identity at inference) are left out.

:func:`read_config` gives a :class:`KerasGraph`; :func:`build_model` makes it a model with
its weights: a :class:`~cnnlab.nn.Sequential` for a chain of layers (as ``from_keras`` does),
a graph :class:`~cnnlab.nn.Model` for one with branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.errors import ModelFileError
from cnnlab.nn import registry
from cnnlab.nn.functional import Model
from cnnlab.nn.layers.base import Input, Layer
from cnnlab.nn.model import Sequential

__all__ = ["KerasGraph", "build_model", "inbound", "read_config"]


@dataclass
class KerasGraph:
    """A Keras model's architecture as cnnlab.nn layers (not built).

    Attributes:
        name: the model's name.
        input_name, input_shape: its input (shape without the batch axis).
        graph: ``[(layer, inbound names)]`` in topological order; the last layer's output is
            the model's output.
    """

    name: str
    input_name: str
    input_shape: tuple[int, ...]
    graph: list[tuple[Layer, tuple[str, ...]]]

    @property
    def is_chain(self) -> bool:
        """Whether each layer takes the previous one's output (a Sequential)."""
        previous = self.input_name
        for layer, names in self.graph:
            if names != (previous,):
                return False
            previous = layer.name
        return True


def _tensor_name(arg: Any) -> list[str]:
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        return [str(arg["config"]["keras_history"][0])]
    if isinstance(arg, list | tuple):
        return [name for item in arg for name in _tensor_name(item)]
    return []


def inbound(node: Any) -> tuple[str, ...]:
    """The names of the layers a Functional layer's node takes its inputs from."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        return tuple(_tensor_name(node.get("args", [])))
    if isinstance(node, list):  # Keras 2: [[layer, node, tensor, kwargs], ...]
        return tuple(str(entry[0]) for entry in node if isinstance(entry, list) and entry)
    return ()


def _shape(path: Path, config: dict) -> tuple[int, ...] | None:
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    if shape is None:
        return None
    if not isinstance(shape, list) or any(not isinstance(d, int) for d in shape[1:]):
        raise ModelFileError(
            f"{path}: the model's input shape {shape} must be fully known (apart from the batch)"
        )
    return tuple(shape[1:])


def _config_of(item: dict) -> dict:
    cfg = dict(item.get("config") or {})
    cfg.setdefault("name", item.get("name"))
    return cfg


def read_config(path: str | Path, config: Any) -> KerasGraph:
    """The :class:`KerasGraph` of a saved Keras model config.

    Raises:
        ModelFileError: not a Sequential or Functional model of one input and one output,
            a layer used twice, an input shape not fully known.
        ArgumentError: a layer or option cnnlab.nn does not compute, naming it.
    """
    path = Path(path)
    kind = config.get("class_name") if isinstance(config, dict) else None
    body = config.get("config") if isinstance(config, dict) else None
    items = body.get("layers") if isinstance(body, dict) else None
    if kind not in ("Sequential", "Functional", "Model") or not isinstance(items, list):
        raise ModelFileError(
            f"{path}: only Sequential and Functional models are read (got {kind!r})"
        )
    name = str(body.get("name") or path.stem)
    if kind == "Sequential":
        return _sequential(path, name, config, items)
    return _functional(path, name, body, items)


def _sequential(path: Path, name: str, config: dict, items: list) -> KerasGraph:
    shape = None
    if items and items[0].get("class_name") == "InputLayer":
        shape = _shape(path, _config_of(items[0]))
        items = items[1:]
    if shape is None:  # older files: the build shape instead of an InputLayer
        build = config.get("build_config") or config["config"]
        built = build.get("input_shape") or build.get("build_input_shape")
        shape = _shape(path, {"batch_shape": built})
    if shape is None:
        raise ModelFileError(f"{path}: the Sequential model has no input shape (never built)")
    graph, previous = [], "input"
    for item in items:
        if registry.is_augmentation(str(item.get("class_name"))):
            continue
        layer = registry.from_keras_config(item.get("class_name"), _config_of(item))
        graph.append((layer, (previous,)))
        previous = layer.name
    return KerasGraph(name, "input", shape, graph)


def _functional(path: Path, name: str, body: dict, items: list) -> KerasGraph:
    ins, outs = body.get("input_layers") or [], body.get("output_layers") or []
    ins = [ins] if ins and not isinstance(ins[0], list) else ins
    outs = [outs] if outs and not isinstance(outs[0], list) else outs
    if len(ins) != 1 or len(outs) != 1:
        raise ModelFileError(
            f"{path}: the model has {len(ins)} inputs and {len(outs)} outputs; cnnlab.nn reads "
            "models with one of each"
        )
    input_name = str(ins[0][0])
    first = next((it for it in items if it.get("class_name") == "InputLayer"), None)
    shape = _shape(path, _config_of(first)) if first is not None else None
    if shape is None:
        raise ModelFileError(f"{path}: the model's input layer has no shape")
    rename: dict[str, str] = {}  # an augmentation layer's name -> the tensor it passes on
    graph = []
    for item in items:
        kind = str(item.get("class_name"))
        layer_name = str(_config_of(item).get("name"))
        if kind == "InputLayer":
            continue
        nodes = item.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ModelFileError(
                f"{path}: layer {layer_name!r} is used {len(nodes)} times; cnnlab.nn reads "
                "models whose layers are each used once"
            )
        names = tuple(rename.get(n, n) for n in inbound(nodes[0]))
        if registry.is_augmentation(kind):
            rename[layer_name] = names[0]
            continue
        graph.append((registry.from_keras_config(kind, _config_of(item)), names))
    output = rename.get(str(outs[0][0]), str(outs[0][0]))
    if not graph or graph[-1][0].name != output:
        raise ModelFileError(f"{path}: the model's output is not its last layer's")
    return KerasGraph(name, input_name, shape, graph)


def build_model(
    path: str | Path,
    keras: KerasGraph,
    weights: dict[str, list[np.ndarray]],
    seed: int | None = None,
) -> Sequential:
    """The model of ``keras`` with ``weights`` (``{layer name: [arrays in Keras's order]}``):
    a :class:`~cnnlab.nn.Sequential` for a chain, else a graph :class:`~cnnlab.nn.Model`.

    Raises:
        ModelFileError: a layer's weights are missing or of the wrong shape, naming it.
    """
    if keras.is_chain:
        model = Sequential(
            [Input(shape=keras.input_shape, name=keras.input_name)], name=keras.name, seed=seed
        )
        for layer, _ in keras.graph:
            model.add(layer)
    else:
        model = Model(
            Input(shape=keras.input_shape, name=keras.input_name),
            keras.graph,
            name=keras.name,
            seed=seed,
        )
    for layer in model.layers:
        if not layer.weight_names:
            continue
        if layer.name not in weights:
            raise ModelFileError(f"{path}: no weights for layer {layer.name!r}")
        try:
            layer.set_weights(weights[layer.name])
        except ValueError as exc:
            raise ModelFileError(f"{path}: layer {layer.name!r}: {exc}") from None
    return model
