"""The playground's numbers: one 2-D grid convolved or pooled by :mod:`cnnlab.ops`.

The page draws what these functions return and computes nothing itself: the padded grid,
every output cell, each cell's products (convolution) or winning position (max pooling), and
the output-size formula as ``cnnlab explain`` writes it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from cnnlab import ops
from cnnlab.data.builtin import digits_arrays
from cnnlab.data.images import conform_images
from cnnlab.errors import ArgumentError
from cnnlab.explain.calculators import explain_conv, explain_pool
from cnnlab.studio.encode import rounded

MAX_GRID = 64
"""The largest input side the playground takes (64 x 64: about 35,000 products at 3x3)."""
MAX_KERNEL = 9

PRESETS: dict[str, list[list[float]]] = {
    "vertical_edge": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "horizontal_edge": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
}
"""The kernels a learner starts from (3x3; the course's vertical edge detector first)."""


def _grid(value: Any, name: str, limit: int) -> np.ndarray:
    """A JSON 2-D list of finite numbers, 1..limit on each side, as float64 (H, W)."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise ArgumentError(f"{name} must be a 2-D list of numbers (a list of rows)")
    widths = {len(r) for r in value}
    if len(widths) != 1:
        raise ArgumentError(
            f"{name} rows must all have the same length. Received: {sorted(widths)}"
        )
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for r in value for v in r):
        raise ArgumentError(f"{name} must hold numbers only")
    arr = np.asarray(value, dtype=np.float64)
    h, w = arr.shape
    if not (1 <= h <= limit and 1 <= w <= limit):
        raise ArgumentError(f"{name} must be at most {limit}x{limit}. Received: {h}x{w}")
    if not np.isfinite(arr).all():
        raise ArgumentError(f"{name} must hold finite numbers")
    return arr


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, list):
        value = tuple(value)
    return ops.normalize_tuple(value, 2, name)


def _padding(value: Any) -> str | int:
    if isinstance(value, str) and value.lower() in ("valid", "same"):
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_GRID:
        return value
    raise ArgumentError(
        f"padding must be 'valid', 'same' or a number of zeros 0..{MAX_GRID}. "
        f"Received: padding={value!r}"
    )


def window_view(padded: np.ndarray, size, strides, out_hw) -> np.ndarray:
    """The windows of a padded ``(H', W', ...)`` grid as a view ``(oh, ow, ..., kh, kw)``:
    ``[i, j]`` is the window of output cell ``(i, j)``, whose top-left corner is
    ``(i * sh, j * sw)``."""
    view = np.lib.stride_tricks.sliding_window_view(padded, tuple(size), axis=(0, 1))
    return view[:: strides[0], :: strides[1]][: out_hw[0], : out_hw[1]]


def pads_json(pads) -> dict[str, int]:
    (top, bottom), (left, right) = pads
    return {"top": int(top), "bottom": int(bottom), "left": int(left), "right": int(right)}


def _formula(axes) -> dict[str, str]:
    return {"height": axes[0].formula(), "width": axes[1].formula()}


def convolve(
    grid: Any, kernel: Any, stride: Any = 1, padding: Any = "valid", bias: Any = 0.0
) -> dict:
    """Convolve one channel with one filter, as ``cnnlab.ops.conv2d_forward`` does.

    Args:
        grid: ``H x W`` numbers (1..64 a side).
        kernel: ``kh x kw`` numbers (1..9 a side).
        stride: an int or ``[sh, sw]``.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule, even kernels included) or N.
        bias: added to every output cell.

    Returns:
        The JSON answer of ``POST /api/playground/conv`` (see docs/studio-api.md).

    Raises:
        ArgumentError: a malformed grid, kernel, stride or padding, or a kernel larger than
            the padded input.
    """
    x = _grid(grid, "input", MAX_GRID)
    w = _grid(kernel, "kernel", MAX_KERNEL)
    if not isinstance(bias, int | float) or isinstance(bias, bool) or not np.isfinite(bias):
        raise ArgumentError(f"bias must be a number. Received: bias={bias!r}")
    strides = _pair(stride, "stride")
    pad = _padding(padding)
    e = explain_conv((*x.shape, 1), 1, w.shape, strides, pad)
    out, _ = ops.conv2d_forward(
        x[None, :, :, None], w[:, :, None, None], np.array([bias], dtype=np.float64), strides, pad
    )
    padded = ops.padding.pad_nhwc(x[None, :, :, None], e.pads)[0, :, :, 0]
    kh, kw = w.shape
    windows = window_view(padded, (kh, kw), strides, out.shape[1:3])
    products = (windows * w).reshape(*windows.shape[:2], kh * kw)
    return {
        "padded": rounded(padded),
        "pads": pads_json(e.pads),
        "stride": list(strides),
        "kernel_size": [kh, kw],
        "bias": float(bias),
        "output": rounded(out[0, :, :, 0]),
        "output_shape": [int(out.shape[1]), int(out.shape[2])],
        "products": rounded(products),
        "formula": _formula(e.axes),
        "explain": e.lines(),
    }


def pool(
    grid: Any, mode: Any = "max", size: Any = 2, stride: Any = None, padding: Any = "valid"
) -> dict:
    """Pool one channel, as ``cnnlab.ops.pool2d_forward`` does.

    Args:
        grid: ``H x W`` numbers (1..64 a side).
        mode: ``"max"`` or ``"average"``.
        size: the window, an int or ``[ph, pw]``.
        stride: an int or ``[sh, sw]`` (default: the window).
        padding: ``"valid"``, ``"same"`` or N (padded cells take no part).

    Returns:
        The JSON answer of ``POST /api/playground/pool`` (see docs/studio-api.md).
    """
    x = _grid(grid, "input", MAX_GRID)
    if mode not in ("max", "average"):
        raise ArgumentError(f"mode must be 'max' or 'average'. Received: mode={mode!r}")
    window = _pair(size, "size")
    strides = window if stride is None else _pair(stride, "stride")
    pad = _padding(padding)
    e = explain_pool((*x.shape, 1), window, strides, pad, mode)
    out, _ = ops.pool2d_forward(x[None, :, :, None], window, strides, pad, mode=mode)
    padded = ops.padding.pad_nhwc(x[None, :, :, None], e.pads, value=np.nan)[0, :, :, 0]
    picked = None
    if mode == "max":
        windows = window_view(padded, window, strides, out.shape[1:3])
        flat = np.where(np.isnan(windows), -np.inf, windows).reshape(*windows.shape[:2], -1)
        first = flat.argmax(axis=-1)
        rows = np.arange(out.shape[1])[:, None] * strides[0] + first // window[1]
        cols = np.arange(out.shape[2])[None, :] * strides[1] + first % window[1]
        picked = np.stack([rows, cols], axis=-1).tolist()
    return {
        "padded": rounded(padded),
        "pads": pads_json(e.pads),
        "stride": list(strides),
        "pool_size": list(window),
        "mode": mode,
        "output": rounded(out[0, :, :, 0]),
        "output_shape": [int(out.shape[1]), int(out.shape[2])],
        "picked": picked,
        "formula": _formula(e.axes),
        "explain": e.lines(),
    }


@functools.cache
def digit_images() -> list[dict]:
    """One built-in 8x8 digit of each class (scikit-learn's, values 0..255); computed once."""

    x, y, names = digits_arrays()
    firsts = [int(np.flatnonzero(y == k)[0]) for k in range(len(names))]
    return [
        {"id": f"digits:{i}", "label": f"digit {names[y[i]]}", "grid": x[i, :, :, 0].tolist()}
        for i in firsts
    ]


def gray_grid(image: np.ndarray, size: int) -> list[list[int]]:
    """A uint8 ``(H, W, C)`` image as a ``size x size`` gray grid of ints 0..255 (converted
    and resized as a run's images are)."""

    arr = np.asarray(image, dtype=np.uint8)[None]
    return conform_images(arr, (size, size), grayscale=True)[0, :, :, 0].astype(int).tolist()
