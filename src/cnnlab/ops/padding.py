"""Padding rules and the output-size formula (argument spelling is `cnnlab._validate`'s).

Every op and layer in cnnlab resolves its padding here, so the convolution,
both poolings, the NumPy layers and the ``explain`` calculator agree on the
numbers.

Padding can be given as:

- ``"valid"``: no padding;
- ``"same"``: TensorFlow's rule. The output has ``ceil(n / s)`` positions and
  the total padding ``max((out - 1) * s + f - n, 0)`` is split with the smaller
  half before, so a 4x4 'same' convolution pads 1 before and 2 after;
- an int ``p``: ``p`` on every side (the course's ``pad``);
- a pair ``(ph, pw)``: ``ph`` above and below, ``pw`` left and right;
- ``((top, bottom), (left, right))``: each side explicitly.

The output size along one axis is ``floor((n + p_before + p_after - f) / s) + 1``,
the course's ``floor((n + 2p - f) / s) + 1`` when the padding is symmetric.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab import _validate
from cnnlab.errors import ArgumentError

Pads = tuple[tuple[int, int], tuple[int, int]]
"""A resolved padding: ``((top, bottom), (left, right))``."""


def normalize_tuple(value: int | Sequence[int], n: int, name: str, *, allow_zero: bool = False):
    """Turn an int or a sequence of ``n`` ints into an ``n``-tuple of ints, as Keras does.

    A thin alias of :func:`cnnlab._validate.int_tuple`, the one rule for sizes and
    strides (it also accepts the text forms ``"2"`` and ``"2x1"``).

    Raises:
        ValueError: naming the argument and the value received.

    Example:
        >>> normalize_tuple(3, 2, "kernel_size")
        (3, 3)
        >>> normalize_tuple((2, 1), 2, "strides")
        (2, 1)
    """
    return _validate.int_tuple(value, n, name, allow_zero=allow_zero)


def output_size(n: int, f: int, pad_before: int, pad_after: int, stride: int) -> int:
    """Positions of an ``f``-wide window with step ``stride`` over ``n`` padded values.

    ``floor((n + pad_before + pad_after - f) / stride) + 1``.

    Raises:
        ValueError: when the window is larger than the padded input.

    Example:
        >>> output_size(5, 3, 1, 1, 2)   # the course's n=5, f=3, p=1, s=2
        3
    """
    padded = n + pad_before + pad_after
    if f > padded:
        raise ArgumentError(
            f"The window ({f}) is larger than the padded input ({n} + {pad_before} + "
            f"{pad_after} = {padded}). Received: window={f}, input size={n}"
        )
    return (padded - f) // stride + 1


def same_padding(n: int, f: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis: ``(before, after)``.

    Example:
        >>> same_padding(64, 4, 1)   # a 4x4 'same' convolution
        (1, 2)
    """
    out = -(-n // stride)
    total = max((out - 1) * stride + f - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    padding: str | int | Sequence,
    kernel: Sequence[int],
    stride: Sequence[int],
    in_hw: Sequence[int],
) -> Pads:
    """Resolve any accepted padding into ``((top, bottom), (left, right))``.

    Args:
        padding: ``"valid"``, ``"same"``, an int, a pair of ints, or a pair of pairs.
        kernel: the window's ``(height, width)``.
        stride: the ``(height, width)`` step.
        in_hw: the input's ``(height, width)``.

    Raises:
        ValueError: for an unknown string, a negative or malformed padding
            (:func:`cnnlab._validate.padding_spec` owns the spelling).

    Example:
        >>> resolve_padding("same", (4, 4), (1, 1), (64, 64))
        ((1, 2), (1, 2))
        >>> resolve_padding(2, (3, 3), (1, 1), (5, 5))
        ((2, 2), (2, 2))
    """
    spec = _validate.padding_spec(padding)
    if spec == "valid":
        return (0, 0), (0, 0)
    if spec == "same":
        return (
            same_padding(in_hw[0], kernel[0], stride[0]),
            same_padding(in_hw[1], kernel[1], stride[1]),
        )
    if isinstance(spec, int):
        return (spec, spec), (spec, spec)
    if isinstance(spec[0], int):
        return (spec[0], spec[0]), (spec[1], spec[1])
    return spec


def is_zero(pads: Pads) -> bool:
    """Whether ``pads`` adds nothing."""
    return pads == ((0, 0), (0, 0))


def pad_nhwc(x, pads: Pads, value: float = 0.0):
    """Pad the height and width of an (N, H, W, C) array; returns ``x`` itself when pads are 0.

    Unlike the slice ``a[pad:-pad]``, which is empty for ``pad = 0``, this works for
    every padding including none.
    """
    import numpy as np

    if is_zero(pads):
        return x
    (top, bottom), (left, right) = pads
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top : top + h, left : left + w, :] = x
    return out


def unpad_nhwc(xp, pads: Pads, hw: Sequence[int]):
    """The inverse of :func:`pad_nhwc`: the (N, H, W, C) interior of a padded array."""
    if is_zero(pads):
        return xp
    (top, _), (left, _) = pads
    return xp[:, top : top + hw[0], left : left + hw[1], :]
