"""Pooling layers: :class:`MaxPooling2D`, :class:`AveragePooling2D` and the global poolings
:class:`GlobalAveragePooling2D`, :class:`GlobalMaxPooling2D` (NHWC)."""

from __future__ import annotations

from typing import Any

from cnnlab import _validate
from cnnlab.nn.layers.base import Layer, padding_mode, window_output_hw
from cnnlab.ops import pool2d_backward, pool2d_forward


class _Pooling2D(Layer):
    mode = "max"
    config_keys = ("pool_size", "strides", "padding")

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _validate.int_or_pair(pool_size, "pool_size")
        self.strides = (
            self.pool_size if strides is None else _validate.int_or_pair(strides, "strides")
        )
        self.padding = padding_mode(padding)
        self._cache = None

    _input_rank = 4

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        ho, wo = window_output_hw(self, input_shape, self.pool_size)
        return (n, ho, wo, c)

    def forward(self, x, training=False):
        y, cache = pool2d_forward(
            x, self.pool_size, stride=self.strides, padding=self.padding, mode=self.mode
        )
        self._cache = cache if training else None
        return y

    def backward(self, dy, need_dx=True):
        if self._cache is None:
            raise self._no_cache()
        return pool2d_backward(dy, self._cache)


class MaxPooling2D(_Pooling2D):
    """Max pooling over (pool_h, pool_w) windows; ``strides`` defaults to ``pool_size``.

    Args:
        pool_size: int or pair, default (2, 2).
        strides: int, pair or None (= pool_size).
        padding: "valid" or "same" (TF rule; padded cells never win the max).

    Shapes: (N, H, W, C) -> (N, H_out, W_out, C).
    """

    default_name = "max_pooling2d"
    keras_name = "MaxPooling2D"
    mode = "max"


class AveragePooling2D(_Pooling2D):
    """Average pooling; with "same" padding only real cells are averaged (as Keras).

    Args and shapes as :class:`MaxPooling2D`.
    """

    default_name = "average_pooling2d"
    keras_name = "AveragePooling2D"
    mode = "average"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class _GlobalPooling2D(Layer):
    mode = "max"
    config_keys = ("keepdims",)

    def __init__(self, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.keepdims = bool(keepdims)
        self._cache = None

    _input_rank = 4

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def forward(self, x, training=False):
        # One window covering the whole map: the pooling op's own max (first maximum gets
        # the gradient, as TensorFlow) or mean.
        y, cache = pool2d_forward(x, x.shape[1:3], mode=self.mode)
        self._cache = cache if training else None
        return y if self.keepdims else y.reshape(y.shape[0], y.shape[3])

    def backward(self, dy, need_dx=True):
        if self._cache is None:
            raise self._no_cache()
        return pool2d_backward(dy.reshape(dy.shape[0], 1, 1, dy.shape[-1]), self._cache)


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel over the whole map (Keras's ``GlobalAveragePooling2D``).

    Args:
        keepdims: keep the height and width axes (as 1), default False.

    Shapes: (N, H, W, C) -> (N, C), or (N, 1, 1, C) with ``keepdims``.
    """

    default_name = "global_average_pooling2d"
    keras_name = "GlobalAveragePooling2D"
    mode = "average"


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel over the whole map (Keras's ``GlobalMaxPooling2D``).

    Args and shapes as :class:`GlobalAveragePooling2D`.
    """

    default_name = "global_max_pooling2d"
    keras_name = "GlobalMaxPooling2D"
    mode = "max"


GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
