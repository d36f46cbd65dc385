"""Merging layers: :class:`Add`, the sum of several inputs (Keras's ``Add``).

A merging layer takes a list of inputs, so it runs inside a graph model
(:class:`~cnnlab.nn.Model`), not a ``Sequential``. Its contract is the layer contract with
lists: ``build([shape, ...])``, ``forward([x, ...]) -> y`` and ``backward(dy) -> [dx, ...]``,
one gradient per input. The graph model adds up the gradients that reach one tensor from
several consumers (a residual branch's input gets both).

Example:
    >>> import numpy as np
    >>> add = Add()
    >>> add([np.ones((2, 3)), 2 * np.ones((2, 3))])[0]
    array([3., 3., 3.], dtype=float32)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.nn.layers.base import Layer


class Add(Layer):
    """The element-wise sum of two or more inputs of the same shape.

    Shapes: [(N, ...), (N, ...), ...] -> (N, ...).
    """

    default_name = "add"
    keras_name = "Add"
    multiple_inputs = True

    def _check_input(self, input_shape):
        shapes = list(input_shape)
        if len(shapes) < 2 or not all(isinstance(s, tuple | list) for s in shapes):
            raise ArgumentError(
                f"Layer {self.name!r} should be called on a list of at least 2 inputs. "
                f"Received: input_shape={input_shape}"
            )
        if any(tuple(s[1:]) != tuple(shapes[0][1:]) for s in shapes):
            raise ArgumentError(
                f"Inputs of layer {self.name!r} must have the same shape. "
                f"Received: input shapes {[tuple(s) for s in shapes]}"
            )

    def build(self, input_shape, rng=None) -> None:
        shapes = [tuple(s) for s in input_shape]
        self._check_input(shapes)
        self.input_shape = shapes
        self.output_shape = shapes[0]
        self.built = True

    def plan(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        self._check_input(shapes)
        return shapes[0], []

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def forward(self, x: list[np.ndarray], training: bool = False) -> np.ndarray:
        y = x[0] + x[1]
        for more in x[2:]:
            y += more
        self._count = len(x) if training else None
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> list[np.ndarray]:
        """The same gradient for every input (do not modify it in place)."""
        if getattr(self, "_count", None) is None:
            raise self._no_cache()
        return [dy] * self._count

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        xs = [np.asarray(v, dtype=self.dtype) for v in x]
        if not self.built:
            self.build([(None, *v.shape[1:]) for v in xs])
        return self.forward(xs, training=training)
