"""The course's convolution and pooling (and batch normalization), written as readable loops.

This module is for reading. Every function keeps the signature, the argument
names and the return values of the course's programming assignment
("Convolutional Model: step by step"), so a learner can put the two side by
side; batch normalization, which that assignment lacks, follows CS231n's
``batchnorm_forward(x, gamma, beta, ...)`` / ``batchnorm_backward(dout, cache)``
(training-mode statistics, with ``eps`` in place of its ``bn_param`` dict). The
fast, vectorized versions live in :mod:`cnnlab.ops` and the tests check that both
agree to 1e-10.

Layout is NHWC throughout (``m`` examples, height ``n_H``, width ``n_W``,
channels ``n_C``):

* activations ``A_prev``: ``(m, n_H_prev, n_W_prev, n_C_prev)``
* filters ``W``: ``(f, f, n_C_prev, n_C)``
* biases ``b``: ``(1, 1, 1, n_C)``
* ``hparameters``: ``{"pad": int, "stride": int}`` for convolution,
  ``{"f": int, "stride": int}`` for pooling.

Output sizes follow the course's formula::

    n_H = floor((n_H_prev - f + 2 * pad) / stride) + 1

Three known traps of the original assignment are avoided here:

* ``conv_backward`` works with ``pad = 0`` (slicing ``a[pad:-pad]`` would be
  empty then; we slice ``a[pad:pad + n_H_prev]`` instead);
* ``pool_backward`` honours the stride;
* no function modifies the caller's ``hparameters`` dict or arrays.

The caches stay the course's positional tuples on purpose: ``(A_prev, W, b,
hparameters)`` for convolution and ``(A_prev, hparameters)`` for pooling.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A_prev = rng.standard_normal((2, 5, 7, 4))
    >>> W = rng.standard_normal((3, 3, 4, 8))
    >>> b = rng.standard_normal((1, 1, 1, 8))
    >>> Z, cache = conv_forward(A_prev, W, b, {"pad": 1, "stride": 2})
    >>> Z.shape
    (2, 3, 4, 8)
    >>> dA_prev, dW, db = conv_backward(Z, cache)
    >>> dA_prev.shape, dW.shape, db.shape
    ((2, 5, 7, 4), (3, 3, 4, 8), (1, 1, 1, 8))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab._validate import POOL_MODE_ALIASES
from cnnlab.errors import ArgumentError
from cnnlab.ops.reference_batchnorm import batchnorm_backward, batchnorm_forward

__all__ = [
    "batchnorm_backward",
    "batchnorm_forward",
    "conv_backward",
    "conv_forward",
    "conv_single_step",
    "create_mask_from_window",
    "depthwise_conv_backward",
    "depthwise_conv_forward",
    "distribute_value",
    "pool_backward",
    "pool_forward",
    "zero_pad",
]


def _positive_int(hparameters: dict[str, Any], key: str, *, allow_zero: bool = False) -> int:
    """Read ``hparameters[key]`` as an int and check its sign (never modifies the dict)."""
    if key not in hparameters:
        raise ArgumentError(
            f"hparameters must contain '{key}'. Received: hparameters={hparameters}"
        )
    value = hparameters[key]
    if not _validate.is_int(value):
        raise ArgumentError(f"hparameters['{key}'] must be an int. Received: {key}={value!r}")
    value = int(value)
    if value < 0 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ArgumentError(f"{key} must be {kind}. Received: {key}={value}")
    return value


def _check_ndim(name: str, array: np.ndarray, ndim: int) -> None:
    if array.ndim != ndim:
        raise ArgumentError(
            f"{name} must have {ndim} dimensions. Received: {name} with shape {array.shape}"
        )
    if 0 in array.shape[1:]:  # an empty batch (m = 0) is fine; an empty image or filter is not
        raise ArgumentError(
            f"{name} must have no zero-size dimension after the first. "
            f"Received: {name} with shape {array.shape}"
        )


def _check_cache(cache: Any, parts: str, forward: str) -> tuple:
    """The course's positional cache ``(parts)`` returned by ``forward``, or an ArgumentError."""
    n = parts.count(",") + 1
    ok = (
        isinstance(cache, tuple)
        and len(cache) == n
        and isinstance(cache[0], np.ndarray)
        and cache[0].ndim == 4
        and isinstance(cache[-1], dict)
        and (n == 2 or (isinstance(cache[1], np.ndarray) and cache[1].ndim == 4))
    )
    if not ok:
        kind = type(cache).__name__
        if isinstance(cache, tuple):
            kind = f"a tuple of {len(cache)} ({', '.join(type(c).__name__ for c in cache)})"
        raise ArgumentError(
            f"cache must be the tuple ({parts}) returned by {forward}(). Received: cache={kind}"
        )
    return cache


def zero_pad(X: np.ndarray, pad: int) -> np.ndarray:
    """Pad the height and width of every image in ``X`` with ``pad`` zeros on each side.

    Args:
        X: images, shape ``(m, n_H, n_W, n_C)``.
        pad: number of zeros added before and after each spatial axis (0 allowed).

    Returns:
        X_pad: shape ``(m, n_H + 2 * pad, n_W + 2 * pad, n_C)``; ``X`` is not modified.

    Example:
        >>> zero_pad(np.ones((1, 2, 2, 1)), 1)[0, :, :, 0]
        array([[0., 0., 0., 0.],
               [0., 1., 1., 0.],
               [0., 1., 1., 0.],
               [0., 0., 0., 0.]])
    """
    X = np.asarray(X)
    _check_ndim("X", X, 4)
    pad = _positive_int({"pad": pad}, "pad", allow_zero=True)
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)


def conv_single_step(a_slice_prev: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.float64:
    """Apply one filter to one window: ``sum(a_slice_prev * W) + b``.

    Args:
        a_slice_prev: one window of the input, shape ``(f, f, n_C_prev)``.
        W: one filter, shape ``(f, f, n_C_prev)``.
        b: its bias, shape ``(1, 1, 1)``.

    Returns:
        Z: a scalar (``numpy.float64``), the filter's response at this window.
    """
    s = np.multiply(a_slice_prev, W)
    Z = np.sum(s)
    # Adding the (1, 1, 1) bias would give an array; the course returns a scalar.
    Z = Z + np.asarray(b).item()
    return np.float64(Z)


def conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a convolution, one output value at a time.

    Args:
        A_prev: input activations, shape ``(m, n_H_prev, n_W_prev, n_C_prev)``.
        W: filters, shape ``(f, f, n_C_prev, n_C)``.
        b: biases, shape ``(1, 1, 1, n_C)``.
        hparameters: ``{"stride": int, "pad": int}``; not modified.

    Returns:
        Z: output, shape ``(m, n_H, n_W, n_C)`` with
            ``n_H = (n_H_prev - f + 2 * pad) // stride + 1`` (same for ``n_W``).
        cache: ``(A_prev, W, b, hparameters)``, needed by :func:`conv_backward`.
    """
    A_prev, W, b = np.asarray(A_prev), np.asarray(W), np.asarray(b)
    _check_ndim("A_prev", A_prev, 4)
    _check_ndim("W", W, 4)
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f_w, n_C_prev_w, n_C) = W.shape
    if f != f_w:
        raise ArgumentError(f"W must hold square filters. Received: W with shape {W.shape}")
    if n_C_prev_w != n_C_prev:
        raise ArgumentError(
            "W's input channels must match A_prev's channels. "
            f"Received: A_prev with shape {A_prev.shape} and W with shape {W.shape}"
        )
    if b.shape != (1, 1, 1, n_C):
        raise ArgumentError(f"b must have shape (1, 1, 1, {n_C}). Received: b with shape {b.shape}")
    stride = _positive_int(hparameters, "stride")
    pad = _positive_int(hparameters, "pad", allow_zero=True)

    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    if n_H < 1 or n_W < 1:
        raise ArgumentError(
            f"The {f}x{f} filter is larger than the padded input. "
            f"Received: A_prev with shape {A_prev.shape}, pad={pad}"
        )

    Z = np.zeros((m, n_H, n_W, n_C), dtype=np.result_type(A_prev, W, b))
    A_prev_pad = zero_pad(A_prev, pad)

    for i in range(m):  # loop over the examples
        a_prev_pad = A_prev_pad[i]
        for h in range(n_H):  # loop over the output rows
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):  # loop over the output columns
                horiz_start = w * stride
                horiz_end = horiz_start + f
                a_slice_prev = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                for c in range(n_C):  # loop over the filters
                    Z[i, h, w, c] = conv_single_step(a_slice_prev, W[:, :, :, c], b[:, :, :, c])

    cache = (A_prev, W, b, hparameters)
    return Z, cache


def pool_forward(
    A_prev: np.ndarray, hparameters: dict[str, Any], mode: str = "max"
) -> tuple[np.ndarray, tuple]:
    """Forward pass of max or average pooling (no padding), one output value at a time.

    Args:
        A_prev: input, shape ``(m, n_H_prev, n_W_prev, n_C_prev)``.
        hparameters: ``{"f": int, "stride": int}``; not modified.
        mode: ``"max"`` or ``"average"`` (or ``"avg"``/``"mean"``, as in the fast ops).

    Returns:
        A: output, shape ``(m, n_H, n_W, n_C_prev)`` with
            ``n_H = (n_H_prev - f) // stride + 1`` (same for ``n_W``).
        cache: ``(A_prev, hparameters)``, needed by :func:`pool_backward`.
    """
    A_prev = np.asarray(A_prev)
    _check_ndim("A_prev", A_prev, 4)
    mode = _check_mode(mode)
    (m, n_H_prev, n_W_prev, n_C) = A_prev.shape
    f = _positive_int(hparameters, "f")
    stride = _positive_int(hparameters, "stride")

    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    if n_H < 1 or n_W < 1:
        raise ArgumentError(
            f"The {f}x{f} window is larger than the input. Received: A_prev with shape "
            f"{A_prev.shape}, f={f}"
        )

    A = np.zeros((m, n_H, n_W, n_C), dtype=np.result_type(A_prev, np.float32))

    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    a_prev_slice = A_prev[i, vert_start:vert_end, horiz_start:horiz_end, c]
                    if mode == "max":
                        A[i, h, w, c] = np.max(a_prev_slice)
                    else:
                        A[i, h, w, c] = np.mean(a_prev_slice)

    cache = (A_prev, hparameters)
    return A, cache


def conv_backward(dZ: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of a convolution.

    Every output value ``Z[i, h, w, c]`` came from one window of the padded input
    and filter ``c``; its gradient flows back to both, and is *added* (``+=``)
    because windows overlap and every filter is used at every position.

    Args:
        dZ: gradient of the cost with respect to ``Z``, shape ``(m, n_H, n_W, n_C)``.
        cache: ``(A_prev, W, b, hparameters)`` from :func:`conv_forward`.

    Returns:
        dA_prev: shape ``(m, n_H_prev, n_W_prev, n_C_prev)``.
        dW: shape ``(f, f, n_C_prev, n_C)``.
        db: shape ``(1, 1, 1, n_C)``.
    """
    (A_prev, W, b, hparameters) = _check_cache(cache, "A_prev, W, b, hparameters", "conv_forward")
    dZ = np.asarray(dZ)
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, n_C) = W.shape
    stride = _positive_int(hparameters, "stride")
    pad = _positive_int(hparameters, "pad", allow_zero=True)
    expected = (m, (n_H_prev - f + 2 * pad) // stride + 1, (n_W_prev - f + 2 * pad) // stride + 1)
    if dZ.shape != (*expected, n_C):
        raise ArgumentError(
            f"dZ must have the shape of the forward output {(*expected, n_C)}. "
            f"Received: dZ with shape {dZ.shape}"
        )
    (_, n_H, n_W, _) = dZ.shape

    dtype = np.result_type(A_prev, W, dZ)
    dA_prev = np.zeros(A_prev.shape, dtype=dtype)
    dW = np.zeros(W.shape, dtype=dtype)
    db = np.zeros((1, 1, 1, n_C), dtype=dtype)

    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = zero_pad(dA_prev, pad)

    for i in range(m):
        a_prev_pad = A_prev_pad[i]
        da_prev_pad = dA_prev_pad[i]  # a view: writing into it writes into dA_prev_pad
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                a_slice = a_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :]
                for c in range(n_C):
                    da_prev_pad[vert_start:vert_end, horiz_start:horiz_end, :] += (
                        W[:, :, :, c] * dZ[i, h, w, c]
                    )
                    dW[:, :, :, c] += a_slice * dZ[i, h, w, c]
                    db[:, :, :, c] += dZ[i, h, w, c]

    # Strip the padding. ``pad:pad + n`` (not ``pad:-pad``) also works when pad == 0.
    dA_prev[:] = dA_prev_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    return dA_prev, dW, db


def create_mask_from_window(x: np.ndarray) -> np.ndarray:
    """Mark the maximum of a window: True at one position, False elsewhere.

    When several entries tie for the maximum (all zeros after a ReLU, say), only
    the first one in row-major order is marked, as TensorFlow does, so the
    gradient is not multiplied by the number of ties.

    Args:
        x: one window, shape ``(f, f)``.

    Returns:
        mask: boolean array of shape ``(f, f)`` with exactly one True.

    Example:
        >>> create_mask_from_window(np.array([[1.0, 3.0], [3.0, 0.0]]))
        array([[False,  True],
               [False, False]])
    """
    x = np.asarray(x)
    mask = np.zeros(x.shape, dtype=bool)
    mask[np.unravel_index(np.argmax(x), x.shape)] = True
    return mask


def distribute_value(dz: float, shape: tuple[int, int]) -> np.ndarray:
    """Spread ``dz`` evenly over a window of the given shape (average pooling's backward).

    Args:
        dz: the gradient of one average-pooling output (a scalar).
        shape: ``(n_H, n_W)``, the window's shape.

    Returns:
        a: array of shape ``(n_H, n_W)`` whose entries are all ``dz / (n_H * n_W)``.

    Example:
        >>> distribute_value(2.0, (2, 2))
        array([[0.5, 0.5],
               [0.5, 0.5]])
    """
    (n_H, n_W) = shape
    average = dz / (n_H * n_W)
    return np.ones(shape) * average


def pool_backward(dA: np.ndarray, cache: tuple, mode: str = "max") -> np.ndarray:
    """Backward pass of max or average pooling.

    Args:
        dA: gradient of the cost with respect to the pooling output,
            shape ``(m, n_H, n_W, n_C)``.
        cache: ``(A_prev, hparameters)`` from :func:`pool_forward`.
        mode: ``"max"`` or ``"average"``, as in the forward pass.

    Returns:
        dA_prev: shape ``(m, n_H_prev, n_W_prev, n_C)``, the gradient of the input.
    """
    mode = _check_mode(mode)
    (A_prev, hparameters) = _check_cache(cache, "A_prev, hparameters", "pool_forward")
    dA = np.asarray(dA)
    stride = _positive_int(hparameters, "stride")
    f = _positive_int(hparameters, "f")
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    expected = (m, (n_H_prev - f) // stride + 1, (n_W_prev - f) // stride + 1, n_C_prev)
    if dA.shape != expected:
        raise ArgumentError(
            f"dA must have the shape of the forward output {expected}. "
            f"Received: dA with shape {dA.shape}"
        )
    (_, n_H, n_W, n_C) = dA.shape

    dA_prev = np.zeros(A_prev.shape, dtype=np.result_type(A_prev, dA, np.float32))

    for i in range(m):
        a_prev = A_prev[i]
        for h in range(n_H):
            vert_start = h * stride  # the stride matters here too
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C):
                    if mode == "max":
                        a_prev_slice = a_prev[vert_start:vert_end, horiz_start:horiz_end, c]
                        mask = create_mask_from_window(a_prev_slice)
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += (
                            mask * dA[i, h, w, c]
                        )
                    else:
                        da = dA[i, h, w, c]
                        dA_prev[i, vert_start:vert_end, horiz_start:horiz_end, c] += (
                            distribute_value(da, (f, f))
                        )

    return dA_prev


def _check_mode(mode: str) -> str:
    """``"max"`` or ``"average"``; like the fast ops, ``"avg"`` and ``"mean"`` (any case) too."""
    try:
        return _validate.one_of(mode, "mode", ("max", "average"), aliases=POOL_MODE_ALIASES)
    except ArgumentError:
        raise ArgumentError(
            f"mode must be 'max' or 'average'. Received: mode={mode!r} "
            "('avg' and 'mean' also mean 'average')"
        ) from None


def depthwise_conv_forward(
    A_prev: np.ndarray, W: np.ndarray, b: np.ndarray, hparameters: dict[str, Any]
) -> tuple[np.ndarray, tuple]:
    """Forward pass of a depthwise convolution, one output value at a time.

    Unlike :func:`conv_forward`, a filter sees one input channel only: channel ``c`` has
    its own ``multiplier`` filters ``W[:, :, c, k]``, and filter ``k`` of channel ``c``
    gives output channel ``c * multiplier + k`` (Keras's ``DepthwiseConv2D``).

    Args:
        A_prev: input activations, shape ``(m, n_H_prev, n_W_prev, n_C_prev)``.
        W: filters, shape ``(f, f, n_C_prev, multiplier)``.
        b: biases, shape ``(1, 1, 1, n_C_prev * multiplier)``.
        hparameters: ``{"stride": int, "pad": int}``; not modified.

    Returns:
        Z: output, shape ``(m, n_H, n_W, n_C_prev * multiplier)``, ``n_H`` and ``n_W`` as
            in :func:`conv_forward`.
        cache: ``(A_prev, W, b, hparameters)``, needed by :func:`depthwise_conv_backward`.

    Example:
        >>> Z, _ = depthwise_conv_forward(
        ...     np.ones((1, 3, 3, 2)), np.ones((2, 2, 2, 1)), np.zeros((1, 1, 1, 2)),
        ...     {"pad": 0, "stride": 1})
        >>> Z[0, :, :, 0]
        array([[4., 4.],
               [4., 4.]])
    """
    A_prev, W, b = np.asarray(A_prev), np.asarray(W), np.asarray(b)
    _check_ndim("A_prev", A_prev, 4)
    _check_ndim("W", W, 4)
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f_w, n_C_prev_w, multiplier) = W.shape
    if f != f_w or n_C_prev_w != n_C_prev:
        raise ArgumentError(
            "W must hold square filters, one set per channel of A_prev. "
            f"Received: A_prev with shape {A_prev.shape} and W with shape {W.shape}"
        )
    n_C = n_C_prev * multiplier
    if b.shape != (1, 1, 1, n_C):
        raise ArgumentError(f"b must have shape (1, 1, 1, {n_C}). Received: b with shape {b.shape}")
    stride = _positive_int(hparameters, "stride")
    pad = _positive_int(hparameters, "pad", allow_zero=True)
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    if n_H < 1 or n_W < 1:
        raise ArgumentError(
            f"The {f}x{f} filter is larger than the padded input. "
            f"Received: A_prev with shape {A_prev.shape}, pad={pad}"
        )

    Z = np.zeros((m, n_H, n_W, n_C), dtype=np.result_type(A_prev, W, b))
    A_prev_pad = zero_pad(A_prev, pad)

    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C_prev):  # loop over the input channels
                    a_slice = A_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, c]
                    for k in range(multiplier):  # loop over the channel's filters
                        out = c * multiplier + k
                        Z[i, h, w, out] = np.sum(a_slice * W[:, :, c, k]) + b[0, 0, 0, out]

    cache = (A_prev, W, b, hparameters)
    return Z, cache


def depthwise_conv_backward(
    dZ: np.ndarray, cache: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`depthwise_conv_forward`, as :func:`conv_backward` but with
    each filter's gradient flowing back into its own input channel only.

    Args:
        dZ: gradient of the cost with respect to ``Z``, shape ``(m, n_H, n_W, n_C)``.
        cache: ``(A_prev, W, b, hparameters)`` from :func:`depthwise_conv_forward`.

    Returns:
        dA_prev: shape of ``A_prev``; dW: shape of ``W``; db: shape ``(1, 1, 1, n_C)``.
    """
    (A_prev, W, b, hparameters) = _check_cache(
        cache, "A_prev, W, b, hparameters", "depthwise_conv_forward"
    )
    dZ = np.asarray(dZ)
    (m, n_H_prev, n_W_prev, n_C_prev) = A_prev.shape
    (f, f, n_C_prev, multiplier) = W.shape
    stride = _positive_int(hparameters, "stride")
    pad = _positive_int(hparameters, "pad", allow_zero=True)
    n_H = (n_H_prev - f + 2 * pad) // stride + 1
    n_W = (n_W_prev - f + 2 * pad) // stride + 1
    if dZ.shape != (m, n_H, n_W, n_C_prev * multiplier):
        raise ArgumentError(
            f"dZ must have the shape of the forward output "
            f"{(m, n_H, n_W, n_C_prev * multiplier)}. Received: dZ with shape {dZ.shape}"
        )

    dtype = np.result_type(A_prev, W, dZ)
    dW = np.zeros(W.shape, dtype=dtype)
    db = np.zeros(b.shape, dtype=dtype)
    A_prev_pad = zero_pad(A_prev, pad)
    dA_prev_pad = np.zeros(A_prev_pad.shape, dtype=dtype)

    for i in range(m):
        for h in range(n_H):
            vert_start = h * stride
            vert_end = vert_start + f
            for w in range(n_W):
                horiz_start = w * stride
                horiz_end = horiz_start + f
                for c in range(n_C_prev):
                    a_slice = A_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, c]
                    for k in range(multiplier):
                        out = c * multiplier + k
                        dA_prev_pad[i, vert_start:vert_end, horiz_start:horiz_end, c] += (
                            W[:, :, c, k] * dZ[i, h, w, out]
                        )
                        dW[:, :, c, k] += a_slice * dZ[i, h, w, out]
                        db[0, 0, 0, out] += dZ[i, h, w, out]

    dA_prev = dA_prev_pad[:, pad : pad + n_H_prev, pad : pad + n_W_prev, :].copy()
    return dA_prev, dW, db
