"""Move models between cnnlab.nn and Keras: ``from_keras(keras_model)`` and ``to_keras(model)``.

Both directions keep the layer names, the architecture and the weights exactly (the same NHWC
layout and the same ``(kh, kw, c_in, c_out)`` kernels in both engines). Supported Keras layers:
those of :data:`SUPPORTED` (the registry's: Conv2D, DepthwiseConv2D, SeparableConv2D, Dense,
pooling, global pooling, BatchNormalization, activations, Flatten, Dropout, ZeroPadding2D,
Add). A ``keras.Sequential`` or a single-chain Functional model becomes a
:class:`~cnnlab.nn.Sequential`; a Functional model with branches (one input, one output,
each layer used once) a graph :class:`~cnnlab.nn.Model`, and back. Anything else is refused
with an ``ArgumentError`` (a ``ValueError``) naming the first unsupported layer.

Keras is imported only when these functions run.

Example:
    >>> np_model = from_keras(keras_model)       # doctest: +SKIP
    >>> np_model.predict(x)                      # runs with NumPy alone  # doctest: +SKIP
    >>> keras_again = np_model.to_keras()        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from cnnlab.errors import ArgumentError
from cnnlab.nn import registry
from cnnlab.nn.functional import Model
from cnnlab.nn.layers.base import Input, InputLayer, Layer
from cnnlab.nn.model import Sequential

#: The Keras class names from_keras converts (from the registry).
SUPPORTED = tuple(registry.BY_KERAS_NAME)


def _unsupported(layer: Any) -> ArgumentError:
    return ArgumentError(
        f"from_keras: layer {layer.name!r} of type {type(layer).__name__} is not supported by "
        f"cnnlab.nn (supported: {', '.join(SUPPORTED)})"
    )


def _chain(km) -> list:
    """The model's layers in order, checking that a Functional model is one chain."""
    import keras

    if isinstance(km, keras.Sequential):
        return [layer for layer in km.layers if type(layer).__name__ != "InputLayer"]
    if not isinstance(km, keras.Model):
        raise ArgumentError(f"from_keras expects a keras.Model. Received: {type(km).__name__}")
    if len(km.inputs) != 1 or len(km.outputs) != 1:
        raise ArgumentError(
            f"from_keras: model {km.name!r} has {len(km.inputs)} inputs and {len(km.outputs)} "
            "outputs; only single-chain models (one input, one output) are supported"
        )
    out, prev = [], km.inputs[0]
    for layer in km.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        node = next(
            (
                nd
                for nd in layer._inbound_nodes
                if len(nd.input_tensors) == 1 and nd.input_tensors[0] is prev
            ),
            None,
        )
        if node is None:
            raise ArgumentError(
                f"from_keras: layer {layer.name!r} does not take the previous layer's output as "
                f"its only input; model {km.name!r} is not a single chain of layers"
            )
        out.append(layer)
        prev = node.output_tensors[0]
    if prev is not km.outputs[0]:
        raise ArgumentError(f"from_keras: model {km.name!r} is not a single chain of layers")
    return out


def _graph(km) -> tuple[str, list[tuple[Any, list[str]]]]:
    """A Functional model's input name and ``[(layer, inbound names)]`` in topological order."""
    if len(km.inputs) != 1 or len(km.outputs) != 1:
        raise ArgumentError(
            f"from_keras: model {km.name!r} has {len(km.inputs)} inputs and {len(km.outputs)} "
            "outputs; only models with one input and one output are supported"
        )
    input_name = km.inputs[0]._keras_history.operation.name
    known, graph = {input_name}, []
    for layer in km.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        nodes = [
            [t._keras_history.operation.name for t in node.input_tensors]
            for node in layer._inbound_nodes
        ]
        nodes = [names for names in nodes if names and all(n in known for n in names)]
        if len(nodes) != 1:
            raise ArgumentError(
                f"from_keras: layer {layer.name!r} is used {len(nodes)} times in model "
                f"{km.name!r}; each layer must be used exactly once"
            )
        graph.append((layer, nodes[0]))
        known.add(layer.name)
    if not graph or km.outputs[0]._keras_history.operation is not graph[-1][0]:
        raise ArgumentError(f"from_keras: model {km.name!r}'s output is not its last layer's")
    return input_name, graph


def _is_chain(input_name: str, graph) -> bool:
    previous = input_name
    for layer, names in graph:
        if list(names) != [previous]:
            return False
        previous = layer.name
    return True


def _convert(layer) -> Layer:
    """The cnnlab.nn layer for a Keras layer, from the registry."""
    if registry.BY_KERAS_NAME.get(type(layer).__name__) in (None, InputLayer):
        raise _unsupported(layer)
    config = {**layer.get_config(), "name": layer.name, "dtype": layer.dtype}
    return registry.from_keras_config(type(layer).__name__, config)


def from_keras(keras_model, seed: int | None = None) -> Sequential:
    """Build the equivalent :class:`~cnnlab.nn.Sequential` (or, for a Functional model with
    branches, :class:`~cnnlab.nn.Model`) with the same names, weights and ``trainable`` flags.

    Args:
        keras_model: a built ``keras.Sequential`` or Functional model of supported layers
            (see module docstring).
        seed: seed of the new model's generator (dropout masks, shuffling).

    Raises:
        ValueError: naming the first unsupported layer or option, or an unsupported graph.
    """
    import keras

    if isinstance(keras_model, keras.Model) and not isinstance(keras_model, keras.Sequential):
        try:
            input_name, graph = _graph(keras_model)
        except ArgumentError:
            graph = None  # not a graph of layers used once: perhaps a chain (checked below)
        if graph is not None and not _is_chain(input_name, graph):
            return _graph_from_keras(keras_model, input_name, graph, seed)
    chain = _chain(keras_model)
    shape = _input_shape(keras_model)
    model = Sequential([Input(shape=shape)], name=keras_model.name, seed=seed)
    for layer in chain:
        model.add(_convert(layer))
    for k_layer, n_layer in zip(chain, model.layers, strict=True):
        n_layer.set_weights(k_layer.get_weights())
    return model


def _input_shape(keras_model) -> tuple:
    shape = keras_model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if any(d is None for d in shape[1:]):
        raise ArgumentError(
            f"from_keras: the input shape {shape} must be fully known (apart from the batch)"
        )
    return tuple(shape[1:])


def _graph_from_keras(keras_model, input_name: str, graph, seed: int | None) -> Model:
    layers = [(_convert(layer), names) for layer, names in graph]
    inp = Input(shape=_input_shape(keras_model), name=input_name)
    model = Model(inp, layers, name=keras_model.name, seed=seed)
    for (k_layer, _), n_layer in zip(graph, model.layers, strict=True):
        n_layer.set_weights(k_layer.get_weights())
    return model


def _to_keras_layer(layer: Layer, keras):
    """The Keras layer for a cnnlab.nn layer, from the registry (same name and config)."""
    kind = type(layer).keras_name
    if kind is None or not hasattr(keras.layers, kind):
        raise ArgumentError(
            f"to_keras: layer {layer.name!r} of type {type(layer).__name__} has no Keras equivalent"
        )
    config = layer.get_config()
    args = {key: registry.tuples(config[key]) for key in registry.keras_keys(type(layer))}
    return getattr(keras.layers, kind)(
        **args, name=layer.name, dtype=layer.dtype.name, trainable=layer.trainable
    )


def to_keras(model: Sequential):
    """The equivalent ``keras.Sequential`` (a Keras Functional model for a graph
    :class:`~cnnlab.nn.Model`): same names, weights and ``trainable`` flags; not compiled."""
    import keras

    model._require_built()
    if isinstance(model, Model):
        tensors = {
            model._input.name: keras.Input(shape=model.input_shape[1:], name=model._input.name)
        }
        for layer in model.layers:
            names = model.inbound[layer.name]
            args = [tensors[n] for n in names]
            tensors[layer.name] = _to_keras_layer(layer, keras)(args[0] if len(args) == 1 else args)
        km = keras.Model(
            tensors[model._input.name], tensors[model.layers[-1].name], name=model.name
        )
        for layer in model.layers:
            km.get_layer(layer.name).set_weights(layer.get_weights())
        return km
    km = keras.Sequential(
        [keras.Input(shape=model.input_shape[1:])]
        + [_to_keras_layer(layer, keras) for layer in model.layers],
        name=model.name,
    )
    km.set_weights(model.get_weights())
    return km
