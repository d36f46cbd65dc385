"""Cross-entropy losses, numerically stable, with Keras's names, values and reductions.

Each loss gives the mean over the batch of a per-sample loss (Keras's "sum_over_batch_size":
with sample weights, ``sum(w * loss) / N``). Probabilities are clipped to ``[1e-7, 1 - 1e-7]``
as Keras does; when the model's last layer ends in the matching activation (sigmoid for binary,
softmax for categorical) the model hands the loss that layer's *logits* instead, so the loss
is computed as Keras's TensorFlow backend does it, from logits: no NaN or inf however
saturated the outputs, and the gradient ``p - y`` never vanishes.

Shapes:
    BinaryCrossentropy: y_pred (N, K) probabilities (usually K = 1); y_true (N, K), or (N,)
        when K = 1.
    CategoricalCrossentropy: y_pred (N, K); y_true one-hot (N, K).
    SparseCategoricalCrossentropy: y_pred (N, K); y_true int class ids (N,) or (N, 1).

Example:
    >>> import numpy as np
    >>> round(BinaryCrossentropy()(np.array([1.0, 0.0]), np.array([[0.9], [0.2]])), 4)
    0.1643
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.nn.activations import sigmoid, softmax

EPSILON = 1e-7


def _weights(sample_weight, n, dtype):
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=dtype).reshape(-1)
    if w.shape[0] != n:
        raise ArgumentError(
            f"sample_weight must have one entry per sample ({n}). Received shape {w.shape}"
        )
    return w


def _logsumexp(z):
    m = z.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)))[..., 0]


class Loss:
    """Base class. ``loss(y_true, y_pred, sample_weight=None) -> float``.

    ``from_logits=True`` means ``y_pred`` are raw scores rather than probabilities.
    """

    name = "loss"
    fused_activation = "linear"

    def __init__(self, from_logits: bool = False):
        self.from_logits = bool(from_logits)

    # per-sample losses and their gradients (unnormalized: d per_sample[i] / d y_pred[i])
    def _logits(self, t, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def _probs(self, t, p):  # pragma: no cover - abstract
        raise NotImplementedError

    def prepare_targets(self, y_true, y_pred) -> np.ndarray:
        """Bring ``y_true`` to the form the loss computes with (float, or int ids for sparse)."""
        return np.asarray(y_true, dtype=y_pred.dtype)

    def forward_backward(
        self,
        y_true: np.ndarray,
        y_pred: np.ndarray,
        *,
        logits: bool = False,
        sample_weight: Any = None,
    ) -> tuple[float, np.ndarray]:
        """The batch's loss and its gradient with respect to ``y_pred``.

        With ``logits=True`` (or ``from_logits``) ``y_pred`` holds logits and the gradient is
        with respect to them.
        """
        t = self.prepare_targets(y_true, y_pred)
        n = y_pred.shape[0]
        if logits or self.from_logits:
            per, grad = self._logits(t, y_pred)
        else:
            per, grad = self._probs(t, y_pred)
        w = _weights(sample_weight, n, y_pred.dtype)
        if w is not None:
            per = per * w
            grad *= w.reshape((n,) + (1,) * (grad.ndim - 1))
        grad *= y_pred.dtype.type(1.0 / n)
        return float(per.sum(dtype=np.float64) / n), grad

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype("float32")
        return self.forward_backward(y_true, y_pred, sample_weight=sample_weight)[0]

    def get_config(self) -> dict:
        return {"from_logits": self.from_logits}


class BinaryCrossentropy(Loss):
    """``-mean_k [y log p + (1 - y) log(1 - p)]`` per sample."""

    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def prepare_targets(self, y_true, y_pred):
        t = np.asarray(y_true, dtype=y_pred.dtype)
        if t.shape != y_pred.shape:
            if t.size != y_pred.size or t.shape[0] != y_pred.shape[0]:
                raise ArgumentError(
                    "Arguments `target` and `output` must have the same shape. "
                    f"Received: target.shape={t.shape}, output.shape={y_pred.shape}"
                )
            t = t.reshape(y_pred.shape)
        return t

    def _logits(self, t, z):
        per = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        grad = sigmoid(z) - t
        k = z.shape[-1]
        if k != 1:
            grad /= k
        return per.mean(axis=-1), grad

    def _probs(self, t, p):
        pc = np.clip(p, EPSILON, 1 - EPSILON)
        per = -(t * np.log(pc) + (1 - t) * np.log(1 - pc))
        inside = (p >= EPSILON) & (p <= 1 - EPSILON)
        grad = (-(t / pc) + (1 - t) / (1 - pc)) * inside / p.shape[-1]
        return per.mean(axis=-1), grad.astype(p.dtype, copy=False)


class CategoricalCrossentropy(Loss):
    """``-sum_k y_k log p_k`` per sample, with one-hot ``y``."""

    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def prepare_targets(self, y_true, y_pred):
        t = np.asarray(y_true, dtype=y_pred.dtype)
        if t.shape != y_pred.shape:
            raise ArgumentError(
                "Arguments `target` and `output` must have the same shape. "
                f"Received: target.shape={t.shape}, output.shape={y_pred.shape} "
                "(use sparse_categorical_crossentropy for integer labels)"
            )
        return t

    def _logits(self, t, z):
        lse = _logsumexp(z)
        tsum = t.sum(axis=-1)
        per = tsum * lse - (t * z).sum(axis=-1)
        grad = softmax(z.copy())
        grad *= tsum[:, None]
        grad -= t
        return per, grad

    def _probs(self, t, p):
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        qc = np.clip(q, EPSILON, 1 - EPSILON)
        per = -(t * np.log(qc)).sum(axis=-1)
        dq = -(t / qc) * ((q >= EPSILON) & (q <= 1 - EPSILON))
        grad = (dq - (dq * q).sum(axis=-1, keepdims=True)) / s
        return per, grad.astype(p.dtype, copy=False)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class ids instead of one-hot vectors."""

    name = "sparse_categorical_crossentropy"

    def prepare_targets(self, y_true, y_pred):
        t = np.asarray(y_true)
        if t.ndim == 2 and t.shape[1] == 1:
            t = t[:, 0]
        if t.ndim != 1 or t.shape[0] != y_pred.shape[0]:
            raise ArgumentError(
                "sparse_categorical_crossentropy expects integer labels of shape (N,) or (N, 1) "
                f"for outputs of shape {y_pred.shape}. Received: target.shape={np.shape(y_true)}"
            )
        if t.dtype.kind == "f":
            if not np.all(t == np.round(t)):
                raise ArgumentError("sparse_categorical_crossentropy labels must be integers")
        t = t.astype(np.int64)
        k = y_pred.shape[-1]
        if t.size and (t.min() < 0 or t.max() >= k):
            raise ArgumentError(
                f"Labels must be in [0, {k}) for {k} output classes. "
                f"Received labels in [{t.min()}, {t.max()}]"
            )
        return t

    def _onehot(self, t, like):
        oh = np.zeros_like(like)
        oh[np.arange(t.shape[0]), t] = 1
        return oh

    def _logits(self, t, z):
        rows = np.arange(t.shape[0])
        per = _logsumexp(z) - z[rows, t]
        grad = softmax(z.copy())
        grad[rows, t] -= 1
        return per, grad

    def _probs(self, t, p):
        return super()._probs(self._onehot(t, p), p)


_BY_NAME = {
    cls.name: cls
    for cls in (BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)
}


def get(identifier: str | Loss) -> Loss:
    """A loss from its Keras name ("binary_crossentropy", ...) or a :class:`Loss` instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]()
    raise ArgumentError(
        f"Unknown loss. Expected one of {sorted(_BY_NAME)} or a Loss instance. "
        f"Received: loss={identifier!r}"
    )


def serialize(loss: Loss) -> dict:
    return {"name": loss.name, **loss.get_config()}


def deserialize(config: dict) -> Loss:
    config = dict(config)
    cls = _BY_NAME.get(config.pop("name", None))
    if cls is None:
        raise ArgumentError(f"Unknown loss in config: {config!r}")
    return cls(**config)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False) -> float:
    """Mean binary cross-entropy (see :class:`BinaryCrossentropy`)."""
    return BinaryCrossentropy(from_logits)(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> float:
    """Mean categorical cross-entropy (see :class:`CategoricalCrossentropy`)."""
    return CategoricalCrossentropy(from_logits)(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> float:
    """Mean sparse categorical cross-entropy (see :class:`SparseCategoricalCrossentropy`)."""
    return SparseCategoricalCrossentropy(from_logits)(y_true, y_pred)
