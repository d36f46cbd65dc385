"""Reshaping layers: :class:`Flatten` and :class:`ZeroPadding2D`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn.layers.base import Layer
from cnnlab.ops import resolve_padding


class Flatten(Layer):
    """Flatten every axis but the batch axis: (N, H, W, C) -> (N, H*W*C), in C order as Keras."""

    default_name = "flatten"
    keras_name = "Flatten"

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        return dy.reshape(self._shape)


class ZeroPadding2D(Layer):
    """Pad images with zeros on the height and width axes.

    Args:
        padding: int (all four sides), a pair ``(ph, pw)`` (symmetric), or
            ``((top, bottom), (left, right))``. Keras's default is 1 on every side.

    Shapes: (N, H, W, C) -> (N, H + top + bottom, W + left + right, C).
    """

    default_name = "zero_padding2d"
    keras_name = "ZeroPadding2D"
    config_keys = ("padding",)

    def __init__(self, padding: Any = (1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = self._normalize(padding)

    @staticmethod
    def _normalize(padding):
        """((top, bottom), (left, right)) from any amount of zeros :func:`_validate.padding_spec`
        reads (``2``, ``(1, 2)``, ``"1x2"``, a pair of pairs), but not the words
        "valid"/"same" (which name no amount of zeros); ops.resolve_padding does the rest."""
        try:
            spec = _validate.padding_spec(padding)
        except ArgumentError:
            spec = None
        if spec is None or isinstance(spec, str):
            raise ArgumentError(
                "`padding` should be either an int, a tuple of 2 ints (symmetric_height_pad, "
                "symmetric_width_pad), or a tuple of 2 tuples of 2 ints ((top_pad, bottom_pad), "
                f"(left_pad, right_pad)), all non-negative. Received: padding={padding!r}"
            )
        return resolve_padding(spec, (1, 1), (1, 1), (1, 1))

    _input_rank = 4

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        (t, b), (l, r) = self.padding
        return (n, h + t + b, w + l + r, c)

    def forward(self, x, training=False):
        (t, b), (l, r) = self.padding
        n, h, w, c = x.shape
        y = np.zeros((n, h + t + b, w + l + r, c), dtype=x.dtype)
        y[:, t : t + h, l : l + w, :] = x
        self._hw = (h, w)
        return y

    def backward(self, dy, need_dx=True):
        (t, _), (l, _) = self.padding
        h, w = self._hw
        return dy[:, t : t + h, l : l + w, :]
