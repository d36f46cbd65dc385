"""The course-style loop version of batch normalization (CS231n's ``batchnorm_forward`` /
``batchnorm_backward``), for reading; :mod:`cnnlab.ops.reference` exports it with the
course's convolution and pooling loops (see there)."""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ArgumentError

__all__ = ["batchnorm_backward", "batchnorm_forward"]


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-3
) -> tuple[np.ndarray, tuple]:
    """Batch normalization in training mode, one channel and one value at a time.

    Not from the convolution assignment: written in the style of CS231n's
    ``batchnorm_forward`` (and the course's batch-norm lecture). For every channel
    ``c`` the mean and the (biased) variance are taken over every value of that channel
    in the batch, that is over the examples and, for images, the height and the width::

        mu = (1 / m) * sum(x)                   m = number of values of the channel
        var = (1 / m) * sum((x - mu) ** 2)
        x_hat = (x - mu) / sqrt(var + eps)
        out = gamma * x_hat + beta

    Args:
        x: input, ``(m, n_H, n_W, n_C)`` or ``(m, n_C)``; the channels are last.
        gamma: scale, shape ``(n_C,)``.
        beta: offset, shape ``(n_C,)``.
        eps: small positive number added to the variance.

    Returns:
        out: same shape as ``x``.
        cache: ``(x, gamma, beta, mu, var, eps)`` for :func:`batchnorm_backward`.

    Example:
        >>> out, cache = batchnorm_forward(np.array([[1.0], [3.0]]), np.ones(1), np.zeros(1), 1e-12)
        >>> out[:, 0], cache[3], cache[4]
        (array([-1.,  1.]), array([2.]), array([1.]))
    """
    x = np.asarray(x)
    if x.ndim not in (2, 4) or 0 in x.shape:
        raise ArgumentError(
            f"x must have shape (m, n_H, n_W, n_C) or (m, n_C). Received: x with shape {x.shape}"
        )
    n_C = x.shape[-1]
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    for name, value in (("gamma", gamma), ("beta", beta)):
        if value.shape != (n_C,):
            raise ArgumentError(
                f"{name} must have shape ({n_C},). Received: {name} with shape {value.shape}"
            )
    if not eps > 0:
        raise ArgumentError(f"eps must be positive. Received: eps={eps!r}")

    positions = list(np.ndindex(x.shape[:-1]))  # every (i,) or (i, h, w) of one channel
    m = len(positions)
    mu = np.zeros(n_C)
    var = np.zeros(n_C)
    out = np.zeros(x.shape, dtype=np.result_type(x, np.float32))

    for c in range(n_C):
        total = 0.0
        for p in positions:
            total += x[p + (c,)]
        mu[c] = total / m

        squares = 0.0
        for p in positions:
            squares += (x[p + (c,)] - mu[c]) ** 2
        var[c] = squares / m

        std = np.sqrt(var[c] + eps)
        for p in positions:
            x_hat = (x[p + (c,)] - mu[c]) / std
            out[p + (c,)] = gamma[c] * x_hat + beta[c]

    cache = (x, gamma, beta, mu, var, eps)
    return out, cache


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`batchnorm_forward`, one channel at a time.

    The mean and the variance depend on every value of the channel, so each input's
    gradient gathers three paths (through ``x_hat`` directly, through ``mu`` and
    through ``var``); summed, they give the compact form::

        dbeta = sum(dout)
        dgamma = sum(dout * x_hat)
        dx = gamma / (m * std) * (m * dout - dbeta - x_hat * dgamma)

    Args:
        dout: gradient of the cost with respect to ``out``, same shape as ``x``.
        cache: ``(x, gamma, beta, mu, var, eps)`` from :func:`batchnorm_forward`.

    Returns:
        dx: same shape as ``x``; dgamma and dbeta: shape ``(n_C,)``.
    """
    if not (isinstance(cache, tuple) and len(cache) == 6 and isinstance(cache[0], np.ndarray)):
        kind = type(cache).__name__
        if isinstance(cache, tuple):
            kind = f"a tuple of {len(cache)} ({', '.join(type(c).__name__ for c in cache)})"
        raise ArgumentError(
            "cache must be the tuple (x, gamma, beta, mu, var, eps) returned by "
            f"batchnorm_forward(). Received: cache={kind}"
        )
    (x, gamma, beta, mu, var, eps) = cache
    dout = np.asarray(dout)
    if dout.shape != x.shape:
        raise ArgumentError(
            f"dout must have the shape of x {x.shape}. Received: dout with shape {dout.shape}"
        )
    n_C = x.shape[-1]
    positions = list(np.ndindex(x.shape[:-1]))
    m = len(positions)
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout, np.float32))
    dgamma = np.zeros(n_C)
    dbeta = np.zeros(n_C)

    for c in range(n_C):
        std = np.sqrt(var[c] + eps)
        for p in positions:
            x_hat = (x[p + (c,)] - mu[c]) / std
            dbeta[c] += dout[p + (c,)]
            dgamma[c] += dout[p + (c,)] * x_hat
        for p in positions:
            x_hat = (x[p + (c,)] - mu[c]) / std
            dx[p + (c,)] = (
                gamma[c] / (m * std) * (m * dout[p + (c,)] - dbeta[c] - x_hat * dgamma[c])
            )

    return dx, dgamma, dbeta
