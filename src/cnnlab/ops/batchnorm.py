"""Fast batch normalization, forward and backward, per channel.

Training mode normalizes every channel with the batch's own statistics, taken over every
axis but the channel axis (N, H and W for NHWC images; N for the (N, C) output of a
Dense layer)::

    mean = mean(x)          var = mean((x - mean) ** 2)     (the biased variance, as Keras)
    y = gamma * (x - mean) / sqrt(var + eps) + beta

With given statistics (``mean=`` and ``variance=``: a layer's moving statistics at
inference, or a frozen layer in training) the same formula is an affine map per channel.
:func:`batchnorm_forward` returns the statistics it used in its cache, so a layer updates
its moving statistics from ``cache.mean`` and ``cache.variance``.

How it is fast: the (M, C) activations (M = N*H*W) are laid side by side, k rows at a
time, as an (M / k, k * C) array with each per-channel vector repeated k times
(:func:`cnnlab.ops._arrays.side_by_side`), and worked through in chunks of those rows on
every core (:mod:`cnnlab.ops.parallel`): each pass reads a chunk once and does all its
arithmetic on it. Column sums go through BLAS in blocks, added in float64
(:func:`cnnlab.ops._arrays.column_sums`); the chunks' means and squared deviations are
merged exactly (Chan et al.), as accurate as two passes over the batch with one read of it.

Shapes:
    x, y: (N, ..., C) with the channels on ``axis`` (default -1)
    gamma, beta, mean, variance: (C,)

Example:
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> y, cache = batchnorm_forward(x, np.ones(2), np.zeros(2), eps=1e-12)
    >>> y
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> cache.mean, cache.variance
    (array([ 2., 20.]), array([  1., 100.]))
    >>> dx, dgamma, dbeta = batchnorm_backward(np.array([[1.0, 0.0], [0.0, 0.0]]), cache)
    >>> dgamma, dbeta
    (array([-1.,  0.]), array([1., 0.]))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.ops._arrays import column_sums, side_by_side
from cnnlab.ops.parallel import chunks_for, parallel_map
from cnnlab.ops.windows import check_cache, check_dy, check_real

__all__ = ["BatchNormCache", "batchnorm_backward", "batchnorm_forward", "batchnorm_inference"]


class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs from the forward pass.

    ``mean`` and ``variance`` are the statistics the forward pass normalized with: the
    batch's mean and biased variance in training mode (what a layer folds into its moving
    statistics), or the given ones.
    """

    xw: np.ndarray  # (M / k, k * C): the input's rows, k side by side
    k: int
    mean: np.ndarray  # (C,) in x's dtype
    variance: np.ndarray  # (C,) in x's dtype
    inv_std: np.ndarray  # (C,) 1 / sqrt(variance + eps)
    gamma: np.ndarray | None  # (C,), or None for no scale
    batch_statistics: bool  # True: mean and variance are the batch's own (training mode)
    axis: int  # the channel axis, non-negative
    shape: tuple  # x's shape


def _row_chunks(xw: np.ndarray) -> list[tuple[int, int]]:
    return chunks_for(xw.shape[0], xw.shape[1] * xw.itemsize, target_bytes=4 << 20)


def _channel_axis(x: np.ndarray, axis) -> int:
    if not _validate.is_int(axis):
        raise ArgumentError(f"`axis` must be an integer. Received: axis={axis!r}")
    rank = x.ndim
    if rank < 2 or not -rank <= axis < rank or axis % rank == 0:
        raise ArgumentError(
            "`axis` must name a channel axis of `x` other than the batch axis (0). "
            f"Received: axis={axis}, x.shape={x.shape}"
        )
    return int(axis) % rank


def _to_2d(x: np.ndarray, axis: int) -> np.ndarray:
    """(M, C): every value of a channel in one column (a view when the channels are last)."""
    if axis == x.ndim - 1:
        return x.reshape(-1, x.shape[-1])
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


def _from_2d(y2: np.ndarray, shape: tuple, axis: int) -> np.ndarray:
    if axis == len(shape) - 1:
        return y2.reshape(shape)
    moved = (*shape[:axis], *shape[axis + 1 :], shape[axis])
    return np.moveaxis(y2.reshape(moved), -1, axis)


def _check_eps(eps) -> None:
    ok = not isinstance(eps, bool) and isinstance(eps, int | float | np.integer | np.floating)
    if not ok or not np.isfinite(eps) or eps <= 0:
        raise ArgumentError(f"`eps` must be a positive number. Received: eps={eps!r}")


def _per_channel(value, name: str, c: int, dtype: np.dtype) -> np.ndarray | None:
    if value is None:
        return None
    value = check_real(value, name)
    if value.shape != (c,):
        raise ArgumentError(
            f"`{name}` must have shape ({c},), one value per channel. "
            f"Received: {name}.shape={value.shape}"
        )
    return value.astype(dtype, copy=False)


def _batch_statistics(xw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (biased) variance of a wide (M / k, k * C) array, in float64.

    Each chunk's mean and sum of squared deviations per wide column, combined exactly
    (Chan et al.) over the k columns of a channel and over the chunks.
    """

    def chunk_statistics(chunk: tuple[int, int]):
        a, z = chunk
        part = xw[a:z]
        mean = column_sums(part) / (z - a)
        deviation = part - mean.astype(part.dtype)
        return z - a, mean.reshape(k, -1), column_sums(deviation, deviation).reshape(k, -1)

    count, mean, m2 = 0, 0.0, 0.0
    for rows, column_means, column_m2 in parallel_map(chunk_statistics, _row_chunks(xw)):
        n = rows * k  # the chunk's values per channel, in k columns of equal length
        chunk_mean = column_means.mean(axis=0)
        chunk_m2 = column_m2.sum(axis=0) + rows * ((column_means - chunk_mean) ** 2).sum(0)
        delta = chunk_mean - mean
        total = count + n
        mean = mean + delta * (n / total)
        m2 = m2 + chunk_m2 + delta**2 * (count * n / total)
        count = total
    return mean, m2 / count


def _normalize(xw, k, mean, mult, beta) -> np.ndarray:
    """``(x - mean) * mult + beta`` per channel, chunk by chunk on every core."""
    mean_w, mult_w = np.tile(mean, k), np.tile(mult, k)
    beta_w = None if beta is None else np.tile(beta, k)
    yw = np.empty(xw.shape, dtype=xw.dtype)

    def normalize(chunk: tuple[int, int]) -> None:
        a, z = chunk
        out = yw[a:z]
        np.subtract(xw[a:z], mean_w, out=out)
        out *= mult_w
        if beta_w is not None:
            out += beta_w

    parallel_map(normalize, _row_chunks(xw))
    return yw


def batchnorm_forward(
    x: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    eps: float = 1e-3,
    *,
    axis: int = -1,
    mean: np.ndarray | None = None,
    variance: np.ndarray | None = None,
) -> tuple[np.ndarray, BatchNormCache]:
    """Normalize each channel of ``x``, then scale by ``gamma`` and shift by ``beta``.

    Args:
        x: input, (N, H, W, C) or (N, C); any rank >= 2 with the channels on ``axis``.
        gamma: scale, (C,); None for no scale (Keras's ``scale=False``).
        beta: offset, (C,); None for no offset (Keras's ``center=False``).
        eps: added to the variance, > 0 (Keras's ``epsilon``, default 1e-3).
        axis: the channel axis (not 0, the batch).
        mean, variance: statistics to normalize with, (C,), both or neither. Neither
            (training mode): the batch's own mean and biased variance over every other
            axis. Both: the given ones (inference with the moving statistics).

    Returns:
        ``(y, cache)``: y of x's shape and dtype; ``cache.mean`` and ``cache.variance`` are
        the statistics used, in x's dtype.

    Raises:
        ArgumentError (a ValueError): x of rank < 2 or not real numbers, a bad axis,
            gamma, beta, mean or variance not of shape (C,), only one of mean and
            variance, or eps not a positive number.
    """
    x = check_real(x, "x")
    ax = _channel_axis(x, axis)
    _check_eps(eps)
    if (mean is None) != (variance is None):
        raise ArgumentError(
            "Pass both `mean` and `variance` (given statistics) or neither (the batch's). "
            f"Received: mean={'None' if mean is None else 'an array'}, "
            f"variance={'None' if variance is None else 'an array'}"
        )
    dt, c = x.dtype, x.shape[ax]
    gamma = _per_channel(gamma, "gamma", c, dt)
    beta = _per_channel(beta, "beta", c, dt)
    x2 = _to_2d(x, ax)
    xw, k = side_by_side(x2)
    scale = gamma if gamma is not None else np.ones((), dt)
    batch_statistics = mean is None
    if batch_statistics:
        mean64, var64 = _batch_statistics(xw, k)
        mean, variance = mean64.astype(dt), var64.astype(dt)
        inv = (1.0 / np.sqrt(variance + dt.type(eps))).astype(dt)
        mult = scale * inv
    else:
        mean = _per_channel(mean, "mean", c, dt)
        variance = _per_channel(variance, "variance", c, dt)
        inv = (1.0 / np.sqrt(variance + dt.type(eps))).astype(dt)
        mult = (inv * scale).astype(dt)
    yw = _normalize(xw, k, mean, mult, beta)
    cache = BatchNormCache(xw, k, mean, variance, inv, gamma, batch_statistics, ax, x.shape)
    return _from_2d(yw.reshape(x2.shape), x.shape, ax), cache


def batchnorm_inference(
    x: np.ndarray,
    mean: np.ndarray,
    variance: np.ndarray,
    gamma: np.ndarray | None,
    beta: np.ndarray | None,
    eps: float = 1e-3,
    *,
    axis: int = -1,
) -> np.ndarray:
    """``y = gamma * (x - mean) / sqrt(variance + eps) + beta`` with given statistics.

    A layer's inference pass (its moving statistics); the argument order is
    ``tf.nn.batch_normalization``'s (x, mean, variance, offset, scale, eps) but with
    ``gamma`` before ``beta``, as in :func:`batchnorm_forward`. Same checks as there.

    Example:
        >>> batchnorm_inference(np.array([[3.0]]), np.array([1.0]), np.array([4.0]),
        ...                     np.array([2.0]), np.array([0.5]), eps=1e-12)
        array([[2.5]])
    """
    return batchnorm_forward(x, gamma, beta, eps, axis=axis, mean=mean, variance=variance)[0]


def batchnorm_backward(
    dy: np.ndarray, cache: BatchNormCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a batch normalization with respect to x, gamma and beta.

    In training mode the mean and variance depend on x, and::

        dx = gamma / std * (dy - mean(dy) - x_hat * mean(dy * x_hat))

    per channel (x_hat = (x - mean) / std); with given statistics dx = gamma / std * dy.

    Args:
        dy: gradient of the loss with respect to ``y``, of x's shape.
        cache: from :func:`batchnorm_forward`.

    Returns:
        ``(dx, dgamma, dbeta)``: dx of x's shape; dgamma = sum(dy * x_hat) and
        dbeta = sum(dy), each (C,), also when the forward pass had no gamma or beta.

    Raises:
        ArgumentError (a ValueError): ``cache`` is not a :class:`BatchNormCache`, or
            ``dy`` is not real numbers of x's shape.
    """
    xw, k, mean, _, inv, gamma, batch_statistics, axis, shape = check_cache(
        cache, BatchNormCache, "batchnorm_forward"
    )
    dt = xw.dtype
    dy = check_dy(dy, shape).astype(dt, copy=False)
    dy2 = _to_2d(dy, axis)
    dyw = dy2.reshape(-1, k * dy2.shape[1])
    dxw = np.empty(dyw.shape, dtype=dt)
    chunks = _row_chunks(dyw)
    mean_w = np.tile(mean, k)

    def sums(chunk: tuple[int, int]):  # sum(dy) and sum(dy * (x - mean)) per wide column
        a, z = chunk
        return column_sums(dyw[a:z]), column_sums(dyw[a:z], xw[a:z] - mean_w)

    partial = parallel_map(sums, chunks)
    m = dy2.shape[0]
    dbeta = np.add.reduce([d for d, _ in partial]).reshape(k, -1).sum(axis=0)
    dgamma = np.add.reduce([d for _, d in partial]).reshape(k, -1).sum(axis=0) * inv
    scale = gamma if gamma is not None else 1.0
    a_ = (scale * inv).astype(dt)
    if batch_statistics:
        # dx = gamma * inv * (dy - mean(dy) - xhat * mean(dy * xhat)), per channel constants
        c = (a_ * inv * dgamma / m).astype(dt)
        shift = (a_ * dbeta / m).astype(dt)
        a_w, minus_c_w, shift_w = np.tile(a_, k), np.tile(-c, k), np.tile(shift, k)

        def input_grad(chunk: tuple[int, int]) -> None:
            a, z = chunk
            out = dxw[a:z]
            np.subtract(xw[a:z], mean_w, out=out)
            out *= minus_c_w
            out -= shift_w
            out += dyw[a:z] * a_w

    else:  # given statistics: an affine map per channel
        a_w = np.tile(a_, k)

        def input_grad(chunk: tuple[int, int]) -> None:
            a, z = chunk
            np.multiply(dyw[a:z], a_w, out=dxw[a:z])

    parallel_map(input_grad, chunks)
    dx = _from_2d(dxw.reshape(dy2.shape), shape, axis)
    return dx, dgamma.astype(dt), dbeta.astype(dt)
