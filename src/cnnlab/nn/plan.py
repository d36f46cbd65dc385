"""How a :class:`~cnnlab.nn.Sequential` runs its layers: the :class:`Plan`.

A model decides three things about its layers that no layer decides alone, and writes none
of them into the layers: they are this plan, which the model builds when it is compiled (or
first used) and passes along on every step.

- **Run order** (:func:`run_order`): the layers as declared, except that a ReLU directly
  followed by a max pooling runs after it (the two commute; pooling first is cheaper).
- **Fused output**: when the last layer's activation is the one the loss takes logits for
  (sigmoid with binary, softmax with categorical cross-entropy), the model runs that layer's
  ``forward_logits`` / ``backward_logits`` and the loss works from the logits: exact where
  the probabilities round to 0 or 1, and one pass cheaper.
- **Where backward stops**: at the first layer with weights, which is asked for no input
  gradient (``need_dx=False``): nothing below it would use one.

Example:
    >>> from cnnlab import nn
    >>> model = nn.Sequential([nn.Input(shape=(4,)), nn.Dense(3, activation="softmax")])
    >>> model.compile(loss="sparse_categorical_crossentropy")
    >>> model.plan.fused
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.nn import activations
from cnnlab.nn.layers.base import ActivatedLayer, Layer
from cnnlab.nn.layers.core import Activation
from cnnlab.nn.layers.pooling import MaxPooling2D


def run_order(layers: list[Layer]) -> list[Layer]:
    """The order in which a model runs its layers: as given, except that a ReLU directly
    followed by a max pooling runs after the pooling.

    The two commute exactly: ``max(relu(z)) == relu(max(z))``, and the gradient reaches
    the same input element either way (the first maximum of the window when it is
    positive, nothing otherwise). Pooling first makes the ReLU's work smaller by the
    pooling's factor and keeps the ReLU's zeros, which tie in every dead window, out
    of the pooling.
    """
    order = list(layers)
    i = 0
    while i + 1 < len(order):
        relu, pool = order[i], order[i + 1]
        if (
            isinstance(relu, Activation)
            and relu.activation == "relu"
            and isinstance(pool, MaxPooling2D)
        ):
            order[i], order[i + 1] = pool, relu
            i += 2
        else:
            i += 1
    return order


@dataclass(frozen=True)
class Plan:
    """The run order, the fused output and the backward stop of a stack of layers.

    Attributes:
        order: the layers in the order they run (see :func:`run_order`).
        loss: the loss the plan was made for (None: inference only).
        fused: whether the last layer's activation is computed together with the loss, from
            its logits.
        stop: the position in ``order`` of the first layer with weights, where backward
            stops (that layer is asked for no input gradient); 0 without weights.
    """

    order: tuple[Layer, ...]
    loss: Any = None
    fused: bool = False
    stop: int = 0

    @classmethod
    def build(cls, layers: list[Layer], loss: Any = None, fuse: bool = True) -> Plan:
        """The plan of built ``layers`` (declared order) for ``loss`` (a
        :class:`~cnnlab.nn.losses.Loss`, or None). ``fuse=False`` never fuses."""
        order = tuple(run_order(layers))
        last = order[-1] if order else None
        fused = (
            fuse
            and loss is not None
            and isinstance(last, ActivatedLayer)
            and not loss.from_logits
            and last.activation == loss.fused_activation
        )
        stop = next((i for i, layer in enumerate(order) if layer.weights), 0)
        return cls(order, loss, bool(fused), stop)

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The output of the layers for ``x``."""
        for layer in self.order:
            x = layer.forward(x, training=training)
        return x

    def forward_with_logits(
        self, x: np.ndarray, training: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``(output, logits)``: the logits of the last layer when the plan is fused (what
        :meth:`loss_and_grad` and :meth:`backward` take), else None."""
        if not self.fused:
            return self.forward(x, training), None
        for layer in self.order[:-1]:
            x = layer.forward(x, training=training)
        last = self.order[-1]
        logits = last.forward_logits(x, training=training)
        return activations.forward(last.activation, logits.copy()), logits

    def loss_and_grad(
        self, y: Any, out: np.ndarray, logits: np.ndarray | None, sample_weight: Any = None
    ) -> tuple[float, np.ndarray]:
        """The loss and its gradient: with respect to the logits when fused, else to the
        output."""
        if self.fused:
            return self.loss.forward_backward(y, logits, logits=True, sample_weight=sample_weight)
        return self.loss.forward_backward(y, out, sample_weight=sample_weight)

    def backward(self, grad: np.ndarray) -> None:
        """Run backward from :meth:`loss_and_grad`'s gradient down to :attr:`stop`, each
        layer adding into its weights' gradients (zero them first)."""
        layers = self.order[self.stop :]
        top = len(layers) - 1
        for i in range(top, -1, -1):
            layer = layers[i]
            if i == top and self.fused:
                grad = layer.backward_logits(grad, need_dx=i != 0)
            else:
                grad = layer.backward(grad, need_dx=i != 0)

    def lines(self) -> list[str]:
        """The plan in words, one line per decision."""
        out = ["Run order: " + (" -> ".join(layer.name for layer in self.order) or "(none)")]
        if self.fused:
            last = self.order[-1]
            out.append(f"Fused with the loss: {last.name}'s {last.activation} (from logits)")
        if self.order:
            out.append(f"Backward stops at: {self.order[self.stop].name} (no input gradient)")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


@dataclass(frozen=True)
class GraphPlan(Plan):
    """The plan of a graph model (:class:`~cnnlab.nn.Model`): the layers in topological
    order, each with the names of the tensors it takes (a layer's output tensor has the
    layer's name; the model's input has the input's name).

    Forward keeps each tensor until the model's output is computed; backward runs the
    layers in reverse order and, micrograd-style, *adds* the gradients that reach one tensor
    from several consumers (a residual block's input gets its branch's and the shortcut's).
    A layer none of whose inputs leads back to a weight is asked for no input gradient, and
    a layer with no weight at or below it is not run backward at all.

    Attributes (beyond :class:`Plan`'s): inbound: for each layer of ``order``, the names of
    its input tensors; input_name: the model input's name.
    """

    inbound: tuple[tuple[str, ...], ...] = ()
    input_name: str = ""

    @classmethod
    def build_graph(
        cls, layers: list[Layer], inbound: list[list[str]], input_name: str, loss: Any = None
    ) -> GraphPlan:
        """The plan of built ``layers`` in topological order (the last one the output)."""
        order = tuple(layers)
        last = order[-1] if order else None
        fused = (
            loss is not None
            and isinstance(last, ActivatedLayer)
            and not loss.from_logits
            and last.activation == loss.fused_activation
        )
        stop = next((i for i, layer in enumerate(order) if layer.weights), 0)
        return cls(order, loss, bool(fused), stop, tuple(map(tuple, inbound)), input_name)

    def _inputs(self, tensors: dict, names: tuple[str, ...]):
        return tensors[names[0]] if len(names) == 1 else [tensors[n] for n in names]

    def _run(self, x: np.ndarray, training: bool, fused: bool):
        tensors = {self.input_name: x}
        logits = None
        top = len(self.order) - 1
        for i, (layer, names) in enumerate(zip(self.order, self.inbound, strict=True)):
            inputs = self._inputs(tensors, names)
            if i == top and fused:
                logits = layer.forward_logits(inputs, training=training)
                tensors[layer.name] = activations.forward(layer.activation, logits.copy())
            else:
                tensors[layer.name] = layer.forward(inputs, training=training)
        out = tensors[self.order[-1].name] if self.order else x
        return out, logits, tensors

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        return self._run(x, training, False)[0]

    def forward_all(self, x: np.ndarray, training: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output, by layer name, in run order."""
        tensors = self._run(x, training, False)[2]
        return {layer.name: tensors[layer.name] for layer in self.order}

    def forward_with_logits(self, x, training=False):
        out, logits, _ = self._run(x, training, self.fused)
        return out, logits

    def _needs_grad(self) -> dict[str, bool]:
        """For every tensor, whether a trainable weight lies at or below it (its gradient is
        used): backward skips a frozen backbone below the trainable layers. Read at each
        backward, so it follows changes of ``trainable``."""
        needs = {self.input_name: False}
        for layer, names in zip(self.order, self.inbound, strict=True):
            needs[layer.name] = bool(layer.trainable_weights) or any(needs[n] for n in names)
        return needs

    def backward(self, grad: np.ndarray) -> None:
        needs = self._needs_grad()
        grads: dict[str, np.ndarray] = {self.order[-1].name: grad} if self.order else {}
        top = len(self.order) - 1
        for i in range(top, -1, -1):
            layer, names = self.order[i], self.inbound[i]
            dy = grads.pop(layer.name, None)
            if dy is None or not needs[layer.name]:
                continue
            need_dx = any(needs[n] for n in names)
            if i == top and self.fused:
                dx = layer.backward_logits(dy, need_dx=need_dx)
            else:
                dx = layer.backward(dy, need_dx=need_dx)
            if not need_dx:
                continue
            parts = [dx] if len(names) == 1 else dx
            for name, part in zip(names, parts, strict=True):
                if needs[name]:
                    # a new array: a merging layer hands the same dy to each of its inputs
                    grads[name] = part if name not in grads else grads[name] + part

    def lines(self) -> list[str]:
        out = super().lines()
        merges = [
            f"{layer.name} <- {' + '.join(names)}"
            for layer, names in zip(self.order, self.inbound, strict=True)
            if len(names) > 1
        ]
        if merges:
            out.append("Merges: " + "; ".join(merges))
        return out
