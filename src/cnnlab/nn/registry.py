"""The one list of layer types, and every rule about them that is not inside a layer.

Each layer class declares, as class attributes, its Keras class name (``keras_name``), its
config (``config_keys``, and ``keras_keys``: those the Keras layer takes under the same
name) and its weight order (``weight_names``). This module lists the classes once; model
files (:mod:`cnnlab.nn.saving`), ``from_keras`` / ``to_keras`` (:mod:`cnnlab.nn.interop`),
``cnnlab explain model`` and the training code's layer queries read them from here.

Adding a layer: write its class in its module under :mod:`cnnlab.nn.layers` (with those
four attributes), add it to :data:`LAYERS` below, and, if the Keras layer has options the
NumPy layer does not implement, list them in :data:`UNSUPPORTED_KERAS_OPTIONS`.
"""

from __future__ import annotations

from typing import Any

from cnnlab.errors import ArgumentError
from cnnlab.nn.layers.base import InputLayer, Layer
from cnnlab.nn.layers.convolutional import Conv2D, DepthwiseConv2D, SeparableConv2D
from cnnlab.nn.layers.core import Activation, Dense, Dropout, ReLU, Rescaling
from cnnlab.nn.layers.merging import Add
from cnnlab.nn.layers.normalization import BatchNormalization
from cnnlab.nn.layers.pooling import (
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
)
from cnnlab.nn.layers.reshaping import Flatten, ZeroPadding2D

#: Every layer class of cnnlab.nn, by class name (the "class_name" of a saved config).
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        InputLayer,
        Conv2D,
        DepthwiseConv2D,
        SeparableConv2D,
        Dense,
        Activation,
        ReLU,
        Flatten,
        ZeroPadding2D,
        MaxPooling2D,
        AveragePooling2D,
        GlobalAveragePooling2D,
        GlobalMaxPooling2D,
        BatchNormalization,
        Dropout,
        Rescaling,
        Add,
    )
}

#: The cnnlab.nn class of each Keras class name it converts from and to.
BY_KERAS_NAME: dict[str, type[Layer]] = {
    cls.keras_name: cls for cls in LAYERS.values() if cls.keras_name is not None
}

#: Keras's data-augmentation layers: random at training time, the identity at inference.
#: cnnlab.nn has none; ``keras_models.strip_augmentation`` removes them before conversion.
AUGMENTATION: tuple[str, ...] = (
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
)

_ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "softmax", "tanh"})

#: The Keras options cnnlab.nn does not implement, by Keras class name ("*": every layer):
#: the one value (or the set of values) the NumPy layer computes. Converting a Keras layer
#: whose config holds anything else raises one ArgumentError naming the layer and the option.
UNSUPPORTED_KERAS_OPTIONS: dict[str, dict[str, Any]] = {
    "*": {
        "dtype": frozenset({"float32", "float64"}),
        "data_format": "channels_last",
        "activation": _ACTIVATIONS,
        "activity_regularizer": None,
    },
    "Conv2D": {  # an L2 kernel_regularizer is supported (Conv2D checks the rest)
        "dilation_rate": (1, 1),
        "groups": 1,
        "bias_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    },
    "DepthwiseConv2D": {
        "dilation_rate": (1, 1),
        "depthwise_regularizer": None,
        "bias_regularizer": None,
        "depthwise_constraint": None,
        "bias_constraint": None,
    },
    "SeparableConv2D": {
        "dilation_rate": (1, 1),
        "depthwise_regularizer": None,
        "pointwise_regularizer": None,
        "bias_regularizer": None,
        "depthwise_constraint": None,
        "pointwise_constraint": None,
        "bias_constraint": None,
    },
    "Dense": {
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
        "lora_rank": None,
    },
    "BatchNormalization": {
        "renorm": False,
        "synchronized": False,
        "beta_regularizer": None,
        "gamma_regularizer": None,
        "beta_constraint": None,
        "gamma_constraint": None,
    },
    "ReLU": {"max_value": None, "negative_slope": 0.0, "threshold": 0.0},
    "Dropout": {"noise_shape": None},
}


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, frozenset):
        return isinstance(got, str) and got in want
    if isinstance(got, list):
        got = tuple(got)
    return got == want or (want is None and got in (None, {}))


def check_keras_options(name: str, kind: str, config: dict) -> None:
    """Raise an ArgumentError if a Keras layer's ``config`` uses an option of
    :data:`UNSUPPORTED_KERAS_OPTIONS` with a value cnnlab.nn does not compute.

    Args:
        name: the layer's name; kind: its Keras class name; config: its ``get_config()``.
    """
    for table in (UNSUPPORTED_KERAS_OPTIONS["*"], UNSUPPORTED_KERAS_OPTIONS.get(kind, {})):
        for option, want in table.items():
            if option in config and not _same(config[option], want):
                raise ArgumentError(
                    f"from_keras: layer {name!r} ({kind}) uses {option}={config[option]!r}, "
                    "which cnnlab.nn does not support"
                )


def kind(layer: Any) -> str:
    """The Keras class name of a cnnlab.nn layer (``"Conv2D"``), or the class name of a Keras
    layer: the same answer for a layer of either engine."""
    return getattr(type(layer), "keras_name", None) or type(layer).__name__


def is_conv(layer: Any) -> bool:
    """Whether ``layer`` (of either engine) is a 2D convolution, whose outputs are feature maps."""
    return kind(layer) == "Conv2D"


def is_augmentation(layer: Any) -> bool:
    """Whether ``layer`` (a Keras layer, or a class name) is a data-augmentation layer."""
    return (layer if isinstance(layer, str) else kind(layer)) in AUGMENTATION


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
    """``{"class_name": ..., "config": layer.get_config()}``, what :func:`deserialize` reads."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def keras_keys(cls: type[Layer]) -> tuple[str, ...]:
    """The config keys a layer class shares with its Keras class."""
    return cls.config_keys if cls.keras_keys is None else cls.keras_keys


def tuples(value: Any) -> Any:
    """Lists (JSON's sequences) as tuples, nested."""
    return tuple(tuples(v) for v in value) if isinstance(value, list | tuple) else value


def _dtype_name(dtype: Any) -> Any:
    """A Keras dtype as its name: ``"float32"``, or a saved ``DTypePolicy`` dict's name."""
    if isinstance(dtype, dict):
        return (dtype.get("config") or {}).get("name", dtype.get("class_name"))
    return dtype


def from_keras_config(kind: str, config: dict) -> Layer:
    """The cnnlab.nn layer for a Keras layer of class ``kind`` with ``config`` (its
    ``get_config()``, or the same dict as a ``.keras`` or legacy ``.h5`` file stores it):
    the class from :data:`BY_KERAS_NAME`, the options checked by
    :func:`check_keras_options`, the keys it shares with Keras passed through, and the
    name, dtype and ``trainable`` flag kept. Allocates nothing.

    Raises:
        ArgumentError: a Keras layer or option cnnlab.nn does not compute, naming the layer.
    """
    name = config.get("name", "?")
    cls = BY_KERAS_NAME.get(kind)
    if cls is None or cls is InputLayer:
        raise ArgumentError(
            f"from_keras: layer {name!r} of type {kind} is not supported by cnnlab.nn "
            f"(supported: {', '.join(k for k in BY_KERAS_NAME if k != 'InputLayer')})"
        )
    config = {**config, "dtype": _dtype_name(config.get("dtype", "float32"))}
    check_keras_options(name, kind, config)
    args = {key: tuples(config[key]) for key in keras_keys(cls) if key in config}
    try:
        return cls(
            **args, name=name, dtype=config["dtype"], trainable=bool(config.get("trainable", True))
        )
    except ArgumentError as exc:
        raise ArgumentError(f"from_keras: layer {name!r} ({kind}): {exc}") from None
