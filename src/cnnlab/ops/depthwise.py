"""Fast depthwise 2-D convolution, NHWC, as Keras's ``DepthwiseConv2D``.

Each input channel ``c`` is convolved with its own ``multiplier`` filters and gives the
output channels ``c * multiplier + m`` (TensorFlow's order)::

    y[n, h, w, c * M + m] = sum over (i, j) of xp[n, h * sh + i, w * sw + j, c] * w[i, j, c, m]
                            + b[c * M + m]

There is no sum over channels, so no matrix product: the forward pass loops over the
``kh * kw`` window offsets (:meth:`~cnnlab.ops.windows.Windows.offsets`), each step one
multiply-add over the whole chunk of images, into a preallocated buffer (no temporary
per step). The backward pass does the same per offset: the input gradient adds
``dy * w[i, j]`` back onto the offset's slice of the padded input, and the kernel
gradient is the column sum (a BLAS product with a vector of ones) of ``slice * dy``.
Both passes work through the batch in chunks of a few images on every core
(:mod:`cnnlab.ops.parallel`), so that the running sums stay in cache.

Shapes:
    x:  (N, H, W, C)          input
    w:  (kh, kw, C, M)        depthwise kernel, as Keras stores it (M: depth multiplier)
    b:  (C * M,)              bias
    y:  (N, H_out, W_out, C * M)

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    >>> w = rng.standard_normal((3, 3, 4, 2)).astype(np.float32)
    >>> y, cache = depthwise_conv2d_forward(x, w, np.zeros(8, np.float32), stride=2, padding="same")
    >>> y.shape
    (2, 3, 4, 8)
    >>> dx, dw, db = depthwise_conv2d_backward(np.ones_like(y), cache)
    >>> dx.shape, dw.shape, db.shape
    ((2, 5, 7, 4), (3, 3, 4, 2), (8,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.ops._arrays import add_per_channel
from cnnlab.ops.padding import pad_nhwc, unpad_nhwc
from cnnlab.ops.parallel import chunks_for, parallel_map
from cnnlab.ops.windows import Windows, check_cache, check_dy, check_nhwc, check_real, make_windows

__all__ = ["DepthwiseConv2DCache", "depthwise_conv2d_backward", "depthwise_conv2d_forward"]


class DepthwiseConv2DCache(NamedTuple):
    """What :func:`depthwise_conv2d_backward` needs from the forward pass."""

    xp: np.ndarray  # (N, Hp, Wp, C) the padded input
    x_shape: tuple[int, int, int, int]
    w: np.ndarray  # (kh, kw, C, M)
    windows: Windows


# About this many bytes of output per chunk: a chunk's running sum and its product buffer
# stay in cache. Measured on (32, 32, 32, 64) 3x3, one thread: 2 images (512 KB) 25 ms,
# 4 images 30 ms, the whole batch at once 49 ms.
_CHUNK_BYTES = 512 << 10


def _chunks(n: int, windows: Windows, c_out: int, itemsize: int) -> list[tuple[int, int]]:
    oh, ow = windows.out_hw
    return chunks_for(n, oh * ow * c_out * itemsize, target_bytes=_CHUNK_BYTES)


def _check_kernel(x: np.ndarray, w: np.ndarray, b) -> None:
    if w.ndim != 4:
        raise ArgumentError(
            f"`w` must be a 4-D array (kh, kw, C, multiplier). Received: w.shape={w.shape}"
        )
    if w.shape[3] == 0:
        raise ArgumentError(
            f"`w` must have a depth multiplier of at least 1. Received: w.shape={w.shape}"
        )
    if w.shape[2] != x.shape[3]:
        raise ArgumentError(
            f"The input has {x.shape[3]} channels but the kernel expects {w.shape[2]}. "
            f"Received: x.shape={x.shape}, w.shape={w.shape}"
        )
    if b is not None and b.shape != (w.shape[2] * w.shape[3],):
        raise ArgumentError(
            f"`b` must have shape ({w.shape[2] * w.shape[3]},), one value per output channel. "
            f"Received: b.shape={b.shape}"
        )


def depthwise_conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding="valid"
) -> tuple[np.ndarray, DepthwiseConv2DCache]:
    """Convolve each channel of ``x`` with its own filters ``w[:, :, c, :]`` and add ``b``.

    Args:
        x: input, (N, H, W, C).
        w: depthwise kernel, (kh, kw, C, M), M the depth multiplier.
        b: bias, (C * M,), or None for no bias.
        stride: an int or ``(sh, sw)``.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule), an int, ``(ph, pw)`` or
            ``((top, bottom), (left, right))``.

    Returns:
        ``(y, cache)``: y of shape (N, H_out, W_out, C * M) in the inputs' common float
        dtype (output channel ``c * M + m`` is channel ``c``'s filter ``m``), and the
        cache for :func:`depthwise_conv2d_backward`.

    Raises:
        ArgumentError (a ValueError): wrong number of dimensions, a zero size, channel
            mismatch, bias of the wrong shape, values that are not real numbers, a
            stride of 0, an unknown padding, or a kernel larger than the padded input.
    """
    x = check_nhwc(x, "x")
    w = check_real(w, "w")
    if b is not None:
        b = check_real(b, "b")
    _check_kernel(x, w, b)
    windows = make_windows(x.shape, w.shape[:2], stride, padding, kernel_name="w.shape[:2]")
    arrays = (x, w) if b is None else (x, w, b)
    dtype = np.result_type(*(a.dtype for a in arrays), np.float32)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    bias = None if b is None else b.astype(dtype, copy=False)

    n, c, m = x.shape[0], w.shape[2], w.shape[3]
    oh, ow = windows.out_hw
    xp = np.ascontiguousarray(pad_nhwc(x, windows.pads))
    y = np.empty((n, oh, ow, c * m), dtype=dtype)
    offsets = list(windows.offsets())

    def chunk_forward(chunk: tuple[int, int]) -> None:
        a, z = chunk
        part = xp[a:z]
        # With one filter per channel, plain (n, oh, ow, C) arrays: a trailing axis of 1
        # makes NumPy's loops 20% slower.
        out = y[a:z] if m == 1 else y[a:z].reshape(z - a, oh, ow, c, m)
        kernel = w[..., 0] if m == 1 else w
        product = np.empty_like(out)
        for k, (i, j, index) in enumerate(offsets):
            under = part[index] if m == 1 else part[index][..., None]  # (n, oh, ow, C[, 1])
            if k == 0:
                np.multiply(under, kernel[i, j], out=out)
            else:
                out += np.multiply(under, kernel[i, j], out=product)
        if bias is not None:
            add_per_channel(y[a:z], bias)

    parallel_map(chunk_forward, _chunks(n, windows, c * m, y.itemsize))
    return y, DepthwiseConv2DCache(xp, x.shape, w, windows)


def depthwise_conv2d_backward(
    dy: np.ndarray, cache: DepthwiseConv2DCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`depthwise_conv2d_forward` with respect to x, w and b.

    Args:
        dy: upstream gradient, (N, H_out, W_out, C * M).
        cache: the cache returned by :func:`depthwise_conv2d_forward`.
        need_dx: when False, dx is not computed (None is returned in its place).

    Returns:
        ``(dx, dw, db)`` of shapes (N, H, W, C), (kh, kw, C, M) and (C * M,).

    Raises:
        ArgumentError: a cache of another kind, or ``dy`` of the wrong shape.
    """
    cache = check_cache(cache, DepthwiseConv2DCache, "depthwise_conv2d_forward")
    xp, x_shape, w, windows = cache
    kh, kw, c, m = w.shape
    n = x_shape[0]
    oh, ow = windows.out_hw
    dy = np.ascontiguousarray(check_dy(dy, (n, oh, ow, c * m)).astype(w.dtype, copy=False))
    # With one filter per channel, plain (n, oh, ow, C) arrays (see the forward pass).
    grads = dy if m == 1 else dy.reshape(n, oh, ow, c, m)
    kernel = w[..., 0] if m == 1 else w
    offsets = list(windows.offsets())
    dxp = np.zeros(xp.shape, dtype=w.dtype) if need_dx else None

    def chunk_backward(chunk: tuple[int, int]) -> np.ndarray:
        a, z = chunk
        part, grad = xp[a:z], grads[a:z]
        pixels = (z - a) * oh * ow
        ones = np.ones(pixels, dtype=w.dtype)
        product = np.empty_like(grad)
        dw = np.empty((kh, kw, c, m), dtype=w.dtype)
        for i, j, index in offsets:
            under = part[index] if m == 1 else part[index][..., None]
            np.multiply(under, grad, out=product)
            dw[i, j] = (ones @ product.reshape(pixels, c * m)).reshape(c, m)
            if dxp is not None:
                np.multiply(grad, kernel[i, j], out=product)
                dxp[a:z][index] += product if m == 1 else product.sum(axis=-1)
        return dw

    partial = parallel_map(chunk_backward, _chunks(n, windows, c * m, w.itemsize))
    dw = np.add.reduce(partial) if partial else np.zeros(w.shape, dtype=w.dtype)
    dy2 = dy.reshape(-1, c * m)
    db = np.ones(dy2.shape[0], dtype=dy2.dtype) @ dy2
    dx = None if dxp is None else np.ascontiguousarray(unpad_nhwc(dxp, windows.pads, x_shape[1:3]))
    return dx, dw, db
