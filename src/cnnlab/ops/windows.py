"""The sliding-window geometry shared by convolution and both poolings.

A :class:`Windows` value holds everything about how a ``(kh, kw)`` window
slides over a padded (N, H, W, C) input with a given stride: the resolved
padding, the output size, and the slices that pick, for one window offset
``(i, j)``, the input element under that offset for every output position.

Both ops loop over window offsets (``kh * kw`` of them, a handful), never over
the batch, rows or columns: each step is one vectorized NumPy expression over
the whole batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.ops.padding import Pads, normalize_tuple, output_size, resolve_padding


class Windows(NamedTuple):
    """How a window slides over an input (all sizes in pixels)."""

    in_hw: tuple[int, int]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pads: Pads
    out_hw: tuple[int, int]

    @property
    def padded_hw(self) -> tuple[int, int]:
        (top, bottom), (left, right) = self.pads
        return self.in_hw[0] + top + bottom, self.in_hw[1] + left + right

    def offsets(self) -> Iterator[tuple[int, int, tuple[slice, slice, slice, slice]]]:
        """Yield ``(i, j, index)`` for every window offset, row by row.

        ``padded_x[index]`` is the (N, out_h, out_w, C) array of the elements that
        sit at offset ``(i, j)`` of each window.
        """
        (sh, sw), (oh, ow) = self.stride, self.out_hw
        for i in range(self.kernel[0]):
            for j in range(self.kernel[1]):
                yield (
                    i,
                    j,
                    (
                        slice(None),
                        slice(i, i + sh * (oh - 1) + 1, sh),
                        slice(j, j + sw * (ow - 1) + 1, sw),
                        slice(None),
                    ),
                )


def check_real(a, name: str) -> np.ndarray:
    """Return ``a`` as an array of real numbers (ints and bools become float32), or raise
    an ArgumentError naming it (strings, objects, complex numbers)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        if not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
            raise ArgumentError(
                f"`{name}` must hold real numbers. Received: {name}.dtype={a.dtype}"
            )
        a = a.astype(np.float32)
    return a


def check_nhwc(x: np.ndarray, name: str = "x") -> np.ndarray:
    """Return ``x`` as a floating (N, H, W, C) array, or raise an ArgumentError naming it.

    The batch may be empty (N = 0, as in Keras); a zero height, width or channel count
    is refused.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ArgumentError(
            f"`{name}` must be a 4-D array (N, H, W, C). Received: {name}.shape={x.shape}"
        )
    if 0 in x.shape[1:]:
        raise ArgumentError(
            f"`{name}` must have a non-zero height, width and channel count. "
            f"Received: {name}.shape={x.shape}"
        )
    return check_real(x, name)


def check_cache(cache, cache_type: type, forward: str):
    """Return ``cache`` if it is a ``cache_type`` (what ``forward`` returned), else raise an
    ArgumentError saying what was received (None, a tuple, another op's cache)."""
    if not isinstance(cache, cache_type):
        raise ArgumentError(
            f"`cache` must be the {cache_type.__name__} returned by {forward}(). "
            f"Received: cache of type {type(cache).__name__}"
        )
    return cache


def check_dy(dy, expected: tuple, name: str = "dy") -> np.ndarray:
    """Return the upstream gradient as a real array of the forward output's shape, or raise."""
    dy = check_real(dy, name)
    if dy.shape != tuple(expected):
        raise ArgumentError(
            f"`{name}` must have shape {tuple(expected)}. Received: {name}.shape={dy.shape}"
        )
    return dy


def make_windows(
    x_shape: Sequence[int],
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None,
    padding,
    *,
    kernel_name: str = "kernel_size",
) -> Windows:
    """Validate the window arguments against an (N, H, W, C) shape and resolve them.

    Args:
        x_shape: the input's shape (N, H, W, C).
        kernel: window size, an int or ``(kh, kw)``.
        stride: step, an int or ``(sh, sw)``; ``None`` means the window size (Keras's
            pooling default).
        padding: see :mod:`cnnlab.ops.padding`.
        kernel_name: the argument name used in error messages.

    Raises:
        ValueError: naming the argument and the value received.
    """
    kernel = normalize_tuple(kernel, 2, kernel_name)
    stride = kernel if stride is None else normalize_tuple(stride, 2, "stride")
    in_hw = (int(x_shape[1]), int(x_shape[2]))
    pads = resolve_padding(padding, kernel, stride, in_hw)
    out_hw = (
        output_size(in_hw[0], kernel[0], *pads[0], stride[0]),
        output_size(in_hw[1], kernel[1], *pads[1], stride[1]),
    )
    return Windows(in_hw, kernel, stride, pads, out_hw)
