"""Fast 2-D max and average pooling, NHWC, forward and backward.

The forward pass is separable: a window's maximum (or sum) is the maximum over
its rows of each column's maximum. It first reduces the ``ph`` window rows of
every column (each step a whole-row expression, contiguous in memory), then the
``pw`` columns of that much smaller result: ``ph + pw`` vectorized steps over a
chunk of images rather than ``ph * pw``. The chunks run on every core
(:mod:`cnnlab.ops.parallel`).

- Max pooling sends each output's gradient to exactly one input: the first
  maximum of its window in row-major order, as TensorFlow does, so ties (say,
  all zeros after a ReLU) never multiply the gradient. When the stride equals
  the window, as in most networks, the windows tile the padded input and the
  backward pass is one comparison of each tile with its maximum; otherwise, and
  to settle ties, it walks the window offsets.
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

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.ops.padding import is_zero, pad_nhwc, unpad_nhwc
from cnnlab.ops.parallel import chunks_for, parallel_map
from cnnlab.ops.windows import Windows, check_cache, check_dy, check_nhwc, make_windows

MODES = ("max", "average")


class Pool2DCache(NamedTuple):
    """What :func:`pool2d_backward` needs from the forward pass."""

    mode: str
    x: np.ndarray  # (N, H, W, C) the input (max pooling finds each window's maximum again)
    y: np.ndarray  # (N, H_out, W_out, C) the output
    windows: Windows
    counts: np.ndarray | None  # average: (1, H_out, W_out, 1) real elements per window


def _normalize_mode(mode: str) -> str:
    """``"max"`` or ``"average"`` (``"avg"`` and ``"mean"`` too, any case)."""
    return _validate.one_of(mode, "mode", MODES, aliases=_validate.POOL_MODE_ALIASES)


def _tiled(windows: Windows) -> bool:
    """Whether the windows tile the padded input: stride equal to the window (any padding;
    rows and columns past the last window, if any, belong to no window)."""
    return windows.stride == windows.kernel


def _window_counts(windows: Windows, dtype: np.dtype) -> np.ndarray | None:
    """(1, H_out, W_out, 1): real (unpadded) input elements under each window; None if all."""
    if is_zero(windows.pads):
        return None
    ones = pad_nhwc(np.ones((1, *windows.in_hw, 1), dtype=dtype), windows.pads)
    counts = np.zeros((1, *windows.out_hw, 1), dtype=dtype)
    for _, _, index in windows.offsets():
        counts += ones[index]
    return counts


def _chunks(x: np.ndarray) -> list[tuple[int, int]]:
    return chunks_for(x.shape[0], x[:1].nbytes)


def _window_rows(xp: np.ndarray, windows: Windows, i: int) -> np.ndarray:
    """(N, H_out, W_padded, C): row ``i`` of every window, whole rows of the padded input."""
    sh, oh = windows.stride[0], windows.out_hw[0]
    return xp[:, i : i + sh * (oh - 1) + 1 : sh]


def _window_columns(a: np.ndarray, windows: Windows, j: int) -> np.ndarray:
    """(N, H_out, W_out, C): column ``j`` of every window, from an (N, H_out, W_padded, C) array."""
    sw, ow = windows.stride[1], windows.out_hw[1]
    return a[:, :, j : j + sw * (ow - 1) + 1 : sw]


def _reduce_windows(xp: np.ndarray, windows: Windows, ufunc: np.ufunc, y: np.ndarray) -> None:
    """``y`` = ``ufunc`` (np.maximum or np.add) over every window of the padded ``xp``:
    first over each window's rows for every column, then over the window's columns."""
    (ph, pw) = windows.kernel
    columns = np.array(_window_rows(xp, windows, 0))
    for i in range(1, ph):
        ufunc(columns, _window_rows(xp, windows, i), out=columns)
    np.copyto(y, _window_columns(columns, windows, 0))
    for j in range(1, pw):
        ufunc(y, _window_columns(columns, windows, j), out=y)


def _max_forward(x: np.ndarray, windows: Windows, y: np.ndarray) -> None:
    _reduce_windows(pad_nhwc(x, windows.pads, value=-np.inf), windows, np.maximum, y)


def _max_backward(
    x: np.ndarray, y: np.ndarray, dy: np.ndarray, windows: Windows, dx: np.ndarray
) -> None:
    """``dx`` for one chunk: each output's gradient goes to its window's first maximum."""
    if _tiled(windows):
        _max_backward_tiles(x, y, dy, windows, dx)
        return
    # Walk the offsets in row-major order; the first one equal to the maximum takes the
    # whole gradient and later ties get nothing.
    xp = pad_nhwc(x, windows.pads, value=-np.inf)
    dxp = np.zeros(xp.shape, dtype=dy.dtype)
    unclaimed = np.ones(y.shape, dtype=bool)
    hit = np.empty(y.shape, dtype=bool)
    for _, _, index in windows.offsets():
        np.equal(xp[index], y, out=hit)
        hit &= unclaimed
        unclaimed ^= hit
        dxp[index] += hit * dy
    dx[...] = unpad_nhwc(dxp, windows.pads, windows.in_hw)


def _max_backward_tiles(
    x: np.ndarray, y: np.ndarray, dy: np.ndarray, windows: Windows, dx: np.ndarray
) -> None:
    """:func:`_max_backward` when the windows tile the padded input (stride = window)."""
    (ph, pw), (oh, ow) = windows.kernel, windows.out_hw
    xp = pad_nhwc(x, windows.pads, value=-np.inf)
    dxp = dx if xp is x else np.empty(xp.shape, dtype=dx.dtype)
    if xp.shape[1:3] != (oh * ph, ow * pw):  # a remainder past the last window
        dxp[...] = 0
    region, dx_region = xp[:, : oh * ph, : ow * pw], dxp[:, : oh * ph, : ow * pw]
    # Compare whole rows: each output repeated over its window's columns, against every
    # row of the window (long contiguous runs, where a 6-D comparison has runs of C).
    n, c = x.shape[0], x.shape[3]
    row = (n, oh, 1, ow * pw * c)
    windows_rows = np.ascontiguousarray(region).reshape(n, oh, ph, ow * pw * c)
    is_max = windows_rows == np.repeat(y, pw, axis=2).reshape(row)
    if np.count_nonzero(is_max) > y.size:
        # Some window holds several maxima (all zeros after a ReLU, say): walk the
        # offsets in row-major order and keep only the first maximum of each window.
        offsets = is_max.reshape(n, oh, ph, ow, pw, c)
        claimed = np.zeros(y.shape, dtype=bool)
        for i in range(ph):
            for j in range(pw):
                at = offsets[:, :, i, :, j, :]
                at &= ~claimed
                claimed |= at
    dy_rows = np.repeat(dy, pw, axis=2).reshape(row)
    if dx_region.flags.c_contiguous:  # no remainder: write the products in place
        np.multiply(is_max, dy_rows, out=dx_region.reshape(is_max.shape))
    else:
        dx_region[...] = (is_max * dy_rows).reshape(dx_region.shape)
    if dxp is not dx:
        dx[...] = unpad_nhwc(dxp, windows.pads, windows.in_hw)


def _average_forward(x: np.ndarray, windows: Windows, counts, y: np.ndarray) -> None:
    _reduce_windows(pad_nhwc(x, windows.pads), windows, np.add, y)
    y /= windows.kernel[0] * windows.kernel[1] if counts is None else counts


def _average_backward(dy: np.ndarray, windows: Windows, counts) -> np.ndarray:
    share = dy / (windows.kernel[0] * windows.kernel[1] if counts is None else counts)
    n, c = dy.shape[0], dy.shape[3]
    hp, wp = windows.padded_hw
    column_share = np.zeros((n, windows.out_hw[0], wp, c), dtype=dy.dtype)
    for j in range(windows.kernel[1]):
        _window_columns(column_share, windows, j)[...] += share
    dxp = np.zeros((n, hp, wp, c), dtype=dy.dtype)
    for i in range(windows.kernel[0]):
        _window_rows(dxp, windows, i)[...] += column_share
    return unpad_nhwc(dxp, windows.pads, windows.in_hw)


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
            mode or padding, a window larger than the padded input, or a padding
            so large that a window would hold only padding.
    """
    mode = _normalize_mode(mode)
    x = check_nhwc(x, "x")
    windows = make_windows(x.shape, pool_size, stride, padding, kernel_name="pool_size")
    (top, bottom), (left, right) = windows.pads
    if max(top, bottom) >= windows.kernel[0] or max(left, right) >= windows.kernel[1]:
        raise ArgumentError(
            "`padding` must be smaller than `pool_size` on every side, or a window would hold "
            f"only padding. Received: padding={padding!r}, pool_size={pool_size!r}"
        )
    y = np.empty((x.shape[0], *windows.out_hw, x.shape[3]), dtype=x.dtype)
    counts = None if mode == "max" else _window_counts(windows, x.dtype)

    def forward_chunk(chunk: tuple[int, int]) -> None:
        a, z = chunk
        if mode == "max":
            _max_forward(x[a:z], windows, y[a:z])
        else:
            _average_forward(x[a:z], windows, counts, y[a:z])

    parallel_map(forward_chunk, _chunks(x))
    return y, Pool2DCache(mode, x, y, windows, counts)


def pool2d_backward(dy: np.ndarray, cache: Pool2DCache) -> np.ndarray:
    """Gradient of a pooling with respect to its input.

    Args:
        dy: gradient of the loss with respect to ``y``, (N, H_out, W_out, C).
        cache: from :func:`pool2d_forward`.

    Returns:
        dx of shape (N, H, W, C).

    Raises:
        ArgumentError (a ValueError): ``cache`` is not a :class:`Pool2DCache`, or ``dy``
            is not real numbers of the forward output's shape.
    """
    mode, x, y, windows, counts = check_cache(cache, Pool2DCache, "pool2d_forward")
    dy = check_dy(dy, y.shape).astype(x.dtype, copy=False)
    dx = np.empty(x.shape, dtype=x.dtype)

    def backward_chunk(chunk: tuple[int, int]) -> None:
        a, z = chunk
        if mode == "max":
            _max_backward(x[a:z], y[a:z], dy[a:z], windows, dx[a:z])
        else:
            dx[a:z] = _average_backward(dy[a:z], windows, counts)

    parallel_map(backward_chunk, _chunks(x))
    return dx
