"""``Model``: a graph of layers (Keras's Functional model) for networks with branches, such as
residual blocks, with the same compile, fit, evaluate, predict, summary and save as
:class:`~cnnlab.nn.Sequential`, which it extends.

A graph is an input and a list of ``(layer, inbound)`` pairs in topological order: each
layer takes the tensors named in ``inbound`` (a layer's output tensor has the layer's name,
the model's input the input's name); the last layer's output is the model's output. A
merging layer (:class:`~cnnlab.nn.Add`) takes several. How the layers run, and how the
gradients of a tensor used twice are added, is the model's
:class:`~cnnlab.nn.plan.GraphPlan`.

Example:
    >>> from cnnlab import nn
    >>> inp = nn.Input(shape=(8, 8, 2), name="image")
    >>> model = nn.Model(inp, [
    ...     (nn.Conv2D(4, 3, padding="same", name="conv"), ["image"]),
    ...     (nn.SeparableConv2D(4, 3, padding="same", name="branch"), ["conv"]),
    ...     (nn.Add(name="residual"), ["conv", "branch"]),
    ...     (nn.GlobalAveragePooling2D(name="gap"), ["residual"]),
    ...     (nn.Dense(3, activation="softmax", name="probs"), ["gap"]),
    ... ], seed=0)
    >>> model.output_shape
    (None, 3)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.nn.fitting import check_seed
from cnnlab.nn.layers.base import InputLayer, Layer, unique_name
from cnnlab.nn.model import Sequential
from cnnlab.nn.plan import GraphPlan
from cnnlab.nn.registry import deserialize, serialize

__all__ = ["Model"]


class Model(Sequential):
    """A graph of layers with one input and one output (Keras's Functional model).

    Args:
        input: the model's input, an :func:`~cnnlab.nn.Input`.
        graph: ``[(layer, [inbound tensor names]), ...]`` in topological order; the last
            layer's output is the model's output.
        name, seed, dtype: as :class:`~cnnlab.nn.Sequential`.

    ``layers`` lists the layers in graph order (without the input); ``inbound`` maps each
    layer's name to the names of its input tensors.
    """

    def __init__(
        self,
        input: InputLayer,  # noqa: A002 - Keras's name
        graph: Iterable[tuple[Layer, list[str]]],
        name: str | None = None,
        seed: int | None = None,
        dtype: Any = None,
    ):
        super().__init__(
            None,
            name=name if name is not None else unique_name("functional"),
            seed=seed,
            dtype=dtype,
        )
        if not isinstance(input, InputLayer):
            raise ArgumentError(
                f"A Model's input must be an nn.Input(shape=...). Received: {input!r}"
            )
        self._input = input
        self._apply_dtype(input)
        self.inbound: dict[str, tuple[str, ...]] = {}
        known = {input.name}
        for item in graph:
            layer, names = _entry(item)
            if not isinstance(layer, Layer) or isinstance(layer, InputLayer):
                raise ArgumentError(f"Model {self.name!r}: not a layer: {layer!r}")
            if layer.name in known:
                raise ArgumentError(
                    f"Model {self.name!r}: the name {layer.name!r} is used twice; layer "
                    "names must be unique (a layer is used once in a graph)"
                )
            unknown = [n for n in names if n not in known]
            if unknown or not names:
                raise ArgumentError(
                    f"Model {self.name!r}: layer {layer.name!r} takes {list(names)}, but "
                    f"{unknown or 'nothing'} is not the input or an earlier layer "
                    f"(known: {sorted(known)}); list the layers in topological order"
                )
            if len(names) > 1 and not getattr(layer, "multiple_inputs", False):
                raise ArgumentError(
                    f"Model {self.name!r}: layer {layer.name!r} ({type(layer).__name__}) "
                    f"takes one input. Received: {list(names)}"
                )
            self._apply_dtype(layer)
            self._layers.append(layer)
            self.inbound[layer.name] = names
            known.add(layer.name)
        if not self._layers:
            raise ArgumentError(f"Model {self.name!r} needs at least one layer")
        used = {n for names in self.inbound.values() for n in names}
        dangling = [lay.name for lay in self._layers[:-1] if lay.name not in used]
        if dangling:
            raise ArgumentError(
                f"Model {self.name!r}: the outputs of {dangling} are used by no layer; "
                "a Model has one output, the last layer's"
            )
        self._build_layers()

    def add(self, layer: Layer) -> None:
        raise ArgumentError("A graph Model is given all its layers at once; it has no add()")

    def _build_layers(self) -> None:
        shapes = {self._input.name: (None, *self._input.shape)}
        for layer in self._layers:
            names = self.inbound[layer.name]
            given = [shapes[n] for n in names]
            shape = given[0] if len(given) == 1 else given
            if not layer.built:
                layer.build(shape, self._rng)
            elif layer.input_shape != shape:
                raise ArgumentError(
                    f"Layer {layer.name!r} was built for inputs {layer.input_shape}, "
                    f"but receives {shape} in model {self.name!r}"
                )
            shapes[layer.name] = layer.output_shape

    @property
    def output_shape(self) -> tuple:
        self._require_built()
        return self._layers[-1].output_shape

    @property
    def plan(self) -> GraphPlan:
        """How the model runs its graph (a :class:`~cnnlab.nn.plan.GraphPlan`)."""
        self._require_built()
        if self._plan is None:
            inbound = [self.inbound[layer.name] for layer in self._layers]
            self._plan = GraphPlan.build_graph(self._layers, inbound, self._input.name, self.loss)
        return self._plan

    def forward_all(self, x: Any, training: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output for ``x``: ``{layer name: array (N, ...)}``, in graph order."""
        return self.plan.forward_all(self._prepare_x(x), training=training)

    def get_config(self) -> dict:
        """The graph as JSON-friendly data: the Input, then each layer with its inbound names."""
        return {
            "name": self.name,
            "seed": self.seed,
            "layers": [serialize(self._input)] + [serialize(lay) for lay in self._layers],
            "inbound": [list(self.inbound[lay.name]) for lay in self._layers],
        }

    @classmethod
    def from_config(cls, config: dict) -> Model:
        """The model ``get_config()`` described, built, its sizes checked first (as
        :meth:`Sequential.from_config <cnnlab.nn.Sequential.from_config>`)."""
        from cnnlab.nn.saving import check_graph_sizes

        ok = (
            isinstance(config, dict)
            and isinstance(config.get("layers"), list)
            and isinstance(config.get("inbound"), list)
            and len(config["layers"]) == len(config["inbound"]) + 1
            and all(
                isinstance(names, list) and all(isinstance(n, str) for n in names)
                for names in config["inbound"]
            )
        )
        if not ok:
            raise ArgumentError(
                'A Model config must be a dict with a "layers" list (the Input first) and an '
                f'"inbound" list of name lists, one per layer. Received: {str(config)[:200]}'
            )
        name, seed = config.get("name"), check_seed(config.get("seed"))
        if name is not None and not isinstance(name, str):
            raise ArgumentError(f"The model name must be a string. Received: name={name!r}")
        layers = [deserialize(item) for item in config["layers"]]
        if not isinstance(layers[0], InputLayer):
            raise ArgumentError("A Model config's first layer must be its InputLayer")
        inbound = [tuple(names) for names in config["inbound"]]
        check_graph_sizes(layers, inbound)
        return cls(layers[0], list(zip(layers[1:], inbound, strict=True)), name=name, seed=seed)

    def to_keras(self):
        """The equivalent Keras Functional model with the same weights (imports Keras)."""
        from cnnlab.nn.interop import to_keras

        return to_keras(self)

    def __repr__(self) -> str:
        return f"<Model name={self.name} layers={len(self._layers)} built={self.built}>"


def _entry(item: Any) -> tuple[Any, tuple[str, ...]]:
    try:
        layer, names = item
    except (TypeError, ValueError):
        raise ArgumentError(
            f"A graph entry must be (layer, [inbound names]). Received: {item!r}"
        ) from None
    if isinstance(names, str):
        names = [names]
    return layer, tuple(names)
