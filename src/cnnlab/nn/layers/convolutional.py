"""Convolution layers: :class:`Conv2D`, :class:`DepthwiseConv2D` and :class:`SeparableConv2D`
(NHWC, Keras's arguments and weight layout)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn import activations
from cnnlab.nn import initializers as inits
from cnnlab.nn.layers.base import (
    ActivatedLayer,
    padding_mode,
    window_output_hw,
)
from cnnlab.ops import (
    conv2d_backward,
    conv2d_forward,
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
)


class _Windowed(ActivatedLayer):
    """What the three convolutions share: a window (``kernel_size``, ``strides``,
    ``padding``), an optional fused activation and bias, checked as Keras's base
    convolution checks them."""

    _input_rank = 4

    def _set_window(self, kernel_size, strides, padding, activation, use_bias) -> None:
        self.kernel_size = _validate.int_or_pair(kernel_size, "kernel_size")
        self.strides = _validate.int_or_pair(strides, "strides")
        self.padding = padding_mode(padding)
        self.activation = activations.normalize(activation)
        self.use_bias = bool(use_bias)
        self._y = None


class Conv2D(_Windowed):
    """2D convolution over NHWC images, with bias and an optional fused activation.

    Args:
        filters: number of output channels (> 0).
        kernel_size: int or pair (kh, kw).
        strides: int or pair, default 1.
        padding: "valid" (no padding) or "same" (output size = ceil(input / stride), TF rule).
        activation: None, "relu", "sigmoid", "softmax", "tanh" or "linear".
        use_bias: add a bias (default True).
        kernel_initializer: default "glorot_uniform"; bias_initializer: default "zeros".
        kernel_regularizer: None, or an L2 penalty ``l2 * sum(kernel ** 2)`` added to the
            training loss (and ``2 * l2 * kernel`` to the kernel's gradient): a float ``l2``
            or Keras's config of ``L2`` / ``L1L2`` with ``l1 == 0``.

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
        "kernel_regularizer",
    )
    keras_keys = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "activation",
        "use_bias",
        "kernel_regularizer",
    )
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
        kernel_regularizer: Any = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validate.positive_int(filters, "filters")
        self._set_window(kernel_size, strides, padding, activation, use_bias)
        self.kernel_initializer = inits.get(kernel_initializer)
        self.bias_initializer = inits.get(bias_initializer)
        self._l2 = l2_factor(kernel_regularizer)
        self._cache = None

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
        if self._l2:
            self.kernel.grad += (2 * self._l2) * self.kernel.value
        if self.use_bias:
            self.bias.grad += db
        return dx

    @property
    def kernel_regularizer(self) -> dict | None:
        """The L2 penalty as Keras's config (what ``keras.regularizers.get`` reads), or None."""
        return None if not self._l2 else {"class_name": "L2", "config": {"l2": self._l2}}

    def regularization_loss(self) -> float:
        if not (self._l2 and self.trainable and self.built):
            return 0.0
        return self._l2 * float(np.sum(np.square(self.kernel.value, dtype=np.float64)))


def l2_factor(regularizer: Any) -> float:
    """The factor ``l2`` of an L2 kernel penalty: from None (0.0), a number, or Keras's
    config of an ``L2`` or ``L1L2`` regularizer (with ``l1`` 0).

    Raises:
        ArgumentError: any other regularizer (an L1 term, an unknown class).
    """
    if regularizer is None:
        return 0.0
    if isinstance(regularizer, int | float) and not isinstance(regularizer, bool):
        value = float(regularizer)
    elif isinstance(regularizer, dict) and regularizer.get("class_name") in ("L2", "L1L2"):
        config = regularizer.get("config") or {}
        if float(config.get("l1", 0.0) or 0.0) != 0.0:
            raise ArgumentError(
                f"kernel_regularizer: only an L2 penalty is supported. Received: {regularizer!r}"
            )
        value = float(config.get("l2", 0.0) or 0.0)
    else:
        raise ArgumentError(
            "kernel_regularizer must be None, a number (the L2 factor) or an L2 regularizer's "
            f"config. Received: kernel_regularizer={regularizer!r}"
        )
    if not (value >= 0.0 and np.isfinite(value)):
        raise ArgumentError(f"The L2 factor must be a non-negative number. Received: l2={value}")
    return value


class DepthwiseConv2D(_Windowed):
    """Depthwise 2D convolution: each input channel convolved with its own
    ``depth_multiplier`` filters (Keras's ``DepthwiseConv2D``), with bias and an optional
    fused activation.

    Args:
        kernel_size: int or pair (kh, kw).
        strides: int or pair, default 1.
        padding: "valid" or "same" (TF rule).
        depth_multiplier: filters per input channel, default 1.
        activation, use_bias: as :class:`Conv2D`.
        depthwise_initializer: default "glorot_uniform"; bias_initializer: default "zeros".

    Shapes:
        input (N, H, W, C) -> output (N, H_out, W_out, C * depth_multiplier), output channel
        ``c * depth_multiplier + m`` from channel ``c``'s filter ``m``;
        kernel (kh, kw, C, depth_multiplier), bias (C * depth_multiplier,).
    """

    default_name = "depthwise_conv2d"
    keras_name = "DepthwiseConv2D"
    config_keys = (
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "activation",
        "use_bias",
        "depthwise_initializer",
        "bias_initializer",
    )
    keras_keys = (
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "activation",
        "use_bias",
    )
    weight_names = ("kernel", "bias")  # Keras 3 names the depthwise kernel "kernel"

    def __init__(
        self,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._set_window(kernel_size, strides, padding, activation, use_bias)
        self.depth_multiplier = _validate.positive_int(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = inits.get(depthwise_initializer)
        self.bias_initializer = inits.get(bias_initializer)
        self._cache = None

    def _weight_shapes(self, input_shape):
        c = int(input_shape[-1])
        kernel = (*self.kernel_size, c, self.depth_multiplier)
        return [kernel, (c * self.depth_multiplier,)] if self.use_bias else [kernel]

    def _build(self, input_shape, rng):
        shapes = self._weight_shapes(input_shape)
        self.kernel = self.add_weight("kernel", shapes[0], self.depthwise_initializer, rng)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", shapes[1], self.bias_initializer, rng)

    def compute_output_shape(self, input_shape):
        ho, wo = window_output_hw(self, input_shape, self.kernel_size)
        return (input_shape[0], ho, wo, int(input_shape[-1]) * self.depth_multiplier)

    def forward_logits(self, x, training=False):
        b = self.bias.value if self.use_bias else None
        z, cache = depthwise_conv2d_forward(
            x, self.kernel.value, b, stride=self.strides, padding=self.padding
        )
        self._cache = cache if training else None
        return z

    def backward_logits(self, dz, need_dx=True):
        if self._cache is None:
            raise self._no_cache()
        dx, dw, db = depthwise_conv2d_backward(dz, self._cache, need_dx=need_dx)
        self.kernel.grad += dw
        if self.use_bias:
            self.bias.grad += db
        return dx


class SeparableConv2D(_Windowed):
    """Depthwise separable 2D convolution (Keras's ``SeparableConv2D``): a depthwise
    convolution (``kernel_size``, ``strides``, ``padding``, ``depth_multiplier``), then a 1x1
    convolution to ``filters`` channels, then the bias and an optional fused activation.

    Args:
        filters: output channels. kernel_size, strides, padding, depth_multiplier: of the
            depthwise step, as :class:`DepthwiseConv2D`. activation, use_bias: as
            :class:`Conv2D`. depthwise_initializer, pointwise_initializer: default
            "glorot_uniform"; bias_initializer: default "zeros".

    Shapes:
        input (N, H, W, C) -> output (N, H_out, W_out, filters); depthwise_kernel
        (kh, kw, C, depth_multiplier), pointwise_kernel (1, 1, C * depth_multiplier, filters),
        bias (filters,) (Keras's weight order).
    """

    default_name = "separable_conv2d"
    keras_name = "SeparableConv2D"
    config_keys = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "activation",
        "use_bias",
        "depthwise_initializer",
        "pointwise_initializer",
        "bias_initializer",
    )
    keras_keys = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "activation",
        "use_bias",
    )
    weight_names = ("depthwise_kernel", "pointwise_kernel", "bias")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        depth_multiplier: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: Any = "glorot_uniform",
        pointwise_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _validate.positive_int(filters, "filters")
        self._set_window(kernel_size, strides, padding, activation, use_bias)
        self.depth_multiplier = _validate.positive_int(depth_multiplier, "depth_multiplier")
        self.depthwise_initializer = inits.get(depthwise_initializer)
        self.pointwise_initializer = inits.get(pointwise_initializer)
        self.bias_initializer = inits.get(bias_initializer)
        self._caches = None

    def _weight_shapes(self, input_shape):
        c = int(input_shape[-1])
        depthwise = (*self.kernel_size, c, self.depth_multiplier)
        pointwise = (1, 1, c * self.depth_multiplier, self.filters)
        return [depthwise, pointwise] + ([(self.filters,)] if self.use_bias else [])

    def _build(self, input_shape, rng):
        shapes = self._weight_shapes(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", shapes[0], self.depthwise_initializer, rng
        )
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", shapes[1], self.pointwise_initializer, rng
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", shapes[2], self.bias_initializer, rng)

    def compute_output_shape(self, input_shape):
        ho, wo = window_output_hw(self, input_shape, self.kernel_size)
        return (input_shape[0], ho, wo, self.filters)

    def forward_logits(self, x, training=False):
        d, depthwise = depthwise_conv2d_forward(
            x, self.depthwise_kernel.value, None, stride=self.strides, padding=self.padding
        )
        b = self.bias.value if self.use_bias else None
        z, pointwise = conv2d_forward(d, self.pointwise_kernel.value, b)
        self._caches = (depthwise, pointwise) if training else None
        return z

    def backward_logits(self, dz, need_dx=True):
        if self._caches is None:
            raise self._no_cache()
        depthwise, pointwise = self._caches
        dd, dpw, db = conv2d_backward(dz, pointwise)
        dx, ddw, _ = depthwise_conv2d_backward(dd, depthwise, need_dx=need_dx)
        self.depthwise_kernel.grad += ddw
        self.pointwise_kernel.grad += dpw
        if self.use_bias:
            self.bias.grad += db
        return dx
