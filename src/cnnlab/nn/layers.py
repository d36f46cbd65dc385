"""Layers with Keras's names, arguments and defaults, built on :mod:`cnnlab.ops`.

Every layer follows one small protocol (micrograd-style, gradients are accumulated):

- ``build(input_shape, rng)`` creates the weights; ``input_shape`` includes the batch axis as
  ``None``, e.g. ``(None, 64, 64, 3)``. ``rng`` is a ``numpy.random.Generator``.
- ``forward(x, training=False) -> y`` computes the output; with ``training=True`` it keeps what
  ``backward`` needs (and nothing more).
- ``backward(dy) -> dx`` returns the gradient with respect to the input and **adds** (``+=``) the
  gradients of the weights into ``weight.grad``; the model zeroes them before each step.
- ``get_weights()`` / ``set_weights()`` use Keras's order and shapes (a Conv2D's kernel is
  ``(kh, kw, c_in, c_out)``, like Keras), so weights move between the two engines unchanged.

All images are NHWC: ``(batch, height, width, channels)``.

Example:
    >>> import numpy as np
    >>> from cnnlab import nn
    >>> conv = nn.Conv2D(8, 3, padding="same", activation="relu")
    >>> conv.build((None, 16, 16, 3), np.random.default_rng(0))
    >>> conv(np.zeros((2, 16, 16, 3), "float32")).shape
    (2, 16, 16, 8)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.nn import activations
from cnnlab.nn import initializers as inits
from cnnlab.ops import conv2d_backward, conv2d_forward, pool2d_backward, pool2d_forward
from cnnlab.ops._arrays import side_by_side
from cnnlab.ops.padding import normalize_tuple
from cnnlab.ops.parallel import chunks_for, parallel_map
from cnnlab.ops.windows import make_windows

_NAME_COUNTS: dict[str, int] = {}


def _window_output_hw(layer, input_shape, window) -> tuple[int, int]:
    """(H_out, W_out) of a convolution or pooling layer, with the layer named in errors."""
    try:
        return make_windows(input_shape, window, layer.strides, layer.padding).out_hw
    except ValueError as exc:
        raise ArgumentError(
            f"Layer {layer.name!r}: the input {tuple(input_shape)} is too small: {exc}"
        ) from None


def unique_name(prefix: str) -> str:
    """Keras-like automatic names: ``conv2d``, ``conv2d_1``, ``conv2d_2``, ..."""
    n = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def clear_session() -> None:
    """Reset the automatic layer-name counters (like ``keras.backend.clear_session()``)."""
    _NAME_COUNTS.clear()


def _column_sums(a: np.ndarray, b: np.ndarray | None = None, block: int = 128) -> np.ndarray:
    """``sum(a, axis=0)`` (or ``sum(a * b, axis=0)``) of an (M, C) array, in float64.

    Sums blocks of ``block`` rows in the array's precision (one BLAS call), then adds the
    blocks in float64: nearly as exact as a float64 sum and as fast as a float32 one (a
    plain float32 column sum over M = N*H*W rows adds them one after another and loses
    about sqrt(M) ulps).
    """
    if b is not None:
        a = a * b
    m, c = a.shape
    k = m - m % block
    partial = np.ones(block, dtype=a.dtype) @ a[:k].reshape(-1, block, c)
    return partial.sum(axis=0, dtype=np.float64) + a[k:].sum(axis=0, dtype=np.float64)


def _dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype("float32")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype("float32"), np.dtype("float64")):
        raise ArgumentError(f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
    return dt


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ArgumentError(
            f"Invalid value for argument `{name}`. Expected a strictly positive integer. "
            f"Received {name}={value!r}"
        )
    return int(value)


def _padding_mode(padding: Any) -> str:
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    raise ArgumentError(
        f"The `padding` argument must be one of 'valid', 'same'. Received: padding={padding!r}"
    )


def _shape_tuple(shape: Any, name: str) -> tuple[int, ...]:
    try:
        out = tuple(shape)
    except TypeError:
        out = None
    if not out or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) and d > 0 for d in out
    ):
        raise ArgumentError(
            f"{name} must be a non-empty tuple of positive integers (without the batch axis). "
            f"Received: {name}={shape!r}"
        )
    return tuple(int(d) for d in out)


class Weight:
    """One weight array of a layer, with its gradient buffer.

    Attributes:
        name: short name ("kernel", "bias", "gamma", "moving_mean", ...).
        path: ``"<layer name>/<name>"``, unique in a model (Keras's ``variable.path``).
        value: the array itself; optimizers update it in place.
        grad: accumulated gradient, same shape (``None`` for non-trainable weights).
        trainable: whether optimizers update it.
    """

    __slots__ = ("name", "path", "value", "grad", "trainable")

    def __init__(self, name: str, path: str, value: np.ndarray, trainable: bool):
        self.name = name
        self.path = path
        self.value = value
        self.trainable = trainable
        self.grad = np.zeros_like(value) if trainable else None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    def numpy(self) -> np.ndarray:
        """A copy of the value (like ``keras.Variable.numpy()``)."""
        return self.value.copy()

    def assign(self, value: Any) -> None:
        """Copy ``value`` into the weight in place; its shape must match."""
        value = np.asarray(value)
        if value.shape != self.value.shape:
            raise ArgumentError(
                f"Weight {self.path!r} has shape {self.value.shape}, "
                f"but the value given has shape {value.shape}"
            )
        self.value[...] = value

    def __array__(self, dtype=None, copy=None):
        return self.value if dtype is None else self.value.astype(dtype)

    def __repr__(self) -> str:
        return f"<Weight path={self.path} shape={self.shape} dtype={self.dtype}>"


class Layer:
    """Base class of all layers.

    Args:
        name: unique name; Keras-like automatic names when ``None``.
        dtype: "float32" (default) or "float64".
        trainable: whether the optimizer updates this layer's weights.
        input_shape: optional input shape without the batch axis, for the first layer of a
            :class:`~cnnlab.nn.Sequential` (as in Keras).
    """

    default_name = "layer"
    # A model clears this on its bottom layer with weights: that layer's input gradient is
    # never used, and backward() may then skip computing it (and return None).
    _need_dx = True

    def __init__(
        self,
        *,
        name: str | None = None,
        dtype: Any = None,
        trainable: bool = True,
        input_shape: Any = None,
    ):
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ArgumentError(
                f"Layer names must be non-empty strings without '/'. Received: name={name!r}"
            )
        self.name = name if name is not None else unique_name(self.default_name)
        self.dtype = _dtype(dtype)
        self.trainable = bool(trainable)
        self._input_shape_arg = (
            None if input_shape is None else _shape_tuple(input_shape, "input_shape")
        )
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self._weights: list[Weight] = []

    # ---- weights -------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, rng, trainable=True) -> Weight:
        """Create a weight from an initializer and register it (in Keras's order)."""
        value = inits.get(initializer)(tuple(shape), self.dtype, rng)
        w = Weight(name, f"{self.name}/{name}", value, trainable)
        self._weights.append(w)
        return w

    @property
    def weights(self) -> list[Weight]:
        """All weights, in Keras's order (``layer.get_weights()`` order)."""
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Weight]:
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as arrays, in Keras's order."""
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Set the weights from arrays in Keras's order; counts and shapes must match."""
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ArgumentError(
                f"Layer {self.name!r} expected {len(self._weights)} weights, "
                f"but received {len(weights)}"
            )
        for w, v in zip(self._weights, weights, strict=True):
            v = np.asarray(v)
            if v.shape != w.shape:
                raise ArgumentError(
                    f"Layer {self.name!r} weight shape {w.shape} is not compatible with "
                    f"provided weight shape {v.shape} (weight {w.name!r})"
                )
            w.value[...] = v

    def count_params(self) -> int:
        return int(sum(w.value.size for w in self._weights))

    def zero_grad(self) -> None:
        for w in self._weights:
            if w.grad is not None:
                w.grad.fill(0)

    # ---- building ------------------------------------------------------------------------
    def build(self, input_shape: tuple, rng: np.random.Generator | None = None) -> None:
        """Create the weights for inputs of ``input_shape`` (batch axis included, may be None)."""
        input_shape = tuple(input_shape)
        self._check_input(input_shape)
        self._build(input_shape, rng)
        self.input_shape = input_shape
        self.output_shape = self.compute_output_shape(input_shape)
        self.built = True

    def _build(self, input_shape: tuple, rng: np.random.Generator | None) -> None:
        """Subclasses with weights create them here."""

    # The rank of the inputs the layer takes (batch axis included), or None for any.
    _input_rank: int | None = None

    def _check_input(self, input_shape: tuple) -> None:
        """Raise an ArgumentError if the layer cannot take inputs of ``input_shape``."""
        if self._input_rank is not None:
            self._check_rank(input_shape, self._input_rank)

    def _weight_shapes(self, input_shape: tuple) -> list[tuple[int, ...]]:
        """The shapes of the weights ``build(input_shape)`` creates, in Keras's order."""
        return []

    def plan(self, input_shape: tuple) -> tuple[tuple, list[tuple[int, ...]]]:
        """What ``build(input_shape)`` would make, without allocating anything:
        ``(output shape, [shape of each weight])``. A model file's sizes are checked with it
        before any weight or activation is allocated.

        Raises:
            ArgumentError: the layer cannot take inputs of ``input_shape``.
        """
        input_shape = tuple(input_shape)
        self._check_input(input_shape)
        return tuple(self.compute_output_shape(input_shape)), self._weight_shapes(input_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _check_rank(self, input_shape: tuple, rank: int) -> None:
        if len(input_shape) != rank:
            raise ArgumentError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: "
                f"expected ndim={rank}, found ndim={len(input_shape)}. "
                f"Full shape received: {tuple(input_shape)}"
            )

    # ---- computing -----------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """Run the layer on ``x`` (building it first, from fresh entropy, if needed)."""
        x = np.asarray(x)
        if not self.built:
            self.build((None, *x.shape[1:]), np.random.default_rng())
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        return self.forward(x, training=training)

    def set_generator(self, rng: np.random.Generator | None) -> np.random.Generator | None:
        """Hand the layer the Generator its training-time random draws come from (Dropout's
        masks); returns the one it replaces. Layers without randomness ignore it (None).

        ``Sequential.fit(seed=...)`` hands each layer a Generator seeded by (seed, epoch,
        layer position) at the start of every epoch, so that training resumed from a saved
        model draws exactly what an uninterrupted run draws, and restores the layer's own
        Generator when ``fit`` returns.
        """
        return None

    def _no_cache(self) -> RuntimeError:
        return RuntimeError(
            f"Layer {self.name!r}: backward() needs a preceding forward(x, training=True)"
        )

    # ---- config --------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Keras-like config: the constructor's arguments, JSON-serializable."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        return config

    @classmethod
    def from_config(cls, config: dict) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name} built={self.built}>"


class InputLayer(Layer):
    """The model's input: a shape without the batch axis. Create it with :func:`Input`."""

    default_name = "input_layer"

    def __init__(self, shape: Any, **kwargs):
        super().__init__(**kwargs)
        self.shape = _shape_tuple(shape, "shape")

    def forward(self, x, training=False):
        return x

    def backward(self, dy):
        return dy

    def get_config(self) -> dict:
        return {**super().get_config(), "shape": list(self.shape)}


def Input(shape: Any, name: str | None = None, dtype: Any = None) -> InputLayer:  # noqa: N802
    """Declare the input shape (without the batch axis), as ``keras.Input``.

    Example:
        >>> model = Sequential([Input(shape=(64, 64, 3)), Flatten(), Dense(1)])  # doctest: +SKIP
    """
    return InputLayer(shape, name=name, dtype=dtype)


class _Activated(Layer):
    """A layer with an optional fused activation; the loss may hand it d(loss)/d(logits)."""

    activation = "linear"
    _keep_logits = False  # set by a model whose loss is computed from this layer's logits
    _z = None

    def backward(self, dy: np.ndarray) -> np.ndarray:
        if self.activation != "linear":
            if self._y is None:
                raise self._no_cache()
            dy = activations.backward(self.activation, dy, self._y)
        return self.backward_logits(dy)

    def backward_logits(self, dz: np.ndarray) -> np.ndarray:
        """Backward from the gradient with respect to the pre-activation output."""
        raise NotImplementedError

    def _activate(self, z: np.ndarray, training: bool) -> np.ndarray:
        if self._keep_logits:
            self._z = z.copy()
        y = activations.forward(self.activation, z)
        self._y = y if training else None
        return y


class Conv2D(_Activated):
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
        self.filters = _positive_int(filters, "filters")
        self.kernel_size = normalize_tuple(kernel_size, 2, "kernel_size")
        self.strides = normalize_tuple(strides, 2, "strides")
        self.padding = _padding_mode(padding)
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
        ho, wo = _window_output_hw(self, input_shape, self.kernel_size)
        return (n, ho, wo, self.filters)

    def forward(self, x, training=False):
        b = self.bias.value if self.use_bias else None
        z, cache = conv2d_forward(
            x, self.kernel.value, b, stride=self.strides, padding=self.padding
        )
        self._cache = cache if training else None
        return self._activate(z, training)

    def backward_logits(self, dz):
        if self._cache is None:
            raise self._no_cache()
        # The model's bottom layer has no use for dx, so the op skips the scatter.
        dx, dw, db = conv2d_backward(dz, self._cache, need_dx=self._need_dx)
        self.kernel.grad += dw
        if self.use_bias:
            self.bias.grad += db
        return dx

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": self.padding,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": inits.serialize(self.kernel_initializer),
            "bias_initializer": inits.serialize(self.bias_initializer),
        }


class Dense(_Activated):
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
        self.units = _positive_int(units, "units")
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

    def forward(self, x, training=False):
        if self.units <= self._SKINNY:
            z = np.einsum("ij,jk->ik", x, self.kernel.value)
        else:
            z = x @ self.kernel.value
        if self.use_bias:
            z += self.bias.value
        self._x = x if training else None
        return self._activate(z, training)

    def backward_logits(self, dz):
        if self._x is None:
            raise self._no_cache()
        skinny = self.units <= self._SKINNY
        self.kernel.grad += np.einsum("ij,ik->jk", self._x, dz) if skinny else self._x.T @ dz
        if self.use_bias:
            self.bias.grad += dz.sum(axis=0)
        if not self._need_dx:
            return None
        return np.einsum("ik,jk->ij", dz, self.kernel.value) if skinny else dz @ self.kernel.value.T

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": inits.serialize(self.kernel_initializer),
            "bias_initializer": inits.serialize(self.bias_initializer),
        }


class Activation(_Activated):
    """Apply an activation function ("relu", "sigmoid", "softmax", "tanh", "linear").

    Shapes: any (N, ...) -> the same.
    """

    default_name = "activation"

    def __init__(self, activation: str, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.normalize(activation)
        self._y = None

    def forward(self, x, training=False):
        if self.activation == "relu" and not self._keep_logits:
            y = np.maximum(x, 0)  # one pass; never modifies the input
            self._y = y if training else None
            return y
        return self._activate(x.copy() if self.activation != "linear" else x, training)

    def backward_logits(self, dz):
        return dz

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class ReLU(Activation):
    """Rectified linear unit ``max(x, 0)`` as a layer (Keras's defaults only).

    Shapes: any (N, ...) -> the same.
    """

    default_name = "re_lu"

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


class Flatten(Layer):
    """Flatten every axis but the batch axis: (N, H, W, C) -> (N, H*W*C), in C order as Keras."""

    default_name = "flatten"

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(np.prod(input_shape[1:])))

    def forward(self, x, training=False):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape(self._shape)


class ZeroPadding2D(Layer):
    """Pad images with zeros on the height and width axes.

    Args:
        padding: int (all four sides), a pair ``(ph, pw)`` (symmetric), or
            ``((top, bottom), (left, right))``. Keras's default is 1 on every side.

    Shapes: (N, H, W, C) -> (N, H + top + bottom, W + left + right, C).
    """

    default_name = "zero_padding2d"

    def __init__(self, padding: Any = (1, 1), **kwargs):
        super().__init__(**kwargs)
        self.padding = self._normalize(padding)

    @staticmethod
    def _normalize(padding):
        def bad():
            return ArgumentError(
                "`padding` should be either an int, a tuple of 2 ints (symmetric_height_pad, "
                "symmetric_width_pad), or a tuple of 2 tuples of 2 ints ((top_pad, bottom_pad), "
                f"(left_pad, right_pad)), all non-negative. Received: padding={padding!r}"
            )

        def nonneg(v):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise bad()
            return int(v)

        if isinstance(padding, int | np.integer) and not isinstance(padding, bool):
            p = nonneg(padding)
            return ((p, p), (p, p))
        try:
            items = tuple(padding)
        except TypeError:
            raise bad() from None
        if len(items) != 2:
            raise bad()
        if all(isinstance(v, int | np.integer) for v in items):
            h, w = nonneg(items[0]), nonneg(items[1])
            return ((h, h), (w, w))
        out = []
        for pair in items:
            try:
                pair = tuple(pair)
            except TypeError:
                raise bad() from None
            if len(pair) != 2:
                raise bad()
            out.append((nonneg(pair[0]), nonneg(pair[1])))
        return tuple(out)

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

    def backward(self, dy):
        (t, _), (l, _) = self.padding
        h, w = self._hw
        return dy[:, t : t + h, l : l + w, :]

    def get_config(self):
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class _Pooling2D(Layer):
    mode = "max"

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.pool_size = normalize_tuple(pool_size, 2, "pool_size")
        self.strides = self.pool_size if strides is None else normalize_tuple(strides, 2, "strides")
        self.padding = _padding_mode(padding)
        self._cache = None

    _input_rank = 4

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        ho, wo = _window_output_hw(self, input_shape, self.pool_size)
        return (n, ho, wo, c)

    def forward(self, x, training=False):
        y, cache = pool2d_forward(
            x, self.pool_size, stride=self.strides, padding=self.padding, mode=self.mode
        )
        self._cache = cache if training else None
        return y

    def backward(self, dy):
        if self._cache is None:
            raise self._no_cache()
        return pool2d_backward(dy, self._cache)

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": list(self.pool_size),
            "strides": list(self.strides),
            "padding": self.padding,
        }


class MaxPooling2D(_Pooling2D):
    """Max pooling over (pool_h, pool_w) windows; ``strides`` defaults to ``pool_size``.

    Args:
        pool_size: int or pair, default (2, 2).
        strides: int, pair or None (= pool_size).
        padding: "valid" or "same" (TF rule; padded cells never win the max).

    Shapes: (N, H, W, C) -> (N, H_out, W_out, C).
    """

    default_name = "max_pooling2d"
    mode = "max"


class AveragePooling2D(_Pooling2D):
    """Average pooling; with "same" padding only real cells are averaged (as Keras).

    Args and shapes as :class:`MaxPooling2D`.
    """

    default_name = "average_pooling2d"
    mode = "average"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class BatchNormalization(Layer):
    """Batch normalization with Keras's training and inference behaviour.

    Training: normalizes with the batch's mean and (biased) variance over every axis but
    ``axis`` and updates ``moving = moving * momentum + batch * (1 - momentum)``.
    Inference: uses the moving statistics.
    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    Args:
        axis: the feature axis (int), default -1 (channels in NHWC).
        momentum: default 0.99. epsilon: default 1e-3.
        center / scale: learn beta / gamma (default True).

    Weights (Keras's order): gamma, beta (trainable), moving_mean, moving_variance
    (non-trainable), each of shape (C,).
    """

    default_name = "batch_normalization"

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise ArgumentError(f"axis must be an integer. Received: axis={axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ArgumentError(f"momentum must be in [0, 1]. Received: momentum={momentum!r}")
        if not float(epsilon) > 0:
            raise ArgumentError(f"epsilon must be positive. Received: epsilon={epsilon!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._cache = None

    def _check_input(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ArgumentError(
                f"Layer {self.name!r}: axis={self.axis} is invalid for inputs of shape "
                f"{tuple(input_shape)}"
            )

    def _weight_shapes(self, input_shape):
        c = (int(input_shape[self.axis]),)
        return [c] * (int(self.scale) + int(self.center) + 2)

    def _build(self, input_shape, rng):
        rank = len(input_shape)
        self._axis = self.axis % rank
        c = (input_shape[self._axis],)
        self.gamma = self.add_weight("gamma", c, "ones", rng) if self.scale else None
        self.beta = self.add_weight("beta", c, "zeros", rng) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", c, "zeros", rng, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c, "ones", rng, trainable=False)

    def _to_2d(self, x):
        if self._axis == x.ndim - 1:
            return x.reshape(-1, x.shape[-1])
        return np.moveaxis(x, self._axis, -1).reshape(-1, x.shape[self._axis])

    def _from_2d(self, y2, shape):
        if self._axis == len(shape) - 1:
            return y2.reshape(shape)
        moved = (*shape[: self._axis], *shape[self._axis + 1 :], shape[self._axis])
        return np.moveaxis(y2.reshape(moved), -1, self._axis)

    # The (M, C) activations are laid side by side, k rows at a time, as an (M / k, k * C)
    # array with each per-channel vector repeated k times (ops._arrays.side_by_side), and
    # worked through in chunks of those rows on every core: each pass reads a chunk of the
    # activations once and does all its arithmetic on it.
    @staticmethod
    def _row_chunks(xw: np.ndarray) -> list[tuple[int, int]]:
        return chunks_for(xw.shape[0], xw.shape[1] * xw.itemsize, target_bytes=4 << 20)

    def _batch_statistics(self, xw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and (biased) variance of a wide (M / k, k * C) array, in float64.

        Each chunk's mean and sum of squared deviations per wide column, combined exactly
        (Chan et al.) over the k columns of a channel and over the chunks: as accurate as
        two passes over the whole batch, with one read of it.
        """

        def chunk_statistics(chunk: tuple[int, int]):
            a, z = chunk
            part = xw[a:z]
            mean = _column_sums(part) / (z - a)
            deviation = part - mean.astype(part.dtype)
            return z - a, mean.reshape(k, -1), _column_sums(deviation, deviation).reshape(k, -1)

        count, mean, m2 = 0, 0.0, 0.0
        for rows, column_means, column_m2 in parallel_map(chunk_statistics, self._row_chunks(xw)):
            n = rows * k  # the chunk's values per channel, in k columns of equal length
            chunk_mean = column_means.mean(axis=0)
            chunk_m2 = column_m2.sum(axis=0) + rows * ((column_means - chunk_mean) ** 2).sum(0)
            delta = chunk_mean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + chunk_m2 + delta**2 * (count * n / total)
            count = total
        return mean, m2 / count

    def forward(self, x, training=False):
        x2 = self._to_2d(x)
        xw, k = side_by_side(x2)
        dt = x.dtype
        gamma = self.gamma.value if self.scale else np.ones((), dt)
        if training and self.trainable:
            mean64, var64 = self._batch_statistics(xw, k)
            mean, var = mean64.astype(dt), var64.astype(dt)
            inv = (1.0 / np.sqrt(var + dt.type(self.epsilon))).astype(dt)
            mult = gamma * inv
            mom = dt.type(self.momentum)
            mm, mv = self.moving_mean.value, self.moving_variance.value
            mm *= mom
            mm += mean * (1 - mom)
            mv *= mom
            mv += var * (1 - mom)
            self._cache = (xw, k, mean, inv, x.shape)
        else:
            inv = 1.0 / np.sqrt(self.moving_variance.value + dt.type(self.epsilon))
            mult = (inv * gamma).astype(dt)
            mean = self.moving_mean.value
            self._cache = (None, k, mean, mult, x.shape) if training else None
        mean_w, mult_w = np.tile(mean, k), np.tile(mult, k)
        beta_w = np.tile(self.beta.value, k) if self.center else None
        yw = np.empty(xw.shape, dtype=dt)

        def normalize(chunk: tuple[int, int]) -> None:  # y = (x - mean) * gamma / std + beta
            a, z = chunk
            out = yw[a:z]
            np.subtract(xw[a:z], mean_w, out=out)
            out *= mult_w
            if beta_w is not None:
                out += beta_w

        parallel_map(normalize, self._row_chunks(xw))
        return self._from_2d(yw.reshape(x2.shape), x.shape)

    def backward(self, dy):
        if self._cache is None:
            raise self._no_cache()
        xw, k, mean, inv, shape = self._cache
        dy2 = self._to_2d(dy)
        dyw = dy2.reshape(-1, k * dy2.shape[1])
        dxw = np.empty(dyw.shape, dtype=dyw.dtype)
        chunks = self._row_chunks(dyw)
        if xw is None:  # frozen layer: an affine map with the moving statistics
            inv_w = np.tile(inv, k)

            def scale(chunk: tuple[int, int]) -> None:
                a, z = chunk
                np.multiply(dyw[a:z], inv_w, out=dxw[a:z])

            parallel_map(scale, chunks)
            return self._from_2d(dxw.reshape(dy2.shape), shape)
        mean_w = np.tile(mean, k)

        def sums(chunk: tuple[int, int]):  # sum(dy) and sum(dy * (x - mean)) per wide column
            a, z = chunk
            return _column_sums(dyw[a:z]), _column_sums(dyw[a:z], xw[a:z] - mean_w)

        partial = parallel_map(sums, chunks)
        m = dy2.shape[0]
        dbeta = np.add.reduce([d for d, _ in partial]).reshape(k, -1).sum(axis=0)
        dgamma = np.add.reduce([d for _, d in partial]).reshape(k, -1).sum(axis=0) * inv
        if self.center:
            self.beta.grad += dbeta.astype(dy2.dtype)
        if self.scale:
            self.gamma.grad += dgamma.astype(dy2.dtype)
        gamma = self.gamma.value if self.scale else 1.0
        # dx = gamma * inv * (dy - mean(dy) - xhat * mean(dy * xhat)), per channel constants
        a_ = (gamma * inv).astype(dy2.dtype)
        c = (a_ * inv * dgamma / m).astype(dy2.dtype)
        shift = (a_ * dbeta / m).astype(dy2.dtype)
        a_w, minus_c_w, shift_w = np.tile(a_, k), np.tile(-c, k), np.tile(shift, k)

        def input_grad(chunk: tuple[int, int]) -> None:
            a, z = chunk
            out = dxw[a:z]
            np.subtract(xw[a:z], mean_w, out=out)
            out *= minus_c_w
            out -= shift_w
            out += dyw[a:z] * a_w

        parallel_map(input_grad, chunks)
        return self._from_2d(dxw.reshape(dy2.shape), shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
        }


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

    def backward(self, dy):
        return dy if self._mask is None else dy * self._mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        InputLayer,
        Conv2D,
        Dense,
        Activation,
        ReLU,
        Flatten,
        ZeroPadding2D,
        MaxPooling2D,
        AveragePooling2D,
        BatchNormalization,
        Dropout,
    )
}


def deserialize(item: dict) -> Layer:
    """Build a layer from ``{"class_name": ..., "config": {...}}`` (allocates nothing: weights
    are created when the layer is built).

    Raises:
        ArgumentError: not such a dict, an unknown class, or a config the layer refuses
            (unknown or missing arguments, wrong types or values), naming the layer.
    """
    if not isinstance(item, dict) or not isinstance(item.get("config"), dict):
        raise ArgumentError(
            'A layer must be given as {"class_name": ..., "config": {...}}. '
            f"Received: {str(item)[:200]}"
        )
    cls = LAYERS.get(item.get("class_name"))
    if cls is None:
        raise ArgumentError(f"Unknown layer class {item.get('class_name')!r}")
    config = item["config"]
    label = f"{config.get('name', '?')!r} ({cls.__name__})"
    try:
        return cls.from_config(dict(config))
    except ArgumentError as exc:
        raise ArgumentError(f"layer {label}: {exc}") from None
    except TypeError as exc:  # unknown or missing constructor arguments
        raise ArgumentError(f"layer {label}: invalid config ({exc})") from None


def serialize(layer: Layer) -> dict:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
