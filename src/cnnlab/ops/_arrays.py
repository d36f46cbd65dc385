"""Array layout helpers shared by the fast ops and the NumPy engine."""

from __future__ import annotations

import numpy as np


def side_by_side(a: np.ndarray, min_width: int = 1024) -> tuple[np.ndarray, int]:
    """View a C-contiguous (M, C) array as (M / k, k * C): ``k`` rows laid side by side.

    Per-channel arithmetic (``a += bias``, ``a - mean``) steps through rows of C values,
    and NumPy spends more time stepping than computing when C is small: with rows of at
    least ``min_width`` values the same arithmetic (with the per-channel vector tiled k
    times, ``np.tile(vector, k)``) runs 1.3 to 4 times faster. ``k`` is the largest power
    of two that divides M and is needed to reach ``min_width``.

    Example:
        >>> wide, k = side_by_side(np.zeros((64, 8)))
        >>> wide.shape, k
        ((1, 512), 64)
    """
    m, c = a.shape
    k = 1
    while k * c < min_width and m % (2 * k) == 0:
        k *= 2
    return a.reshape(m // k, k * c), k


def add_per_channel(a: np.ndarray, vector: np.ndarray) -> None:
    """``a += vector`` over the last axis of a C-contiguous array, rows side by side."""
    wide, k = side_by_side(a.reshape(-1, a.shape[-1]))
    wide += np.tile(vector, k)


def column_sums(a: np.ndarray, b: np.ndarray | None = None, block: int = 128) -> np.ndarray:
    """``sum(a, axis=0)`` (or ``sum(a * b, axis=0)``) of an (M, C) array, in float64.

    Sums blocks of ``block`` rows in the array's precision (one BLAS call), then adds the
    blocks in float64: nearly as exact as a float64 sum and as fast as a float32 one (a
    plain float32 column sum over M = N*H*W rows adds them one after another and loses
    about sqrt(M) ulps).

    Example:
        >>> column_sums(np.ones((300, 2), dtype=np.float32))
        array([300., 300.])
    """
    if b is not None:
        a = a * b
    m, c = a.shape
    k = m - m % block
    partial = np.ones(block, dtype=a.dtype) @ a[:k].reshape(-1, block, c)
    return partial.sum(axis=0, dtype=np.float64) + a[k:].sum(axis=0, dtype=np.float64)
