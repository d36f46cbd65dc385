"""The course's data helpers, with the course's semantics, and a tf.data pipeline."""

from __future__ import annotations

import math

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError


def check_finite(array: np.ndarray, name: str) -> None:
    """Raise ``ArgumentError`` naming ``name`` if a float array holds NaN or inf values."""
    a = np.asarray(array)
    if a.dtype.kind in "fc" and a.size:
        finite = np.isfinite(a)
        if not finite.all():
            first = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ArgumentError(
                f"{name} must hold finite values. Received: {int(a.size - finite.sum())} NaN "
                f"or inf values (the first at index {first})"
            )


def convert_to_one_hot(Y: np.ndarray, C: int) -> np.ndarray:  # noqa: N803
    """One-hot encode labels the course's way: the result has shape ``(C, m)``.

    As in the course (``np.eye(C)[Y.reshape(-1)].T``), classes run along the FIRST axis;
    Keras wants ``(m, C)``, so the course notebooks write ``convert_to_one_hot(Y, C).T``.

    Args:
        Y: integer labels of any shape with ``m`` elements (the course passes ``(1, m)``).
        C: number of classes.

    Returns:
        float64 array of shape ``(C, m)``.

    Example:
        >>> convert_to_one_hot(np.array([[1, 0, 2]]), 3)
        array([[0., 1., 0.],
               [1., 0., 0.],
               [0., 0., 1.]])
    """
    C = _validate.positive_int(C, "C")  # noqa: N806
    Y = np.asarray(Y).reshape(-1)  # noqa: N806
    if Y.size and (Y.dtype.kind not in "iu" or Y.min() < 0 or Y.max() >= C):
        raise ArgumentError(
            f"Y must hold integer labels in 0..{C - 1}. Received: dtype={Y.dtype}, "
            f"values {Y.min()}..{Y.max()}"
        )
    return np.eye(C)[Y].T


def random_mini_batches(
    X: np.ndarray,  # noqa: N803
    Y: np.ndarray,  # noqa: N803
    mini_batch_size: int = 64,
    seed: int = 0,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffle ``(X, Y)`` and cut it into mini-batches, exactly as the course does.

    The permutation is the one the course gets from ``np.random.seed(seed);
    np.random.permutation(m)``, but drawn from a private ``np.random.RandomState(seed)``
    so NumPy's global random state is left alone. The last batch holds the remainder
    when ``m`` is not a multiple of ``mini_batch_size``.

    Args:
        X: inputs, shape ``(m, H, W, C)`` (any array whose first axis is ``m``).
        Y: one-hot targets, shape ``(m, n_y)``.
        mini_batch_size: examples per batch.
        seed: the course's seed.

    Returns:
        list of ``(mini_batch_X, mini_batch_Y)`` with shapes ``(b, H, W, C)``, ``(b, n_y)``.
    """
    mini_batch_size = _validate.positive_int(mini_batch_size, "mini_batch_size")
    m = X.shape[0]
    if Y.shape[0] != m:
        raise ArgumentError(
            f"X and Y must have the same number of examples on axis 0. "
            f"Received: X.shape={X.shape}, Y.shape={Y.shape}"
        )
    check_finite(X, "X")
    check_finite(Y, "Y")
    permutation = list(np.random.RandomState(seed).permutation(m))
    shuffled_X = X[permutation]  # noqa: N806
    shuffled_Y = Y[permutation]  # noqa: N806
    batches = []
    n_complete = math.floor(m / mini_batch_size)
    for k in range(n_complete):
        sl = slice(k * mini_batch_size, (k + 1) * mini_batch_size)
        batches.append((shuffled_X[sl], shuffled_Y[sl]))
    if m % mini_batch_size != 0:
        sl = slice(n_complete * mini_batch_size, m)
        batches.append((shuffled_X[sl], shuffled_Y[sl]))
    return batches


def to_tf_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int = 32,
    shuffle: bool = True,
    seed: int = 0,
    *,
    scale: bool = True,
    num_classes: int | None = None,
    prefetch: bool = True,
):
    """A batched, optionally shuffled, prefetched ``tf.data.Dataset`` of ``(x, y)``.

    TensorFlow is imported here, not when ``cnnlab.data`` is imported.

    Args:
        x: images, uint8 ``(N, H, W, C)``.
        y: int labels ``(N,)``.
        batch_size: examples per batch (the last batch may be smaller).
        shuffle: reshuffle every epoch, seeded by ``seed``.
        seed: shuffle seed.
        scale: yield float32 images in [0, 1] (``x / 255``); else the raw dtype.
        num_classes: if given, yield one-hot float32 labels ``(batch, num_classes)``
            instead of int64 ``(batch,)``.
        prefetch: prefetch with ``tf.data.AUTOTUNE``.

    Returns:
        ``tf.data.Dataset`` yielding ``(x_batch (b, H, W, C), y_batch)``.
    """
    batch_size = _validate.positive_int(batch_size, "batch_size")
    if len(x) != len(y):
        raise ArgumentError(
            f"x and y must have the same length. Received: len(x)={len(x)}, len(y)={len(y)}"
        )
    check_finite(x, "x")
    check_finite(y, "y")
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, np.asarray(y, dtype=np.int64)))
    if shuffle and len(x):
        ds = ds.shuffle(buffer_size=len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def _map(xb, yb):
        if scale:
            xb = tf.cast(xb, tf.float32) / 255.0
        if num_classes is not None:
            yb = tf.one_hot(yb, num_classes, dtype=tf.float32)
        return xb, yb

    if scale or num_classes is not None:
        ds = ds.map(_map, num_parallel_calls=tf.data.AUTOTUNE)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds
