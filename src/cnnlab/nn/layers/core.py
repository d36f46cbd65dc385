"""Core layers: :class:`Dense`, :class:`Activation`, :class:`ReLU`, :class:`Dropout` and
:class:`Rescaling`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn import activations
from cnnlab.nn import initializers as inits
from cnnlab.nn.layers.base import ActivatedLayer, Layer


class Dense(ActivatedLayer):
    """Fully connected layer ``y = activation(x @ kernel + bias)`` on the last axis.

    Args:
        units: output size (> 0).
        activation: None, "relu", "sigmoid", "softmax", "tanh" or "linear".
        use_bias, kernel_initializer ("glorot_uniform"), bias_initializer ("zeros").

    Shapes:
        input (N, D) -> output (N, units); kernel (D, units), bias (units,).

    Example:
        >>> Dense(6, activation="softmax")  # doctest: +ELLIPSIS
        <Dense name=... built=False>
    """

    default_name = "dense"
    keras_name = "Dense"
    config_keys = ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer")
    keras_keys = ("units", "activation", "use_bias")
    weight_names = ("kernel", "bias")

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _validate.positive_int(units, "units")
        self.activation = activations.normalize(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = inits.get(kernel_initializer)
        self.bias_initializer = inits.get(bias_initializer)
        self._x = None
        self._y = None

    _input_rank = 2

    def _weight_shapes(self, input_shape):
        kernel = (int(input_shape[-1]), self.units)
        return [kernel, (self.units,)] if self.use_bias else [kernel]

    def _build(self, input_shape, rng):
        self.kernel = self.add_weight(
            "kernel", (input_shape[-1], self.units), self.kernel_initializer, rng
        )
        self.bias = (
            self.add_weight("bias", (self.units,), self.bias_initializer, rng)
            if self.use_bias
            else None
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    # Below this many units the products are skinny: NumPy's own loops (einsum) beat a
    # multithreaded BLAS call, whose threads wait on each other on a busy machine.
    _SKINNY = 32

    def forward_logits(self, x, training=False):
        if self.units <= self._SKINNY:
            z = np.einsum("ij,jk->ik", x, self.kernel.value)
        else:
            z = x @ self.kernel.value
        if self.use_bias:
            z += self.bias.value
        self._x = x if training else None
        return z

    def backward_logits(self, dz, need_dx=True):
        if self._x is None:
            raise self._no_cache()
        skinny = self.units <= self._SKINNY
        self.kernel.grad += np.einsum("ij,ik->jk", self._x, dz) if skinny else self._x.T @ dz
        if self.use_bias:
            self.bias.grad += dz.sum(axis=0)
        if not need_dx:
            return None
        return np.einsum("ik,jk->ij", dz, self.kernel.value) if skinny else dz @ self.kernel.value.T


class Activation(ActivatedLayer):
    """Apply an activation function ("relu", "sigmoid", "softmax", "tanh", "linear").

    Shapes: any (N, ...) -> the same.
    """

    default_name = "activation"
    keras_name = "Activation"
    config_keys = ("activation",)

    def __init__(self, activation: str, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.normalize(activation)
        self._y = None

    def forward_logits(self, x, training=False):
        return x

    def forward(self, x, training=False):
        if self.activation == "relu":
            y = np.maximum(x, 0)  # one pass; never modifies the input
        elif self.activation == "linear":
            y = x
        else:  # the activations work in place: never on the caller's array
            y = activations.forward(self.activation, x.copy())
        self._y = y if training else None
        return y

    def backward_logits(self, dz, need_dx=True):
        return dz


class ReLU(Activation):
    """Rectified linear unit ``max(x, 0)`` as a layer (Keras's defaults only).

    Shapes: any (N, ...) -> the same.
    """

    default_name = "re_lu"
    keras_name = "ReLU"
    config_keys = ()

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class Dropout(Layer):
    """Randomly zero a fraction ``rate`` of the inputs during training, scaling the rest by
    ``1 / (1 - rate)``; the identity at inference.

    Args:
        rate: float in [0, 1).
        seed: optional int; otherwise the model's Generator is used. During
            ``fit(seed=...)`` the masks come from the per-epoch Generator the model hands
            over (:meth:`Layer.set_generator`) instead.

    Shapes: any (N, ...) -> the same.
    """

    default_name = "dropout"
    keras_name = "Dropout"
    config_keys = ("rate", "seed")

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 1:
            raise ArgumentError(
                "Invalid value received for argument `rate`. Expected a float value between "
                f"0 and 1. Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self._mask = None

    def _build(self, input_shape, rng):
        if self._rng is None:
            self._rng = rng if rng is not None else np.random.default_rng()

    def set_generator(self, rng):
        previous, self._rng = self._rng, rng
        return previous

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self._mask = None
            return x
        keep = self._rng.random(x.shape, dtype=np.float64) >= self.rate
        self._mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.rate))
        return x * self._mask

    def backward(self, dy, need_dx=True):
        return dy if self._mask is None else dy * self._mask


class Rescaling(Layer):
    """``y = x * scale + offset``, as Keras's ``Rescaling`` (a preprocessing step inside the
    model, such as [0, 1] -> [-1, 1] with ``scale=2.0, offset=-1.0``). No weights.

    Args:
        scale, offset: numbers (Keras also takes arrays; cnnlab.nn takes scalars).

    Shapes: any (N, ...) -> the same.
    """

    default_name = "rescaling"
    keras_name = "Rescaling"
    config_keys = ("scale", "offset")

    def __init__(self, scale: float, offset: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ArgumentError(f"{key} must be a number. Received: {key}={value!r}")
        self.scale = float(scale)
        self.offset = float(offset)

    def forward(self, x, training=False):
        return x * x.dtype.type(self.scale) + x.dtype.type(self.offset)

    def backward(self, dy, need_dx=True):
        return dy * dy.dtype.type(self.scale) if need_dx else None
