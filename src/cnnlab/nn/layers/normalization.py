"""Normalization layers: :class:`BatchNormalization`.

Its statistics and gradients are worked through in chunks of rows on every core (the
private helpers of :mod:`cnnlab.ops` it imports are its own, until batch normalization
becomes an ops function pair).
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.nn.layers.base import Layer
from cnnlab.ops._arrays import side_by_side
from cnnlab.ops.parallel import chunks_for, parallel_map


def _column_sums(a: np.ndarray, b: np.ndarray | None = None, block: int = 128) -> np.ndarray:
    """``sum(a, axis=0)`` (or ``sum(a * b, axis=0)``) of an (M, C) array, in float64.

    Sums blocks of ``block`` rows in the array's precision (one BLAS call), then adds the
    blocks in float64: nearly as exact as a float64 sum and as fast as a float32 one (a
    plain float32 column sum over M = N*H*W rows adds them one after another and loses
    about sqrt(M) ulps).
    """
    if b is not None:
        a = a * b
    m, c = a.shape
    k = m - m % block
    partial = np.ones(block, dtype=a.dtype) @ a[:k].reshape(-1, block, c)
    return partial.sum(axis=0, dtype=np.float64) + a[k:].sum(axis=0, dtype=np.float64)


class BatchNormalization(Layer):
    """Batch normalization with Keras's training and inference behaviour.

    Training: normalizes with the batch's mean and (biased) variance over every axis but
    ``axis`` and updates ``moving = moving * momentum + batch * (1 - momentum)``.
    Inference: uses the moving statistics.
    ``y = gamma * (x - mean) / sqrt(var + epsilon) + beta``.

    Args:
        axis: the feature axis (int), default -1 (channels in NHWC).
        momentum: default 0.99. epsilon: default 1e-3.
        center / scale: learn beta / gamma (default True).

    Weights (Keras's order): gamma, beta (trainable), moving_mean, moving_variance
    (non-trainable), each of shape (C,).
    """

    default_name = "batch_normalization"
    keras_name = "BatchNormalization"
    config_keys = ("axis", "momentum", "epsilon", "center", "scale")
    weight_names = ("gamma", "beta", "moving_mean", "moving_variance")

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(axis, list | tuple) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
            raise ArgumentError(f"axis must be an integer. Received: axis={axis!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ArgumentError(f"momentum must be in [0, 1]. Received: momentum={momentum!r}")
        if not float(epsilon) > 0:
            raise ArgumentError(f"epsilon must be positive. Received: epsilon={epsilon!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self._cache = None

    def _check_input(self, input_shape):
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ArgumentError(
                f"Layer {self.name!r}: axis={self.axis} is invalid for inputs of shape "
                f"{tuple(input_shape)}"
            )

    def _weight_shapes(self, input_shape):
        c = (int(input_shape[self.axis]),)
        return [c] * (int(self.scale) + int(self.center) + 2)

    def _build(self, input_shape, rng):
        rank = len(input_shape)
        self._axis = self.axis % rank
        c = (input_shape[self._axis],)
        self.gamma = self.add_weight("gamma", c, "ones", rng) if self.scale else None
        self.beta = self.add_weight("beta", c, "zeros", rng) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", c, "zeros", rng, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", c, "ones", rng, trainable=False)

    def _to_2d(self, x):
        if self._axis == x.ndim - 1:
            return x.reshape(-1, x.shape[-1])
        return np.moveaxis(x, self._axis, -1).reshape(-1, x.shape[self._axis])

    def _from_2d(self, y2, shape):
        if self._axis == len(shape) - 1:
            return y2.reshape(shape)
        moved = (*shape[: self._axis], *shape[self._axis + 1 :], shape[self._axis])
        return np.moveaxis(y2.reshape(moved), -1, self._axis)

    # The (M, C) activations are laid side by side, k rows at a time, as an (M / k, k * C)
    # array with each per-channel vector repeated k times (ops._arrays.side_by_side), and
    # worked through in chunks of those rows on every core: each pass reads a chunk of the
    # activations once and does all its arithmetic on it.
    @staticmethod
    def _row_chunks(xw: np.ndarray) -> list[tuple[int, int]]:
        return chunks_for(xw.shape[0], xw.shape[1] * xw.itemsize, target_bytes=4 << 20)

    def _batch_statistics(self, xw: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and (biased) variance of a wide (M / k, k * C) array, in float64.

        Each chunk's mean and sum of squared deviations per wide column, combined exactly
        (Chan et al.) over the k columns of a channel and over the chunks: as accurate as
        two passes over the whole batch, with one read of it.
        """

        def chunk_statistics(chunk: tuple[int, int]):
            a, z = chunk
            part = xw[a:z]
            mean = _column_sums(part) / (z - a)
            deviation = part - mean.astype(part.dtype)
            return z - a, mean.reshape(k, -1), _column_sums(deviation, deviation).reshape(k, -1)

        count, mean, m2 = 0, 0.0, 0.0
        for rows, column_means, column_m2 in parallel_map(chunk_statistics, self._row_chunks(xw)):
            n = rows * k  # the chunk's values per channel, in k columns of equal length
            chunk_mean = column_means.mean(axis=0)
            chunk_m2 = column_m2.sum(axis=0) + rows * ((column_means - chunk_mean) ** 2).sum(0)
            delta = chunk_mean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + chunk_m2 + delta**2 * (count * n / total)
            count = total
        return mean, m2 / count

    def forward(self, x, training=False):
        x2 = self._to_2d(x)
        xw, k = side_by_side(x2)
        dt = x.dtype
        gamma = self.gamma.value if self.scale else np.ones((), dt)
        if training and self.trainable:
            mean64, var64 = self._batch_statistics(xw, k)
            mean, var = mean64.astype(dt), var64.astype(dt)
            inv = (1.0 / np.sqrt(var + dt.type(self.epsilon))).astype(dt)
            mult = gamma * inv
            mom = dt.type(self.momentum)
            mm, mv = self.moving_mean.value, self.moving_variance.value
            mm *= mom
            mm += mean * (1 - mom)
            mv *= mom
            mv += var * (1 - mom)
            self._cache = (xw, k, mean, inv, x.shape)
        else:
            inv = 1.0 / np.sqrt(self.moving_variance.value + dt.type(self.epsilon))
            mult = (inv * gamma).astype(dt)
            mean = self.moving_mean.value
            self._cache = (None, k, mean, mult, x.shape) if training else None
        mean_w, mult_w = np.tile(mean, k), np.tile(mult, k)
        beta_w = np.tile(self.beta.value, k) if self.center else None
        yw = np.empty(xw.shape, dtype=dt)

        def normalize(chunk: tuple[int, int]) -> None:  # y = (x - mean) * gamma / std + beta
            a, z = chunk
            out = yw[a:z]
            np.subtract(xw[a:z], mean_w, out=out)
            out *= mult_w
            if beta_w is not None:
                out += beta_w

        parallel_map(normalize, self._row_chunks(xw))
        return self._from_2d(yw.reshape(x2.shape), x.shape)

    def backward(self, dy, need_dx=True):
        if self._cache is None:
            raise self._no_cache()
        xw, k, mean, inv, shape = self._cache
        dy2 = self._to_2d(dy)
        dyw = dy2.reshape(-1, k * dy2.shape[1])
        dxw = np.empty(dyw.shape, dtype=dyw.dtype)
        chunks = self._row_chunks(dyw)
        if xw is None:  # frozen layer: an affine map with the moving statistics
            inv_w = np.tile(inv, k)

            def scale(chunk: tuple[int, int]) -> None:
                a, z = chunk
                np.multiply(dyw[a:z], inv_w, out=dxw[a:z])

            parallel_map(scale, chunks)
            return self._from_2d(dxw.reshape(dy2.shape), shape)
        mean_w = np.tile(mean, k)

        def sums(chunk: tuple[int, int]):  # sum(dy) and sum(dy * (x - mean)) per wide column
            a, z = chunk
            return _column_sums(dyw[a:z]), _column_sums(dyw[a:z], xw[a:z] - mean_w)

        partial = parallel_map(sums, chunks)
        m = dy2.shape[0]
        dbeta = np.add.reduce([d for d, _ in partial]).reshape(k, -1).sum(axis=0)
        dgamma = np.add.reduce([d for _, d in partial]).reshape(k, -1).sum(axis=0) * inv
        if self.center:
            self.beta.grad += dbeta.astype(dy2.dtype)
        if self.scale:
            self.gamma.grad += dgamma.astype(dy2.dtype)
        gamma = self.gamma.value if self.scale else 1.0
        # dx = gamma * inv * (dy - mean(dy) - xhat * mean(dy * xhat)), per channel constants
        a_ = (gamma * inv).astype(dy2.dtype)
        c = (a_ * inv * dgamma / m).astype(dy2.dtype)
        shift = (a_ * dbeta / m).astype(dy2.dtype)
        a_w, minus_c_w, shift_w = np.tile(a_, k), np.tile(-c, k), np.tile(shift, k)

        def input_grad(chunk: tuple[int, int]) -> None:
            a, z = chunk
            out = dxw[a:z]
            np.subtract(xw[a:z], mean_w, out=out)
            out *= minus_c_w
            out -= shift_w
            out += dyw[a:z] * a_w

        parallel_map(input_grad, chunks)
        return self._from_2d(dxw.reshape(dy2.shape), shape)
