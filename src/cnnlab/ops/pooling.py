"""Fast 2-D max and average pooling, NHWC, forward and backward.

Both modes walk the window offsets (``ph * pw`` of them), each step one
vectorized expression over the whole batch.

- Max pooling finds, for every output, which offset held the maximum: the
  first one in row-major order, as TensorFlow does. The backward pass sends each
  output's gradient to exactly that one input, so ties (say, all zeros after a
  ReLU) never multiply the gradient.
- Average pooling divides by the number of real (unpadded) elements under the
  window, as TensorFlow does for 'same' padding.

Shapes:
    x: (N, H, W, C)
    y: (N, H_out, W_out, C)

Example:
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    >>> y, cache = pool2d_forward(x, 2)
    >>> y[0, :, :, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    >>> pool2d_backward(np.ones_like(y), cache)[0, :, :, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 0., 1.],
           [0., 0., 0., 0.],
           [0., 1., 0., 1.]], dtype=float32)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from cnnlab.ops.padding import is_zero, pad_nhwc, unpad_nhwc
from cnnlab.ops.windows import Windows, check_nhwc, make_windows

MODES = ("max", "average")


class Pool2DCache(NamedTuple):
    """What :func:`pool2d_backward` needs from the forward pass."""

    mode: str
    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    windows: Windows
    xp: np.ndarray | None  # max: the padded input (N, Hp, Wp, C); x itself when unpadded
    y: np.ndarray | None  # max: the output, to find each window's first maximum again
    counts: np.ndarray | None  # average: (1, H_out, W_out, 1) real elements per window


def _normalize_mode(mode: str) -> str:
    key = mode.lower() if isinstance(mode, str) else mode
    if key in ("avg", "mean"):
        key = "average"
    if key not in MODES:
        raise ValueError(f"`mode` must be 'max' or 'average'. Received: mode={mode!r}")
    return key


def _tiles(x: np.ndarray, windows: Windows) -> np.ndarray | None:
    """``x`` as (N, H_out, ph, W_out, pw, C) when the windows tile it exactly, else None."""
    (ph, pw), (oh, ow) = windows.kernel, windows.out_hw
    exact = windows.stride == windows.kernel and x.shape[1:3] == (oh * ph, ow * pw)
    if not exact or not is_zero(windows.pads):
        return None
    return x.reshape(x.shape[0], oh, ph, ow, pw, x.shape[3])


def _first_max_backward(tiled: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Route ``dy`` to each tile's first maximum (row-major); returns the tiled gradient."""
    n, oh, ph, ow, pw, c = tiled.shape
    flat = tiled.transpose(0, 1, 3, 5, 2, 4).reshape(n, oh, ow, c, ph * pw)
    grad = np.zeros(flat.shape, dtype=dy.dtype)
    np.put_along_axis(grad, flat.argmax(axis=-1)[..., None], dy[..., None], axis=-1)
    return grad.reshape(n, oh, ow, c, ph, pw).transpose(0, 1, 4, 2, 5, 3)


def _window_counts(windows: Windows, dtype: np.dtype) -> np.ndarray:
    """(1, H_out, W_out, 1): how many real (unpadded) input elements each window covers."""
    ones = pad_nhwc(np.ones((1, *windows.in_hw, 1), dtype=dtype), windows.pads)
    counts = np.zeros((1, *windows.out_hw, 1), dtype=dtype)
    for _, _, index in windows.offsets():
        counts += ones[index]
    return counts


def pool2d_forward(
    x: np.ndarray, pool_size, stride=None, padding="valid", mode: str = "max"
) -> tuple[np.ndarray, Pool2DCache]:
    """Pool every ``pool_size`` window of ``x`` with its maximum or its average.

    Args:
        x: input, (N, H, W, C).
        pool_size: an int or ``(ph, pw)``.
        stride: an int or ``(sh, sw)``; None means ``pool_size``, as in Keras.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule), an int, ``(ph, pw)`` or
            ``((top, bottom), (left, right))``. Padded positions never win a max and
            are not counted in an average.
        mode: ``"max"`` or ``"average"``.

    Returns:
        ``(y, cache)`` with y of shape (N, H_out, W_out, C).

    Raises:
        ValueError: wrong number of dimensions, a size or stride of 0, an unknown
            mode or padding, or a window larger than the padded input.
    """
    mode = _normalize_mode(mode)
    x = check_nhwc(x, "x")
    windows = make_windows(x.shape, pool_size, stride, padding, kernel_name="pool_size")
    (top, bottom), (left, right) = windows.pads
    if max(top, bottom) >= windows.kernel[0] or max(left, right) >= windows.kernel[1]:
        raise ValueError(
            "`padding` must be smaller than `pool_size` on every side, or a window would hold "
            f"only padding. Received: padding={padding!r}, pool_size={pool_size!r}"
        )

    if mode == "max":
        xp = pad_nhwc(x, windows.pads, value=-np.inf)
        offsets = windows.offsets()
        _, _, first = next(offsets)
        y = xp[first].copy()
        for _, _, index in offsets:
            np.maximum(y, xp[index], out=y)
        return y, Pool2DCache(mode, x.shape, x.dtype, windows, xp, y, None)

    xp = pad_nhwc(x, windows.pads)
    y = np.zeros((x.shape[0], *windows.out_hw, x.shape[3]), dtype=x.dtype)
    for _, _, index in windows.offsets():
        y += xp[index]
    counts = None
    if is_zero(windows.pads):
        y /= windows.kernel[0] * windows.kernel[1]
    else:
        counts = _window_counts(windows, x.dtype)
        y /= counts
    return y, Pool2DCache(mode, x.shape, x.dtype, windows, None, None, counts)


def pool2d_backward(dy: np.ndarray, cache: Pool2DCache) -> np.ndarray:
    """Gradient of a pooling with respect to its input.

    Args:
        dy: gradient of the loss with respect to ``y``, (N, H_out, W_out, C).
        cache: from :func:`pool2d_forward`.

    Returns:
        dx of shape (N, H, W, C).
    """
    mode, x_shape, dtype, windows, xp, y, counts = cache
    n, h, w, c = x_shape
    expected = (n, *windows.out_hw, c)
    dy = np.asarray(dy)
    if dy.shape != expected:
        raise ValueError(f"`dy` must have shape {expected}. Received: dy.shape={dy.shape}")
    dy = dy.astype(dtype, copy=False)

    if mode == "max" and (tiled := _tiles(xp, windows)) is not None:
        # Windows tile the input exactly: compare every element with its window's maximum
        # at once; if some window holds several maxima, find each window's first instead.
        is_max = tiled == y[:, :, None, :, None, :]  # (N, H_out, ph, W_out, pw, C)
        if np.count_nonzero(is_max) == y.size:
            return (is_max * dy[:, :, None, :, None, :]).reshape(x_shape)
        return _first_max_backward(tiled, dy).reshape(x_shape)

    dxp = np.zeros((n, *windows.padded_hw, c), dtype=dtype)
    if mode == "max":
        # Walk the offsets in row-major order; the first one equal to the maximum takes
        # the whole gradient and later ties get nothing.
        unclaimed = np.ones(y.shape, dtype=bool)
        hit = np.empty(y.shape, dtype=bool)
        for _, _, index in windows.offsets():
            np.equal(xp[index], y, out=hit)
            hit &= unclaimed
            unclaimed ^= hit
            dxp[index] += hit * dy
    else:
        share = dy / (windows.kernel[0] * windows.kernel[1] if counts is None else counts)
        for _, _, index in windows.offsets():
            dxp[index] += share
    return np.ascontiguousarray(unpad_nhwc(dxp, windows.pads, (h, w)))
