"""One place for argument rules: positive ints, int-or-pair, padding, sizes and mode names.

In the spirit of Keras's ``argument_validation``: each rule is written once, here, and
explain, the CLI and data (and later ops and nn) call it, so the same spelling is
accepted, or refused with the same message, everywhere. Every refusal is an
:class:`~cnnlab.errors.ArgumentError` (a ``ValueError``) naming the argument and the
value received, e.g. ``strides must be positive. Received: strides=0``.

Sizes written as text (the command line, or a string passed to the library) follow one
grammar: whole numbers separated by ``x``, ``X``, ``×``, ``*`` or ``,`` with optional
spaces: ``"64"``, ``"64x48"``, ``"64,48"``, ``"6 x 6 x 3"``. Signs, decimals and empty
parts are refused.

Who owns what:

- :func:`padding_spec` owns the *spelling* of a padding (``"valid"``, ``"same"``, ``N``,
  ``(ph, pw)``, ``((top, bottom), (left, right))`` and the text forms ``"2"``, ``"1x2"``);
  :func:`cnnlab.ops.padding.resolve_padding` owns the *geometry* (what 'same' pads).
- :func:`image_size` caps each side at :data:`cnnlab.limits.MAX_IMAGE_SIDE` (images
  are decoded and resized to it); :func:`shape` (a calculator's input) has no cap.

Example:
    >>> int_or_pair(3, "kernel_size"), int_or_pair("2x1", "strides")
    ((3, 3), (2, 1))
    >>> image_size("64,48"), image_size(64), shape("6x6")
    ((64, 48), (64, 64), (6, 6, 1))
    >>> padding_spec(" SAME "), padding_spec("1x2"), one_of("avg", "mode", ("max", "average"),
    ...     aliases={"avg": "average"})
    ('same', (1, 2), 'average')
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cnnlab import limits
from cnnlab.errors import ArgumentError

__all__ = [
    "POOL_MODE_ALIASES",
    "image_size",
    "int_or_pair",
    "int_tuple",
    "is_int",
    "one_of",
    "padding_spec",
    "parse_ints",
    "positive_int",
    "shape",
]

POOL_MODE_ALIASES = {"avg": "average", "mean": "average"}
"""Other names of average pooling, accepted wherever a pooling mode is."""

_SEPARATORS = re.compile(r"\s*[x×X*,]\s*")
_WHOLE = re.compile(r"\d+")


def is_int(value: object) -> bool:
    """Whether ``value`` is an integer (Python or NumPy), and not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def received(name: str, value: Any) -> str:
    """``name=value`` for an argument, ``--option value`` for a command-line option."""
    return f"{name} {value}" if name.startswith("--") else f"{name}={value!r}"


def _arg(name: str) -> str:
    """```name``` for an argument, ``--option`` as it is for a command-line option."""
    return name if name.startswith("--") else f"`{name}`"


def parse_ints(text: str) -> list[int] | None:
    """Whole numbers from text such as ``"64"``, ``"64x48"``, ``"6 x 6 x 3"``; ``None`` if not.

    Example:
        >>> parse_ints("64, 48"), parse_ints("6X6x3"), parse_ints("-1"), parse_ints("2.5")
        ([64, 48], [6, 6, 3], None, None)
    """
    stripped = text.strip()
    if not stripped:
        return None
    parts = _SEPARATORS.split(stripped)
    if not all(_WHOLE.fullmatch(p) for p in parts):
        return None
    return [int(p) for p in parts]


def positive_int(value: Any, name: str) -> int:
    """``value`` as a Python int if it is a positive int (not a bool).

    Example:
        >>> positive_int(8, "filters")
        8
        >>> positive_int(0, "filters")
        Traceback (most recent call last):
        ...
        cnnlab.errors.ArgumentError: `filters` must be a positive int. Received: filters=0
    """
    if not is_int(value) or value < 1:
        raise ArgumentError(
            f"{_arg(name)} must be a positive int. Received: {received(name, value)}"
        )
    return int(value)


def int_tuple(value: Any, n: int, name: str, *, allow_zero: bool = False) -> tuple[int, ...]:
    """An int (repeated ``n`` times), ``n`` ints, or text like ``"2x1"`` -> ``n`` Python ints.

    Keras's ``standardize_tuple``: every entry must be positive (non-negative with
    ``allow_zero``, as for paddings).

    Raises:
        ArgumentError: ``The `strides` argument must be an int or a tuple of 2 ints. ...``
            for a malformed value, ``` `strides` must be positive. Received: strides=0```
            for a value out of range.
    """
    result: tuple | None = None
    if is_int(value):
        result = (int(value),) * n
    elif isinstance(value, str):
        ints = parse_ints(value)
        if ints is not None and len(ints) in (1, n):
            result = tuple(ints * n if len(ints) == 1 else ints)
    elif isinstance(value, Iterable):
        items = tuple(value)
        if len(items) == n and all(is_int(v) for v in items):
            result = tuple(int(v) for v in items)
    if result is None:
        raise ArgumentError(
            f"The {_arg(name)} argument must be an int or a tuple of {n} ints. "
            f"Received: {received(name, value)}"
        )
    if any(v < (0 if allow_zero else 1) for v in result):
        qualifier = "non-negative" if allow_zero else "positive"
        raise ArgumentError(f"{_arg(name)} must be {qualifier}. Received: {received(name, value)}")
    return result


def int_or_pair(value: Any, name: str, *, allow_zero: bool = False) -> tuple[int, int]:
    """``3`` -> ``(3, 3)``, ``(2, 1)`` or ``"2x1"`` -> ``(2, 1)`` (kernel sizes, strides).

    Example:
        >>> int_or_pair(0, "strides")
        Traceback (most recent call last):
        ...
        cnnlab.errors.ArgumentError: `strides` must be positive. Received: strides=0
    """
    return int_tuple(value, 2, name, allow_zero=allow_zero)  # type: ignore[return-value]


def shape(value: Any, name: str = "input", *, ndim: int = 3) -> tuple[int, ...]:
    """A calculator's size: ``"6x6x3"``, ``"6x6"``, ``"6"``, an int or a tuple of ints.

    With ``ndim=3`` (an image) the result is ``(height, width, channels)``: ``"6x6"``
    means one channel and ``"6"`` a 6x6 image with one channel. With ``ndim=2`` (a
    window or a stride) the result is ``(height, width)`` and ``"3"`` means 3x3. No
    upper limit: a calculator may explain any size (see :func:`image_size` for images
    that are decoded).

    Raises:
        ArgumentError: naming the argument, the accepted forms and the value received.

    Example:
        >>> shape("6x6x3"), shape((4, 5)), shape("3", "kernel", ndim=2)
        ((6, 6, 3), (4, 5, 1), (3, 3))
    """
    if ndim not in (2, 3):
        raise ArgumentError(f"ndim must be 2 or 3. Received: ndim={ndim!r}")
    forms = "6x6x3, 6x6 or 6 (height x width x channels)" if ndim == 3 else "3x3 or 3"
    numbers_ = _ints_of(value)
    if numbers_ is None or not 1 <= len(numbers_) <= ndim or min(numbers_) < 1:
        raise ArgumentError(
            f"{_arg(name)} must look like {forms}, with positive whole numbers. "
            f"Received: {name}={value!r}"
        )
    if len(numbers_) == 1:
        numbers_ = numbers_ * 2
    if len(numbers_) == 2 and ndim == 3:
        numbers_.append(1)
    return tuple(numbers_)


def _ints_of(value: Any) -> list[int] | None:
    """The ints of text, an int or a sequence of ints; ``None`` for anything else."""
    if isinstance(value, str):
        return parse_ints(value)
    if is_int(value):
        return [int(value)]
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = list(value)
        if all(is_int(v) for v in items):
            return [int(v) for v in items]
    return None


_NATIVE = ("native", "none", "orig", "original")


def image_size(
    value: Any,
    name: str = "image_size",
    *,
    allow_none: bool = True,
    allow_native: bool = False,
    max_side: int | None = None,
) -> tuple[int, int] | None:
    """An image's ``(height, width)``: ``64``, ``(64, 48)``, ``"64"``, ``"64x48"``, ``"64,48"``.

    Args:
        value: the size; ``None`` keeps the images' own size where ``allow_none``.
        name: the argument (``"image_size"``) or option (``"--image-size"``) named in errors.
        allow_none: accept ``None`` (returned as ``None``).
        allow_native: accept the words ``native``, ``none``, ``orig``, ``original`` for
            ``None`` (the command line's spelling).
        max_side: the largest side; default :data:`cnnlab.limits.MAX_IMAGE_SIDE`.

    Raises:
        ArgumentError: ``image_size must be N or HxW, e.g. 64 or 64x48. Received: ...``,
            or ``... must be at most 1024 pixels per side ...``.

    Example:
        >>> image_size("64x48"), image_size((64, 48)), image_size(None)
        ((64, 48), (64, 48), None)
    """
    if max_side is None:
        max_side = limits.MAX_IMAGE_SIDE
    if value is None and allow_none:
        return None
    if allow_native and isinstance(value, str) and value.strip().lower() in _NATIVE:
        return None
    label = name.lstrip("-").replace("-", " ") if name.startswith("--") else name
    ints = _ints_of(value)
    if ints is not None and len(ints) == 1:
        ints = ints * 2
    if ints is None or len(ints) != 2 or min(ints) < 1:
        native = ", or native" if allow_native else ""
        raise ArgumentError(
            f"{label} must be N or HxW, e.g. 64 or 64x48{native}. Received: {received(name, value)}"
        )
    if max(ints) > max_side:
        option = "" if name.startswith("--") else " (--image-size)"
        raise ArgumentError(
            f"{label}{option} must be at most {max_side} pixels per side "
            f"(cnnlab.limits.MAX_IMAGE_SIDE). Received: {received(name, value)}"
        )
    return ints[0], ints[1]


_PADDING_FORMS = (
    "'valid', 'same', a whole number N (N zeros on every side), HxW, a pair of ints "
    "or ((top, bottom), (left, right))"
)


def padding_spec(value: Any, name: str = "padding") -> str | int | tuple:
    """Check a padding's spelling and return it in one form.

    ``"valid"``/``"same"`` (any case, spaces ignored) -> the lower-case word; an int
    ``N`` or ``"N"`` -> ``N``; ``(ph, pw)`` or ``"PHxPW"`` -> ``(ph, pw)``;
    ``((top, bottom), (left, right))`` -> the same, as tuples. Every number must be
    non-negative. What 'same' pads is :func:`cnnlab.ops.padding.resolve_padding`'s rule.

    Example:
        >>> padding_spec("valid"), padding_spec("2"), padding_spec([1, 2])
        ('valid', 2, (1, 2))
    """
    error = ArgumentError(
        f"{_arg(name)} must be {_PADDING_FORMS}. Received: {received(name, value)}"
    )
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("valid", "same"):
            return text
        ints = parse_ints(text)
        if ints is None or len(ints) > 2:
            raise error
        return ints[0] if len(ints) == 1 else (ints[0], ints[1])
    if is_int(value):
        if value < 0:
            raise error
        return int(value)
    if not isinstance(value, Sequence) or len(value) != 2:
        raise error
    if all(is_int(v) for v in value):
        if min(value) < 0:
            raise error
        return int(value[0]), int(value[1])
    pairs = []
    for side in value:
        if not isinstance(side, Sequence) or len(side) != 2 or not all(is_int(v) for v in side):
            raise error
        if min(side) < 0:
            raise error
        pairs.append((int(side[0]), int(side[1])))
    return tuple(pairs)


def one_of(
    value: Any,
    name: str,
    choices: Sequence[str],
    *,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """A mode name from ``choices`` (any case, spaces ignored), or an alias of one.

    Example:
        >>> one_of("Mean", "mode", ("max", "average"), aliases=POOL_MODE_ALIASES)
        'average'
    """
    key = value.strip().lower() if isinstance(value, str) else None
    if key is not None and aliases and key in aliases:
        key = aliases[key]
    if key not in choices:
        extra = f" (or {', '.join(repr(a) for a in aliases)})" if aliases else ""
        raise ArgumentError(
            f"{_arg(name)} must be one of {tuple(choices)}{extra}. "
            f"Received: {received(name, value)}"
        )
    return key
