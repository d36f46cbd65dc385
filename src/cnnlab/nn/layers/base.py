"""The layer contract: :class:`Layer`, its :class:`Weight` objects, :class:`InputLayer`, and
:class:`ActivatedLayer` (a layer with a fused activation: Conv2D, Dense, Activation).

Every layer follows one small protocol (micrograd-style, gradients are accumulated):

- ``build(input_shape, rng)`` creates the weights; ``input_shape`` includes the batch axis as
  ``None``, e.g. ``(None, 64, 64, 3)``. ``rng`` is a ``numpy.random.Generator``.
- ``forward(x, training=False) -> y`` computes the output; with ``training=True`` it keeps what
  ``backward`` needs (and nothing more).
- ``backward(dy, need_dx=True) -> dx`` returns the gradient with respect to the input and
  **adds** (``+=``) the gradients of the weights into ``weight.grad``. With
  ``need_dx=False`` it may skip dx and return None.
- ``get_weights()`` / ``set_weights()`` use Keras's order and shapes (a Conv2D's kernel is
  ``(kh, kw, c_in, c_out)``, like Keras), so weights move between the two engines unchanged.

A layer takes everything it needs as arguments: a model never writes into its layers. What
a model decides (run order, an output activation fused with the loss, where backward stops)
is its :class:`~cnnlab.nn.plan.Plan`. Each class declares its Keras name, config keys and
weight order once (class attributes read by :mod:`cnnlab.nn.registry`).

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

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn import activations
from cnnlab.nn import initializers as inits
from cnnlab.ops import output_size, resolve_padding

_NAME_COUNTS: dict[str, int] = {}


def window_output_hw(layer, input_shape, window) -> tuple[int, int]:
    """(H_out, W_out) of a convolution or pooling layer, with the layer named in errors."""
    hw = (int(input_shape[1]), int(input_shape[2]))
    try:
        pads = resolve_padding(layer.padding, window, layer.strides, hw)
        return (
            output_size(hw[0], window[0], *pads[0], layer.strides[0]),
            output_size(hw[1], window[1], *pads[1], layer.strides[1]),
        )
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


def as_dtype(dtype: Any) -> np.dtype:
    if dtype is None:
        return np.dtype("float32")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype("float32"), np.dtype("float64")):
        raise ArgumentError(f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
    return dt


def padding_mode(padding: Any) -> str:
    """A layer's ``padding``: ``"valid"`` or ``"same"`` (any case), as in Keras."""
    return _validate.one_of(padding, "padding", ("valid", "same"))


def _shape_tuple(shape: Any, name: str) -> tuple[int, ...]:
    try:
        out = tuple(shape)
    except TypeError:
        out = None
    if not out or not all(_validate.is_int(d) and d > 0 for d in out):
        raise ArgumentError(
            f"{name} must be a non-empty tuple of positive integers (without the batch axis). "
            f"Received: {name}={shape!r}"
        )
    return tuple(int(d) for d in out)


def _jsonable(value: Any) -> Any:
    """A config value as JSON data: tuples become lists, initializers their config."""
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, inits.Initializer):
        return inits.serialize(value)
    return value


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

    # What the registry (cnnlab.nn.registry) reads, declared once per layer class:
    #: the Keras class of the same meaning (None: the layer has no Keras counterpart).
    keras_name: str | None = None
    #: the constructor arguments get_config() writes (beyond name, trainable, dtype and
    #: input_shape), read from the attributes of the same names.
    config_keys: tuple[str, ...] = ()
    #: the subset of config_keys that the Keras layer takes under the same name
    #: (None: all of them); to_keras / from_keras pass exactly these.
    keras_keys: tuple[str, ...] | None = None
    #: every weight the layer may create, in Keras's order (get_weights() order).
    weight_names: tuple[str, ...] = ()

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
        self.dtype = as_dtype(dtype)
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

    def regularization_loss(self) -> float:
        """The penalty this layer adds to the training loss (Keras's ``layer.losses``): 0.0
        unless it has a weight regularizer (see :class:`~cnnlab.nn.Conv2D`); 0.0 for a
        layer that is not trainable, as in Keras."""
        return 0.0

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

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """The gradient with respect to the input; adds (``+=``) the weights' gradients.

        With ``need_dx=False`` the caller (a model's plan, for its bottom layer with
        weights) will not use the input gradient: a layer may then skip computing it and
        return None. Layers that cannot save anything that way ignore the flag.
        """
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
        """Keras-like config: the constructor's arguments, JSON-serializable (the common
        ones, then each of :attr:`config_keys` read from the attribute of that name)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        for key in self.config_keys:
            config[key] = _jsonable(getattr(self, key))
        return config

    @property
    def input_shape_arg(self) -> tuple[int, ...] | None:
        """The ``input_shape`` given to the constructor (without the batch axis), or None."""
        return self._input_shape_arg

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

    keras_name = "InputLayer"
    config_keys = ("shape",)

    def forward(self, x, training=False):
        return x

    def backward(self, dy, need_dx=True):
        return dy


def Input(shape: Any, name: str | None = None, dtype: Any = None) -> InputLayer:  # noqa: N802
    """Declare the input shape (without the batch axis), as ``keras.Input``.

    Example:
        >>> model = Sequential([Input(shape=(64, 64, 3)), Flatten(), Dense(1)])  # doctest: +SKIP
    """
    return InputLayer(shape, name=name, dtype=dtype)


class ActivatedLayer(Layer):
    """A layer ``y = activation(z)`` whose pre-activation ``z`` (the logits) can be computed
    and differentiated on its own: ``forward_logits(x, training) -> z`` and
    ``backward_logits(dz, need_dx) -> dx``. A model whose loss takes logits (a sigmoid or
    softmax output with cross-entropy) calls these two on its last layer; ``forward`` and
    ``backward`` add the activation around them.
    """

    activation = "linear"
    _y = None

    def forward_logits(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """The pre-activation output ``z``, keeping (with ``training``) what
        :meth:`backward_logits` needs. It may be the input itself: do not modify it."""
        raise NotImplementedError

    def backward_logits(self, dz: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Backward from the gradient with respect to the pre-activation output."""
        raise NotImplementedError

    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        z = self.forward_logits(x, training)
        y = activations.forward(self.activation, z)  # in place: z is the layer's own array
        self._y = y if training else None
        return y

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        if self.activation != "linear":
            if self._y is None:
                raise self._no_cache()
            dy = activations.backward(self.activation, dy, self._y)
        return self.backward_logits(dy, need_dx)
