"""Convolution layers: :class:`Conv2D` (NHWC, Keras's arguments and weight layout)."""

from __future__ import annotations

from typing import Any

from cnnlab import _validate
from cnnlab.nn import activations
from cnnlab.nn import initializers as inits
from cnnlab.nn.layers.base import (
    ActivatedLayer,
    padding_mode,
    window_output_hw,
)
from cnnlab.ops import conv2d_backward, conv2d_forward


class Conv2D(ActivatedLayer):
    """2D convolution over NHWC images, with bias and an optional fused activation.

    Args:
        filters: number of output channels (> 0).
        kernel_size: int or pair (kh, kw).
        strides: int or pair, default 1.
        padding: "valid" (no padding) or "same" (output size = ceil(input / stride), TF rule).
        activation: None, "relu", "sigmoid", "softmax", "tanh" or "linear".
        use_bias: add a bias (default True).
        kernel_initializer: default "glorot_uniform"; bias_initializer: default "zeros".

    Shapes:
        input (N, H, W, C_in) -> output (N, H_out, W_out, filters);
        kernel (kh, kw, C_in, filters), bias (filters,).

    Example:
        >>> Conv2D(32, 7, strides=1, padding="valid")  # doctest: +ELLIPSIS
        <Conv2D name=... built=False>
    """

    default_name = "conv2d"
    keras_name = "Conv2D"
    config_keys = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "activation",
        "use_bias",
        "kernel_initializer",
        "bias_initializer",
    )
    keras_keys = ("filters", "kernel_size", "strides", "padding", "activation", "use_bias")
    weight_names = ("kernel", "bias")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validate.positive_int(filters, "filters")
        self.kernel_size = _validate.int_or_pair(kernel_size, "kernel_size")
        self.strides = _validate.int_or_pair(strides, "strides")
        self.padding = padding_mode(padding)
        self.activation = activations.normalize(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = inits.get(kernel_initializer)
        self.bias_initializer = inits.get(bias_initializer)
        self._cache = None
        self._y = None

    _input_rank = 4

    def _weight_shapes(self, input_shape):
        kernel = (*self.kernel_size, int(input_shape[-1]), self.filters)
        return [kernel, (self.filters,)] if self.use_bias else [kernel]

    def _build(self, input_shape, rng):
        c_in = input_shape[-1]
        self.kernel = self.add_weight(
            "kernel", (*self.kernel_size, c_in, self.filters), self.kernel_initializer, rng
        )
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer, rng)
        else:
            self.bias = None

    def compute_output_shape(self, input_shape):
        n, _, _, _ = input_shape
        ho, wo = window_output_hw(self, input_shape, self.kernel_size)
        return (n, ho, wo, self.filters)

    def forward_logits(self, x, training=False):
        b = self.bias.value if self.use_bias else None
        z, cache = conv2d_forward(
            x, self.kernel.value, b, stride=self.strides, padding=self.padding
        )
        self._cache = cache if training else None
        return z

    def backward_logits(self, dz, need_dx=True):
        if self._cache is None:
            raise self._no_cache()
        # Without need_dx (a model's bottom layer) the op skips the scatter into dx.
        dx, dw, db = conv2d_backward(dz, self._cache, need_dx=need_dx)
        self.kernel.grad += dw
        if self.use_bias:
            self.bias.grad += db
        return dx
