"""Activation functions as forward/backward pairs written in terms of the output.

Each backward takes the upstream gradient ``dy`` and the activation's *output* ``y`` (which the
layer keeps anyway), so a layer caches one array, not two. Shapes are unchanged: any (N, ...).
Softmax works over the last axis.

Example:
    >>> import numpy as np
    >>> y = forward("relu", np.array([-1.0, 2.0]))
    >>> backward("relu", np.array([1.0, 1.0]), y)
    array([0., 1.])
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ArgumentError

SUPPORTED = ("linear", "relu", "sigmoid", "softmax", "tanh")


def normalize(activation: str | None) -> str:
    """Map ``None`` to "linear" and check the name, Keras style."""
    if activation is None:
        return "linear"
    if isinstance(activation, str) and activation.lower() in SUPPORTED:
        return activation.lower()
    raise ArgumentError(
        f"Unsupported activation. Expected one of {list(SUPPORTED)} or None. "
        f"Received: activation={activation!r}"
    )


def sigmoid(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Numerically stable logistic function (no overflow for large |z|)."""
    e = np.exp(-np.abs(z))
    pos = z >= 0
    out = np.empty_like(z) if out is None else out
    np.divide(1.0, 1.0 + e, out=out, where=pos)
    np.divide(e, 1.0 + e, out=out, where=~pos)
    return out


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the row maximum."""
    e = z - z.max(axis=-1, keepdims=True)
    np.exp(e, out=e)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def forward(name: str, z: np.ndarray) -> np.ndarray:
    """Apply activation ``name`` to ``z``; may reuse ``z``'s memory (the layer owns it)."""
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0, out=z)
    if name == "sigmoid":
        return sigmoid(z, out=z)
    if name == "tanh":
        return np.tanh(z, out=z)
    if name == "softmax":
        return softmax(z)
    raise ArgumentError(f"Unsupported activation: {name!r}")


def backward(name: str, dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Gradient with respect to the activation's input, given its output ``y``."""
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (y > 0)
    if name == "sigmoid":
        return dy * y * (1.0 - y)
    if name == "tanh":
        return dy * (1.0 - y * y)
    if name == "softmax":
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    raise ArgumentError(f"Unsupported activation: {name!r}")
