"""The accuracy metric, resolved from the loss as Keras resolves ``metrics=["accuracy"]``.

- binary cross-entropy (or one output unit): ``y_pred > 0.5`` equals ``y_true``;
- categorical cross-entropy: ``argmax(y_pred) == argmax(y_true)``;
- sparse categorical cross-entropy: ``argmax(y_pred) == y_true``.

A metric accumulates over an epoch: ``update(y_true, y_pred)`` then ``result()``.

Example:
    >>> import numpy as np
    >>> m = Accuracy("binary")
    >>> m.update(np.array([1, 0]), np.array([[0.9], [0.7]]))
    >>> m.result()
    0.5
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.nn import losses as losses_mod


class Accuracy:
    """Fraction of correct predictions, accumulated over batches.

    Args:
        kind: "binary", "categorical" or "sparse_categorical".
        name: the key in History and logs (default "accuracy").
    """

    KINDS = ("binary", "categorical", "sparse_categorical")

    def __init__(self, kind: str, name: str = "accuracy"):
        if kind not in self.KINDS:
            raise ArgumentError(f"kind must be one of {self.KINDS}. Received: kind={kind!r}")
        self.kind = kind
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0

    def matches(self, y_true, y_pred) -> np.ndarray:
        """Per-sample correctness in [0, 1], shape (N,)."""
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true)
        n = y_pred.shape[0]
        if self.kind == "binary":
            t = y_true.reshape(y_pred.shape) if y_true.size == y_pred.size else y_true
            hit = (y_pred > 0.5) == (t > 0.5)
            return hit.reshape(n, -1).mean(axis=1)
        pred = y_pred.argmax(axis=-1)
        if self.kind == "categorical":
            true = y_true.argmax(axis=-1)
        else:
            true = y_true.reshape(n)
        return (pred == true).astype(np.float64)

    def update(self, y_true, y_pred) -> None:
        m = self.matches(y_true, y_pred)
        self.total += float(m.sum())
        self.count += m.shape[0]

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


def get(identifier, loss: losses_mod.Loss, output_shape: tuple) -> Accuracy:
    """Resolve a compile() metric: "accuracy" / "acc" (or an :class:`Accuracy`)."""
    if isinstance(identifier, Accuracy):
        return identifier
    if identifier in ("accuracy", "acc"):
        if isinstance(loss, losses_mod.BinaryCrossentropy) or output_shape[-1] == 1:
            kind = "binary"
        elif isinstance(loss, losses_mod.SparseCategoricalCrossentropy):
            kind = "sparse_categorical"
        else:
            kind = "categorical"
        return Accuracy(kind, name=identifier)
    raise ArgumentError(
        f"Unknown metric. Supported: 'accuracy' (or 'acc'). Received: metric={identifier!r}"
    )
