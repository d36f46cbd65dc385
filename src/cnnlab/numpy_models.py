"""The course's models and the recommended ones in the NumPy engine (:mod:`cnnlab.nn`).

Layer for layer the same networks as :mod:`cnnlab.keras_models`, with the same
parameter counts and Keras's weight order, so weights move between the engines
with :func:`cnnlab.nn.from_keras` and ``model.to_keras()``. The NumPy engine has
only single-chain models, so the Functional SIGNS model becomes a Sequential
here: for a chain the two APIs build the same network. The NumPy engine has no
augmentation layers; the recommended models here are the Keras ones without
their augmentation.

The transfer model's backbone is read from the shipped legacy Keras HDF5 file with h5py
(:func:`cnnlab.nn.legacy_h5.read_keras_h5`), not through Keras.

Imports no TensorFlow. Images are NHWC float in [0, 1].

Example:
    >>> model = happy_model(seed=0)                   # doctest: +SKIP
    >>> model.count_params()                          # doctest: +SKIP
    37633
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cnnlab import nn, pretrained
from cnnlab.errors import ArgumentError
from cnnlab.keras_models import (
    GREY_WEIGHTS,
    TRANSFER_BACKBONES,
    check_input_shape,
    check_n_classes,
    check_task_model,
    check_transfer_shape,
    happy_layers,
    recommended_layers,
)
from cnnlab.keras_models import recommended_plan as recommended_plan
from cnnlab.keras_models import set_transfer_phase as set_transfer_phase  # one for both engines
from cnnlab.nn.legacy_h5 import read_keras_h5
from cnnlab.tasks import get_task

MODELS = ("course", "recommended", "transfer")
"""The models of :data:`cnnlab.keras_models.MODELS` the NumPy engine builds: all of them."""


def check_engine_model(model: str) -> None:
    """``ArgumentError`` (one line) for a model the NumPy engine cannot build."""
    if model not in MODELS:
        raise ArgumentError(
            f"model {model!r} needs the Keras engine (the NumPy engine builds "
            f"{', '.join(MODELS)}); use --engine keras"
        )


def _sequential(layers: list, name: str, seed: int | None) -> nn.Sequential:
    model = nn.Sequential(layers, name=name, seed=seed)
    if not model.built:
        model.build()
    return model


def happy_model(input_shape: Sequence[int] = (64, 64, 3), *, seed: int | None = 0) -> nn.Sequential:
    """The course's Happy model: ZeroPadding2D(3) -> Conv2D(32, 7) -> BatchNormalization(axis=3)
    -> ReLU -> MaxPool2D -> Flatten -> Dense(1, sigmoid): 37,633 parameters at 64x64x3.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        seed: seed of the initial weights (glorot_uniform kernels, zero biases).

    Returns:
        An uncompiled, built ``cnnlab.nn.Sequential``; input ``(N, H, W, C)``,
        output ``(N, 1)``.
    """
    shape = check_input_shape(input_shape)
    return _sequential([nn.Input(shape=shape), *happy_layers(nn)], "happy_model", seed)


def signs_model(
    input_shape: Sequence[int] = (64, 64, 3), n_classes: int = 6, *, seed: int | None = 0
) -> nn.Sequential:
    """The course's SIGNS model: Conv2D(8, 4, 'same') -> ReLU -> MaxPool2D(8, 8, 'same')
    -> Conv2D(16, 2, 'same') -> ReLU -> MaxPool2D(4, 4, 'same') -> Flatten
    -> Dense(n_classes, softmax): 1,310 parameters at 64x64x3 with 6 classes.

    Args:
        input_shape: ``(height, width, channels)`` of one image.
        n_classes: number of classes.
        seed: seed of the initial weights.

    Returns:
        An uncompiled, built ``cnnlab.nn.Sequential``; output ``(N, n_classes)``.
    """
    shape = check_input_shape(input_shape)
    check_n_classes(n_classes)
    return _sequential(
        [
            nn.Input(shape=shape),
            nn.Conv2D(8, (4, 4), strides=(1, 1), padding="same"),
            nn.ReLU(),
            nn.MaxPool2D(pool_size=(8, 8), strides=(8, 8), padding="same"),
            nn.Conv2D(16, (2, 2), strides=(1, 1), padding="same"),
            nn.ReLU(),
            nn.MaxPool2D(pool_size=(4, 4), strides=(4, 4), padding="same"),
            nn.Flatten(),
            nn.Dense(n_classes, activation="softmax"),
        ],
        "signs_model",
        seed,
    )


def recommended_model(
    task: str,
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 10,
    *,
    seed: int | None = 0,
) -> nn.Sequential:
    """The recommended model of ``task`` ("mood" or "signs"), without augmentation.

    The same layers as the Keras model, from :func:`cnnlab.keras_models.recommended_layers`.
    """
    check_task_model(task, "recommended")
    shape = check_input_shape(input_shape)
    n_classes = 2 if get_task(task).binary else check_n_classes(n_classes)
    layers = [nn.Input(shape=shape), *recommended_layers(nn, task, shape, n_classes)]
    return _sequential(layers, f"{task}_recommended", seed)


def transfer_model(
    task: str = "mood",
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 2,
    *,
    dropout: float = 0.2,
    seed: int | None = 0,
) -> nn.Model:
    """The NumPy twin of :func:`cnnlab.keras_models.transfer_model`: the same layers, names,
    weights (in the same order) and ``trainable`` flags, in its first phase (backbone frozen,
    head trainable; :func:`set_transfer_phase` unfreezes the top block).

    ``to_grey`` (a fixed 1x1 convolution with :data:`~cnnlab.keras_models.GREY_WEIGHTS`, for 3
    channels only), ``to_signed`` (Rescaling [0, 1] -> [-1, 1]), the backbone of
    :data:`~cnnlab.keras_models.TRANSFER_BACKBONES` up to its global average pooling (its
    weights read from the shipped file with h5py: no TensorFlow), then Dropout(``dropout``)
    ``head_dropout`` and Dense(1, sigmoid) ``head`` with zero weights.

    Args:
        task, input_shape, n_classes, dropout: as the Keras function.
        seed: seed of the model's generator (the head's dropout masks outside ``fit(seed=)``).

    Returns:
        An uncompiled, built graph ``cnnlab.nn.Model``, output ``(N, 1)``.
    """
    check_task_model(task, "transfer", n_classes)
    shape = check_transfer_shape(input_shape)
    fer = read_keras_h5(pretrained.path(TRANSFER_BACKBONES[task]))
    graph: list = []
    below = "image"
    if shape[2] == 3:
        graph.append((nn.Conv2D(1, 1, use_bias=False, trainable=False, name="to_grey"), [below]))
        below = "to_grey"
    graph.append((nn.Rescaling(2.0, offset=-1.0, name="to_signed"), [below]))
    pooled = fer.graph[-1][1][0]  # the input of the last layer (the softmax)
    for layer, names in fer.graph:
        layer.trainable = False
        graph.append((layer, ["to_signed" if n == fer.input_name else n for n in names]))
        if layer.name == pooled:
            break
    graph += [
        (nn.Dropout(dropout, name="head_dropout"), [pooled]),
        (
            nn.Dense(1, activation="sigmoid", kernel_initializer="zeros", name="head"),
            ["head_dropout"],
        ),
    ]
    model = nn.Model(nn.Input(shape=shape, name="image"), graph, name=f"{task}_transfer", seed=seed)
    for layer in model.layers:
        if layer.name in fer.weights:
            layer.set_weights(fer.weights[layer.name])
    if shape[2] == 3:
        model.get_layer("to_grey").set_weights(
            [np.asarray(GREY_WEIGHTS, dtype=np.float32).reshape(1, 1, 3, 1)]
        )
    return model


def build_model(
    task: str,
    model: str = "course",
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 2,
    *,
    seed: int | None = 0,
) -> nn.Sequential:
    """The NumPy-engine model for a task, as :func:`cnnlab.keras_models.build_model` (a
    graph ``nn.Model`` for "transfer")."""
    check_task_model(task, model, n_classes)
    check_engine_model(model)
    if model == "transfer":
        return transfer_model(task, input_shape, n_classes, seed=seed)
    if model == "course":
        if get_task(task).course_model == "happy":
            return happy_model(input_shape, seed=seed)
        return signs_model(input_shape, n_classes, seed=seed)
    return recommended_model(task, input_shape, n_classes, seed=seed)
