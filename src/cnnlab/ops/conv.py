"""Fast 2-D convolution (cross-correlation, as in every deep-learning library), NHWC.

The forward pass lays every window out as one row of a matrix (``im2col``) and
multiplies it by the kernel reshaped to ``(kh * kw * C_in, C_out)``: one large
matrix product that BLAS runs on every core. The backward pass reuses those
rows for the kernel gradient (a second product) and scatters the rows'
gradients back onto the input (``col2im``), one window offset at a time.

Shapes:
    x:  (N, H, W, C_in)       input
    w:  (kh, kw, C_in, C_out) kernel, as Keras stores it
    b:  (C_out,)              bias
    y:  (N, H_out, W_out, C_out)

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    >>> w = rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
    >>> y, cache = conv2d_forward(x, w, np.zeros(8, np.float32), stride=2, padding=1)
    >>> y.shape
    (2, 3, 4, 8)
    >>> dx, dw, db = conv2d_backward(np.ones_like(y), cache)
    >>> dx.shape, dw.shape, db.shape
    ((2, 5, 7, 4), (3, 3, 4, 8), (8,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.ops.padding import pad_nhwc, unpad_nhwc
from cnnlab.ops.windows import Windows, check_nhwc, make_windows


class Conv2DCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    cols: np.ndarray  # (N * H_out * W_out, kh * kw * C_in): every window as a row
    x_shape: tuple[int, int, int, int]
    w: np.ndarray  # (kh, kw, C_in, C_out)
    windows: Windows


def _row_windows(xp: np.ndarray, windows: Windows, i: int, writeable: bool = False) -> np.ndarray:
    """A view (N, H_out, W_out, kw * C) of kernel row ``i`` of every window.

    Within one kernel row a window covers ``kw * C`` consecutive values of the
    contiguous (N, Hp, Wp, C) array ``xp``, so each row is one contiguous run.
    """
    n, _, _, c = xp.shape
    (sh, sw), (oh, ow), kw = windows.stride, windows.out_hw, windows.kernel[1]
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(
        xp[:, i:, :, :],
        shape=(n, oh, ow, kw * c),
        strides=(s_n, s_h * sh, s_w * sw, s_c),
        writeable=writeable,
    )


def im2col(xp: np.ndarray, windows: Windows) -> np.ndarray:
    """Every window of the padded input ``xp`` as a row: (N * H_out * W_out, kh * kw * C)."""
    n, c = xp.shape[0], xp.shape[3]
    (kh, kw), (oh, ow) = windows.kernel, windows.out_hw
    xp = np.ascontiguousarray(xp)
    cols = np.empty((n, oh, ow, kh, kw * c), dtype=xp.dtype)
    for i in range(kh):
        cols[:, :, :, i, :] = _row_windows(xp, windows, i)
    return cols.reshape(n * oh * ow, kh * kw * c)


# Below this many input channels the input gradient is scattered channel-first.
_FEW_CHANNELS = 16
# Rows of the window matrix reduced at once for the kernel gradient: small enough
# that each block stays in the CPU's cache, which makes the product several times faster.
_BLOCK_BYTES = 1 << 19


def _sum_of_products(cols: np.ndarray, dy2: np.ndarray) -> np.ndarray:
    """``cols.T @ dy2`` computed block by block over the (long) shared axis."""
    rows = max(256, _BLOCK_BYTES // (cols.shape[1] * cols.itemsize))
    out = np.zeros((cols.shape[1], dy2.shape[1]), dtype=cols.dtype)
    for start in range(0, cols.shape[0], rows):
        out += cols[start : start + rows].T @ dy2[start : start + rows]
    return out


def _common_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding="valid"
) -> tuple[np.ndarray, Conv2DCache]:
    """Convolve ``x`` with ``w`` and add ``b``.

    Args:
        x: input, (N, H, W, C_in).
        w: kernel, (kh, kw, C_in, C_out).
        b: bias, (C_out,), or None for no bias.
        stride: an int or ``(sh, sw)``.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule), an int, ``(ph, pw)`` or
            ``((top, bottom), (left, right))``.

    Returns:
        ``(y, cache)``: y of shape (N, H_out, W_out, C_out) in the inputs' common
        float dtype, and the cache for :func:`conv2d_backward`.

    Raises:
        ValueError: wrong number of dimensions, channel mismatch, bias of the wrong
            shape, a stride of 0, an unknown padding, or a kernel larger than the
            padded input.
    """
    x = check_nhwc(x, "x")
    w = np.asarray(w)
    if w.ndim != 4:
        raise ValueError(
            f"`w` must be a 4-D array (kh, kw, C_in, C_out). Received: w.shape={w.shape}"
        )
    if w.shape[2] != x.shape[3]:
        raise ValueError(
            f"The input has {x.shape[3]} channels but the kernel expects {w.shape[2]}. "
            f"Received: x.shape={x.shape}, w.shape={w.shape}"
        )
    if b is not None:
        b = np.asarray(b)
        if b.shape != (w.shape[3],):
            raise ValueError(
                f"`b` must have shape ({w.shape[3]},), one value per filter. "
                f"Received: b.shape={b.shape}"
            )
    kh, kw, c_in, c_out = w.shape
    windows = make_windows(x.shape, (kh, kw), stride, padding, kernel_name="w.shape[:2]")
    dtype = _common_dtype(x, w) if b is None else _common_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)

    cols = im2col(pad_nhwc(x, windows.pads), windows)
    y = cols @ w.reshape(kh * kw * c_in, c_out)
    if b is not None:
        y += b.astype(dtype, copy=False)
    n, (oh, ow) = x.shape[0], windows.out_hw
    return y.reshape(n, oh, ow, c_out), Conv2DCache(cols, x.shape, w, windows)


def conv2d_backward(
    dy: np.ndarray, cache: Conv2DCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a convolution with respect to its input, kernel and bias.

    Args:
        dy: gradient of the loss with respect to ``y``, (N, H_out, W_out, C_out).
        cache: from :func:`conv2d_forward`.

    Returns:
        ``(dx, dw, db)`` of shapes (N, H, W, C_in), (kh, kw, C_in, C_out), (C_out,).
    """
    cols, x_shape, w, windows = cache
    n, h, wd, c_in = x_shape
    kh, kw, _, c_out = w.shape
    oh, ow = windows.out_hw
    expected = (n, oh, ow, c_out)
    dy = np.asarray(dy)
    if dy.shape != expected:
        raise ValueError(f"`dy` must have shape {expected}. Received: dy.shape={dy.shape}")
    dy2 = dy.astype(w.dtype, copy=False).reshape(n * oh * ow, c_out)

    dw = _sum_of_products(cols, dy2).reshape(w.shape)
    db = dy2.sum(axis=0)
    w2 = w.reshape(kh * kw * c_in, c_out)
    hp, wp = windows.padded_hw
    if c_in < _FEW_CHANNELS:
        # Few input channels: scatter channel-first, where every window offset adds
        # whole rows of width W_out at once, then transpose back to NHWC.
        dy_t = np.ascontiguousarray(dy2.T)  # (C_out, N * H_out * W_out)
        per_offset = (w2 @ dy_t).reshape(kh * kw, c_in, n, oh, ow)
        dxp_t = np.zeros((c_in, n, hp, wp), dtype=w.dtype)
        for k, (_, _, index) in enumerate(windows.offsets()):
            dxp_t[(slice(None), *index[:3])] += per_offset[k]
        dxp = dxp_t.transpose(1, 2, 3, 0)
    else:
        # One (N * H_out * W_out, C_in) block per window offset, each added where it came from.
        per_offset = np.matmul(dy2, w.reshape(kh * kw, c_in, c_out).transpose(0, 2, 1))
        dxp = np.zeros((n, hp, wp, c_in), dtype=w.dtype)
        for k, (_, _, index) in enumerate(windows.offsets()):
            dxp[index] += per_offset[k].reshape(n, oh, ow, c_in)
    return np.ascontiguousarray(unpad_nhwc(dxp, windows.pads, (h, wd))), dw, db
