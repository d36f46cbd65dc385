"""The course's models and the recommended ones in the NumPy engine (:mod:`cnnlab.nn`).

Layer for layer the same networks as :mod:`cnnlab.keras_models`, with the same
parameter counts and Keras's weight order, so weights move between the engines
with :func:`cnnlab.nn.from_keras` and ``model.to_keras()``. The NumPy engine has
only single-chain models, so the Functional SIGNS model becomes a Sequential
here: for a chain the two APIs build the same network. The NumPy engine has no
augmentation layers; the recommended models here are the Keras ones without
their augmentation.

Imports no TensorFlow. Images are NHWC float in [0, 1].

Example:
    >>> model = happy_model(seed=0)                   # doctest: +SKIP
    >>> model.count_params()                          # doctest: +SKIP
    37633
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab import nn
from cnnlab.errors import ArgumentError
from cnnlab.keras_models import (
    check_input_shape,
    check_n_classes,
    check_task_model,
    happy_layers,
    recommended_layers,
)
from cnnlab.keras_models import recommended_plan as recommended_plan
from cnnlab.tasks import get_task

MODELS = ("course", "recommended")
"""The models of :data:`cnnlab.keras_models.MODELS` the NumPy engine builds. Not yet
"transfer": its backbone needs separable convolutions and a graph (not a chain) model, which
:mod:`cnnlab.nn` does not have yet; add it here once it does."""


def check_engine_model(model: str) -> None:
    """``ArgumentError`` (one line) for a model the NumPy engine cannot build yet."""
    if model not in MODELS:
        raise ArgumentError(
            f"model {model!r} needs the Keras engine for now (the NumPy engine has no "
            "separable convolutions or graph models yet); use --engine keras"
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


def build_model(
    task: str,
    model: str = "course",
    input_shape: Sequence[int] = (64, 64, 3),
    n_classes: int = 2,
    *,
    seed: int | None = 0,
) -> nn.Sequential:
    """The NumPy-engine model for a task, as :func:`cnnlab.keras_models.build_model`."""
    check_task_model(task, model, n_classes)
    check_engine_model(model)
    if model == "course":
        if get_task(task).course_model == "happy":
            return happy_model(input_shape, seed=seed)
        return signs_model(input_shape, n_classes, seed=seed)
    return recommended_model(task, input_shape, n_classes, seed=seed)
