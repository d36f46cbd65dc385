"""Layers with Keras's names, arguments and defaults, built on :mod:`cnnlab.ops`, one concept
per module as in Keras:

- :mod:`~cnnlab.nn.layers.base`: the layer contract (``Layer``, ``Weight``, ``InputLayer``,
  ``ActivatedLayer``);
- :mod:`~cnnlab.nn.layers.convolutional`: ``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D``;
- :mod:`~cnnlab.nn.layers.core`: ``Dense``, ``Activation``, ``ReLU``, ``Dropout``,
  ``Rescaling``;
- :mod:`~cnnlab.nn.layers.pooling`: ``MaxPooling2D``, ``AveragePooling2D``,
  ``GlobalAveragePooling2D``, ``GlobalMaxPooling2D``;
- :mod:`~cnnlab.nn.layers.merging`: ``Add`` (for graph models);
- :mod:`~cnnlab.nn.layers.reshaping`: ``Flatten``, ``ZeroPadding2D``;
- :mod:`~cnnlab.nn.layers.normalization`: ``BatchNormalization``.

Which classes exist, and what each is in Keras and in a config, is :mod:`cnnlab.nn.registry`.
"""

from cnnlab.nn import registry
from cnnlab.nn.layers.base import (
    ActivatedLayer,
    Input,
    InputLayer,
    Layer,
    Weight,
    clear_session,
    unique_name,
)
from cnnlab.nn.layers.convolutional import Conv2D, DepthwiseConv2D, SeparableConv2D
from cnnlab.nn.layers.core import Activation, Dense, Dropout, ReLU, Rescaling
from cnnlab.nn.layers.merging import Add
from cnnlab.nn.layers.normalization import BatchNormalization
from cnnlab.nn.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from cnnlab.nn.layers.reshaping import Flatten, ZeroPadding2D


def __getattr__(name: str):
    # LAYERS, serialize and deserialize live in cnnlab.nn.registry, which imports the modules
    # above: read on first use, so that either package can be imported first.
    if name in ("LAYERS", "deserialize", "serialize"):
        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ActivatedLayer",
    "Activation",
    "Add",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "LAYERS",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "ReLU",
    "Rescaling",
    "SeparableConv2D",
    "Weight",
    "ZeroPadding2D",
    "clear_session",
    "deserialize",
    "serialize",
    "unique_name",
]
