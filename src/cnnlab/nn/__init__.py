"""cnnlab.nn: a small NumPy deep-learning engine with a Keras-like API.

    >>> from cnnlab import nn
    >>> model = nn.Sequential([
    ...     nn.Input(shape=(64, 64, 3)),
    ...     nn.ZeroPadding2D(3),
    ...     nn.Conv2D(32, 7),
    ...     nn.BatchNormalization(axis=3),
    ...     nn.ReLU(),
    ...     nn.MaxPool2D(),
    ...     nn.Flatten(),
    ...     nn.Dense(1, activation="sigmoid"),
    ... ], seed=0)
    >>> model.count_params()
    37633

Layers, losses, optimizers, ``Sequential`` and the graph ``Model`` mirror Keras 3 (names,
arguments, defaults, weight order and shapes); ``from_keras`` / ``to_keras`` move models
between the engines and ``save`` / ``load_model`` store them in one ``.npz`` file. Imports no
TensorFlow.
"""

from cnnlab.nn import (
    activations,
    callbacks,
    initializers,
    losses,
    metrics,
    optimizers,
    registry,
)
from cnnlab.nn.callbacks import Callback, TerminateOnNaN
from cnnlab.nn.functional import Model
from cnnlab.nn.interop import from_keras, to_keras
from cnnlab.nn.layers import (
    Activation,
    Add,
    AveragePooling2D,
    AvgPool2D,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    Input,
    InputLayer,
    Layer,
    MaxPool2D,
    MaxPooling2D,
    ReLU,
    Rescaling,
    SeparableConv2D,
    Weight,
    ZeroPadding2D,
    clear_session,
)
from cnnlab.nn.legacy_h5 import load_keras_h5
from cnnlab.nn.model import History, Sequential
from cnnlab.nn.plan import Plan
from cnnlab.nn.saving import load_model, save_model

__all__ = [
    "Activation",
    "Add",
    "AveragePooling2D",
    "AvgPool2D",
    "BatchNormalization",
    "Callback",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "GlobalMaxPool2D",
    "GlobalMaxPooling2D",
    "History",
    "Input",
    "InputLayer",
    "Layer",
    "MaxPool2D",
    "MaxPooling2D",
    "Model",
    "Plan",
    "ReLU",
    "Rescaling",
    "SeparableConv2D",
    "Sequential",
    "TerminateOnNaN",
    "Weight",
    "ZeroPadding2D",
    "activations",
    "callbacks",
    "clear_session",
    "from_keras",
    "initializers",
    "load_keras_h5",
    "load_model",
    "losses",
    "metrics",
    "optimizers",
    "registry",
    "save_model",
    "to_keras",
]
