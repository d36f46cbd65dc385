"""Explain what a ConvNet does: shapes, parameters, multiply-adds and pictures.

Everything here is computed, not drawn by hand. The calculators resolve padding
and output sizes with :mod:`cnnlab.ops.padding` (the same code the convolution,
the poolings and the NumPy layers use), then present the course's formulas
worked out for the numbers given:

* output size along one axis: ``floor((n + 2p - f) / s) + 1`` (with
  ``p_before + p_after`` in place of ``2p`` when 'same' pads unevenly);
* parameters of a convolution: ``(f * f * n_C_prev + 1) * n_C``;
* multiply-adds of a convolution: ``n_H * n_W * n_C * (f * f * n_C_prev)``.

The figures run the real operations (:func:`cnnlab.ops.conv2d_forward` and
:func:`cnnlab.ops.pool2d_forward`) on a small integer example and draw the
padded input, the window's positions with the stride, the filter and the
output, with the numbers in the cells. Animated GIFs step the window one
position per frame.

Shapes are NHWC throughout; a single image's shape is ``(height, width,
channels)``.

Example:
    >>> e = explain_conv((6, 6, 3), filters=8, kernel_size=3, strides=1, padding="valid")
    >>> e.output_shape, e.params, e.mult_adds
    ((4, 4, 8), 224, 3456)
    >>> explain_params((1000, 1000, 3), dense_units=1000).dense_params
    3000001000
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab._io import atomic_path, save_figure
from cnnlab.errors import ArgumentError
from cnnlab.ops.padding import normalize_tuple, output_size, resolve_padding

__all__ = [
    "AxisWork",
    "ConvExplanation",
    "DenseVsConv",
    "LayerRow",
    "ModelExplanation",
    "PoolExplanation",
    "conv_animation",
    "conv_example",
    "conv_figure",
    "explain_conv",
    "explain_keras_model",
    "explain_layers",
    "explain_model",
    "explain_nn_model",
    "explain_params",
    "explain_pool",
    "format_bytes",
    "model_figure",
    "params_figure",
    "parse_padding",
    "parse_size",
    "pool_animation",
    "pool_example",
    "pool_figure",
]

Shape3 = tuple[int, int, int]
Pads = tuple[tuple[int, int], tuple[int, int]]

FLOAT32_BYTES = 4
DEFAULT_SIZE = (960, 480)
"""Default pixel size ``(width, height)`` of every figure."""

# ---------------------------------------------------------------------------
# Parsing sizes and paddings
# ---------------------------------------------------------------------------

_SIZE_SEPARATORS = re.compile(r"\s*[x×X*,]\s*")


def parse_size(value: str | int | Sequence[int], name: str = "input", *, ndim: int = 3):
    """Parse a size such as ``"6x6x3"``, ``"6x6"`` or ``"6"``.

    With ``ndim=3`` (an image) the result is ``(height, width, channels)``:
    ``"6x6"`` means one channel and ``"6"`` a 6x6 image with one channel.
    With ``ndim=2`` (a kernel or pool window) the result is ``(height, width)``
    and ``"3"`` means 3x3.

    Args:
        value: a string with sizes separated by ``x``, an int, or a tuple of ints.
        name: the argument's name, used in error messages.
        ndim: 3 for an image shape, 2 for a window.

    Returns:
        A tuple of ``ndim`` positive Python ints.

    Raises:
        ValueError: naming the argument, the accepted forms and the value received.

    Example:
        >>> parse_size("6x6x3"), parse_size("6x6"), parse_size("6")
        ((6, 6, 3), (6, 6, 1), (6, 6, 1))
        >>> parse_size("3", "kernel", ndim=2)
        (3, 3)
    """
    if ndim not in (2, 3):
        raise ArgumentError(f"ndim must be 2 or 3. Received: ndim={ndim!r}")
    forms = "6x6x3, 6x6 or 6 (height x width x channels)" if ndim == 3 else "3x3 or 3"
    error = ArgumentError(
        f"`{name}` must look like {forms}, with positive whole numbers. Received: {name}={value!r}"
    )
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise error
        parts = _SIZE_SEPARATORS.split(text)
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            raise error
        numbers = [int(p) for p in parts]
    elif isinstance(value, bool):
        raise error
    elif isinstance(value, int | np.integer):
        numbers = [int(value)]
    else:
        try:
            numbers = list(value)
        except TypeError:
            raise error from None
        if not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in numbers):
            raise error
        numbers = [int(v) for v in numbers]
    if not 1 <= len(numbers) <= ndim or any(v < 1 for v in numbers):
        raise error
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) == 2 and ndim == 3:
        numbers.append(1)
    return tuple(numbers)


def parse_padding(value: str | int | Sequence) -> str | int | tuple:
    """Parse a padding from the command line: ``"valid"``, ``"same"``, ``"2"`` or ``"1x2"``.

    Non-string values are returned unchanged (``resolve_padding`` checks them).

    Raises:
        ValueError: for anything else.

    Example:
        >>> parse_padding("same"), parse_padding("2"), parse_padding("1x2")
        ('same', 2, (1, 2))
    """
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if text in ("valid", "same"):
        return text
    if re.fullmatch(r"\d+", text):
        return int(text)
    if re.fullmatch(r"\d+\s*[x×,]\s*\d+", text):
        a, b = _SIZE_SEPARATORS.split(text)
        return int(a), int(b)
    raise ArgumentError(
        "`padding` must be 'valid', 'same', a whole number N (N zeros on every side) or "
        f"HxW. Received: padding={value!r}"
    )


def format_bytes(n: int) -> str:
    """Bytes in decimal and binary units, e.g. ``'12.00 GB (11.18 GiB)'``.

    Example:
        >>> format_bytes(12_000_004_000)
        '12.00 GB (11.18 GiB)'
        >>> format_bytes(1120)
        '1,120 bytes'
    """
    if n < 10_000:
        return f"{n:,} bytes"
    units = [("kB", "KiB"), ("MB", "MiB"), ("GB", "GiB"), ("TB", "TiB")]
    i = min(int(math.log(n, 1000)) - 1, len(units) - 1)
    j = min(int(math.log(n, 1024)) - 1, len(units) - 1)
    return f"{n / 1000 ** (i + 1):.2f} {units[i][0]} ({n / 1024 ** (j + 1):.2f} {units[j][1]})"


def _count(n: int, one: str, many: str | None = None) -> str:
    """``'1 filter'``, ``'8 filters'``, ``'1,000 biases'``."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(v)) for v in shape)


# ---------------------------------------------------------------------------
# The output-size formula, worked out
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisWork:
    """The output-size formula along one axis, with the numbers filled in.

    Attributes:
        axis: ``"H"`` or ``"W"``.
        n: input size along the axis (before padding).
        f: window size.
        pad: ``(before, after)`` zeros added.
        s: stride.
        out: ``floor((n + pad_before + pad_after - f) / s) + 1``.
    """

    axis: str
    n: int
    f: int
    pad: tuple[int, int]
    s: int
    out: int

    @property
    def uncovered(self) -> int:
        """Padded rows (or columns) at the end that no window reaches."""
        return self.n + sum(self.pad) - self.f - (self.out - 1) * self.s

    def formula(self) -> str:
        """``n_H = floor((n_H_prev + 2p - f) / s) + 1 = floor((6 + 2*1 - 3) / 1) + 1 = 6``."""
        before, after = self.pad
        name, prev = f"n_{self.axis}", f"n_{self.axis}_prev"
        numerator = self.n + before + after - self.f
        if before == after:
            symbols = f"floor(({prev} + 2p - f) / s) + 1"
            numbers = f"floor(({self.n} + 2*{before} - {self.f}) / {self.s}) + 1"
        else:
            symbols = f"floor(({prev} + p_before + p_after - f) / s) + 1"
            numbers = f"floor(({self.n} + {before}+{after} - {self.f}) / {self.s}) + 1"
        text = (
            f"{name} = {symbols} = {numbers} = floor({numerator} / {self.s}) + 1"
            f" = {numerator // self.s} + 1 = {self.out}"
        )
        if self.uncovered:
            unit = "row" if self.axis == "H" else "column"
            if self.uncovered == 1:
                text += f"  (the last padded {unit} is never reached)"
            else:
                text += f"  (the last {self.uncovered} padded {unit}s are never reached)"
        return text


def _sliding_window(shape, size, name: str, strides, padding):
    """Window, stride (None: the window), pads and per-axis work of a conv or pool window."""
    window = (
        parse_size(size, name, ndim=2) if isinstance(size, str) else normalize_tuple(size, 2, name)
    )
    stride = window if strides is None else normalize_tuple(strides, 2, "strides")
    pads = resolve_padding(padding, window, stride, shape[:2])
    axes = tuple(
        AxisWork(axis, n, f, p, s, output_size(n, f, p[0], p[1], s))
        for axis, n, f, s, p in zip("HW", shape[:2], window, stride, pads, strict=True)
    )
    return window, stride, pads, axes


def _padding_text(padding: Any, pads: Pads) -> str:
    (t, b), (l, r) = pads
    given = repr(padding) if isinstance(padding, str) else str(padding)
    if t == b == l == r:
        return f"padding={given}: p = {t} on every side"
    return f"padding={given}: top {t}, bottom {b}, left {l}, right {r}"


# ---------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvExplanation:
    """Shapes, parameters and multiply-adds of one convolutional layer.

    Attributes:
        input_shape: ``(n_H_prev, n_W_prev, n_C_prev)``.
        filters: ``n_C``, the number of filters (output channels).
        kernel_size: ``(f_H, f_W)``.
        strides: ``(s_H, s_W)``.
        padding: the padding as given (``'valid'``, ``'same'``, an int, ...).
        pads: the resolved ``((top, bottom), (left, right))``.
        use_bias: whether each filter has a bias.
        axes: the worked output-size formula for height and width.
    """

    input_shape: Shape3
    filters: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    padding: Any
    pads: Pads
    use_bias: bool
    axes: tuple[AxisWork, AxisWork]

    @property
    def output_shape(self) -> Shape3:
        """``(n_H, n_W, n_C)``."""
        return (self.axes[0].out, self.axes[1].out, self.filters)

    @property
    def padded_shape(self) -> tuple[int, int]:
        """Height and width of the zero-padded input."""
        (t, b), (l, r) = self.pads
        return (self.input_shape[0] + t + b, self.input_shape[1] + l + r)

    @property
    def weights(self) -> int:
        """``f_H * f_W * n_C_prev * n_C``."""
        fh, fw = self.kernel_size
        return fh * fw * self.input_shape[2] * self.filters

    @property
    def biases(self) -> int:
        """``n_C`` (one per filter), or 0 without bias."""
        return self.filters if self.use_bias else 0

    @property
    def params(self) -> int:
        """``(f * f * n_C_prev + 1) * n_C``."""
        return self.weights + self.biases

    @property
    def mult_adds(self) -> int:
        """``n_H * n_W * n_C * (f_H * f_W * n_C_prev)``: one per weight per output position."""
        n_h, n_w, n_c = self.output_shape
        fh, fw = self.kernel_size
        return n_h * n_w * n_c * fh * fw * self.input_shape[2]

    def params_formula(self) -> str:
        """The parameter count, worked out."""
        fh, fw = self.kernel_size
        c_prev = self.input_shape[2]
        f_sym = "f * f" if fh == fw else "f_H * f_W"
        bias = " + 1" if self.use_bias else ""
        return (
            f"({f_sym} * n_C_prev{bias}) * n_C = ({fh} * {fw} * {c_prev}{bias}) * {self.filters}"
            f" = {self.params:,}  ({_count(self.weights, 'weight')} + "
            f"{_count(self.biases, 'bias', 'biases')};"
            f" {format_bytes(self.params * FLOAT32_BYTES)} in float32)"
        )

    def mult_adds_formula(self) -> str:
        """The multiply-add count, worked out."""
        n_h, n_w, n_c = self.output_shape
        fh, fw = self.kernel_size
        return (
            f"n_H * n_W * n_C * (f * f * n_C_prev) = {n_h} * {n_w} * {n_c} * "
            f"({fh} * {fw} * {self.input_shape[2]}) = {self.mult_adds:,}"
        )

    def lines(self) -> list[str]:
        """The explanation as printable lines."""
        fh, fw = self.kernel_size
        return [
            f"Conv2D: {_count(self.filters, 'filter')} of {fh}x{fw}x{self.input_shape[2]}, "
            f"strides {self.strides[0]}x{self.strides[1]}, "
            f"{_padding_text(self.padding, self.pads)}",
            f"input  {_shape_text(self.input_shape)} (padded to "
            f"{_shape_text((*self.padded_shape, self.input_shape[2]))})",
            f"output {_shape_text(self.output_shape)}",
            "",
            "Output size:",
            f"  {self.axes[0].formula()}",
            f"  {self.axes[1].formula()}",
            f"  n_C = number of filters = {self.filters}",
            "",
            "Parameters:",
            f"  {self.params_formula()}",
            "",
            "Multiply-adds:",
            f"  {self.mult_adds_formula()}",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def explain_conv(
    input_shape: str | int | Sequence[int],
    filters: int = 1,
    kernel_size: int | Sequence[int] = 3,
    strides: int | Sequence[int] = 1,
    padding: str | int | Sequence = "valid",
    use_bias: bool = True,
) -> ConvExplanation:
    """Explain a convolutional layer on one image.

    Args:
        input_shape: ``(n_H_prev, n_W_prev, n_C_prev)`` or a string like ``"6x6x3"``.
        filters: the number of filters ``n_C``.
        kernel_size: ``f`` or ``(f_H, f_W)`` (a string like ``"3"`` or ``"3x3"`` also works).
        strides: ``s`` or ``(s_H, s_W)``.
        padding: ``'valid'``, ``'same'`` (TensorFlow's rule), an int, a pair, or pairs.
        use_bias: whether each filter adds a bias.

    Returns:
        A :class:`ConvExplanation`; ``str()`` of it prints the worked formulas.

    Raises:
        ValueError: for a malformed argument or a window larger than the padded input.

    Example:
        >>> e = explain_conv("6x6x3", filters=8, kernel_size=3, padding="same", strides=2)
        >>> e.pads, e.output_shape
        (((0, 1), (0, 1)), (3, 3, 8))
    """
    shape = parse_size(input_shape, "input_shape")
    if isinstance(filters, bool) or not isinstance(filters, int | np.integer) or filters < 1:
        raise ArgumentError(f"`filters` must be a positive int. Received: filters={filters!r}")
    padding = parse_padding(padding)
    kernel, stride, pads, axes = _sliding_window(
        shape, kernel_size, "kernel_size", strides, padding
    )
    return ConvExplanation(shape, int(filters), kernel, stride, padding, pads, bool(use_bias), axes)


# ---------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------

POOL_MODES = ("max", "average", "both")


@dataclass(frozen=True)
class PoolExplanation:
    """Shapes of a max or average pooling layer (which has no parameters).

    Attributes:
        input_shape: ``(n_H_prev, n_W_prev, n_C_prev)``.
        pool_size: ``(f_H, f_W)``.
        strides: ``(s_H, s_W)``; Keras's default is the pool size.
        padding: as given.
        pads: the resolved ``((top, bottom), (left, right))``.
        mode: ``'max'``, ``'average'`` or ``'both'`` (for the pictures).
        axes: the worked output-size formula for height and width.
    """

    input_shape: Shape3
    pool_size: tuple[int, int]
    strides: tuple[int, int]
    padding: Any
    pads: Pads
    mode: str
    axes: tuple[AxisWork, AxisWork]

    @property
    def output_shape(self) -> Shape3:
        """``(n_H, n_W, n_C_prev)``: pooling keeps the channels."""
        return (self.axes[0].out, self.axes[1].out, self.input_shape[2])

    @property
    def params(self) -> int:
        """Always 0: f and s are hyperparameters, nothing is learned."""
        return 0

    @property
    def window_reads(self) -> int:
        """``n_H * n_W * n_C * f_H * f_W``: values read (compared or summed)."""
        n_h, n_w, n_c = self.output_shape
        return n_h * n_w * n_c * self.pool_size[0] * self.pool_size[1]

    def lines(self) -> list[str]:
        """The explanation as printable lines."""
        fh, fw = self.pool_size
        what = {
            "max": ["max: each output is the largest value in its window"],
            "average": ["average: each output is the mean of its window"],
            "both": [
                "max: each output is the largest value in its window",
                "average: each output is the mean of its window",
            ],
        }[self.mode]
        n_h, n_w, n_c = self.output_shape
        lines = [
            f"Pooling ({self.mode}): window {fh}x{fw}, strides {self.strides[0]}x"
            f"{self.strides[1]}, {_padding_text(self.padding, self.pads)}",
            f"input  {_shape_text(self.input_shape)}",
            f"output {_shape_text(self.output_shape)}",
            "",
            "Output size:",
            f"  {self.axes[0].formula()}",
            f"  {self.axes[1].formula()}",
            f"  n_C = n_C_prev = {n_c} (each channel is pooled on its own)",
            "",
            "Parameters: 0 (f and s are hyperparameters; nothing is learned)",
            "",
            "Work:",
            f"  n_H * n_W * n_C * (f * f) = {n_h} * {n_w} * {n_c} * ({fh} * {fw})"
            f" = {self.window_reads:,} values read",
        ]
        lines += [f"  {w}" for w in what]
        if any(self.pads[0] + self.pads[1]):
            lines.append("  padded cells are ignored (they never win a max or count in a mean)")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())


def explain_pool(
    input_shape: str | int | Sequence[int],
    pool_size: int | Sequence[int] = 2,
    strides: int | Sequence[int] | None = None,
    padding: str | int | Sequence = "valid",
    mode: str = "max",
) -> PoolExplanation:
    """Explain a pooling layer on one image.

    Args:
        input_shape: ``(n_H_prev, n_W_prev, n_C_prev)`` or a string like ``"4x4"``.
        pool_size: ``f`` or ``(f_H, f_W)``.
        strides: ``s`` or ``(s_H, s_W)``; ``None`` means the pool size (as in Keras).
        padding: ``'valid'`` or ``'same'`` (TensorFlow's rule), or explicit zeros.
        mode: ``'max'``, ``'average'`` or ``'both'``.

    Returns:
        A :class:`PoolExplanation`.

    Raises:
        ValueError: for a malformed argument.

    Example:
        >>> explain_pool("4x4x3", pool_size=2).output_shape
        (2, 2, 3)
    """
    shape = parse_size(input_shape, "input_shape")
    if mode not in POOL_MODES:
        raise ArgumentError(f"`mode` must be one of {POOL_MODES}. Received: mode={mode!r}")
    padding = parse_padding(padding)
    window, stride, pads, axes = _sliding_window(shape, pool_size, "pool_size", strides, padding)
    return PoolExplanation(shape, window, stride, padding, pads, mode, axes)


# ---------------------------------------------------------------------------
# Dense versus convolution: the parameter explosion
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DenseVsConv:
    """A dense layer on the flattened image next to a convolution on the same image.

    Attributes:
        input_shape: ``(height, width, channels)``.
        dense_units: hidden units of the dense layer.
        conv: the convolution's :class:`ConvExplanation`.
    """

    input_shape: Shape3
    dense_units: int
    conv: ConvExplanation

    @property
    def features(self) -> int:
        """``height * width * channels``: the flattened image's length."""
        h, w, c = self.input_shape
        return h * w * c

    @property
    def dense_weights(self) -> int:
        """``features * units``."""
        return self.features * self.dense_units

    @property
    def dense_params(self) -> int:
        """``features * units + units``."""
        return self.dense_weights + self.dense_units

    @property
    def dense_bytes(self) -> int:
        """Memory of the dense layer's parameters in float32."""
        return self.dense_params * FLOAT32_BYTES

    @property
    def conv_bytes(self) -> int:
        """Memory of the convolution's parameters in float32."""
        return self.conv.params * FLOAT32_BYTES

    @property
    def ratio(self) -> float:
        """How many times more parameters the dense layer has."""
        return self.dense_params / self.conv.params

    def lines(self) -> list[str]:
        """The comparison as printable lines."""
        h, w, c = self.input_shape
        u = self.dense_units
        fh, fw = self.conv.kernel_size
        return [
            f"Image {_shape_text(self.input_shape)}: {h} * {w} * {c} = {self.features:,} "
            "input features",
            f"  Dense({u}) on the flattened image:",
            f"    {self.features:,} * {u:,} weights + {u:,} biases = "
            f"{self.dense_params:,} parameters",
            f"    memory in float32: {self.dense_params:,} * 4 bytes = "
            f"{format_bytes(self.dense_bytes)}",
            f"  Conv2D({_count(self.conv.filters, 'filter')} of {fh}x{fw}x{c}, "
            f"padding={self.conv.padding!r}) on the same image:",
            f"    {self.conv.params_formula()}",
            f"    output {_shape_text(self.conv.output_shape)}, "
            f"{self.conv.mult_adds:,} multiply-adds",
            f"  The dense layer has {self.ratio:,.0f} times as many parameters.",
            f"  Each filter's {fh * fw * c + 1} numbers are shared by every position (parameter "
            "sharing): the convolution's count does not grow with the image.",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def explain_params(
    input_shape: str | int | Sequence[int],
    dense_units: int = 1000,
    filters: int = 10,
    kernel_size: int | Sequence[int] = 3,
    padding: str | int | Sequence = "same",
) -> DenseVsConv:
    """Compare a dense layer on a flattened image with a convolution on the same image.

    Args:
        input_shape: ``(height, width, channels)`` or a string like ``"1000x1000x3"``.
        dense_units: hidden units of the dense layer.
        filters: filters of the convolution (the course's example uses 10 of 3x3x3).
        kernel_size: the convolution's window.
        padding: the convolution's padding.

    Example:
        >>> c = explain_params("1000x1000x3", dense_units=1000)
        >>> c.features, c.dense_params, c.conv.params
        (3000000, 3000001000, 280)
    """
    shape = parse_size(input_shape, "input_shape")
    if isinstance(dense_units, bool) or not isinstance(dense_units, int) or dense_units < 1:
        raise ArgumentError(
            f"`dense_units` must be a positive int. Received: dense_units={dense_units!r}"
        )
    conv = explain_conv(shape, filters, kernel_size, 1, padding)
    return DenseVsConv(shape, int(dense_units), conv)


# ---------------------------------------------------------------------------
# Models, layer by layer
# ---------------------------------------------------------------------------

_ELEMENTWISE = {
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "Identity",
    "Rescaling",
    "Normalization",
}
_AUGMENTATION = {
    "RandomFlip",
    "RandomRotation",
    "RandomZoom",
    "RandomTranslation",
    "RandomContrast",
    "RandomBrightness",
}


@dataclass(frozen=True)
class LayerRow:
    """One layer of a model: its output shape and parameters, with how they were found.

    Attributes:
        name: the layer's name.
        kind: its class name (``'Conv2D'``, ``'MaxPooling2D'``, ...).
        output_shape: per-example output shape (no batch axis).
        params: total parameters (trainable and not).
        trainable: trainable parameters.
        note: the worked formula, or where the numbers came from.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int
    note: str = ""


@dataclass(frozen=True)
class ModelExplanation:
    """A model's layers with shapes and parameters computed by the calculators.

    Attributes:
        name: the model's name.
        input_shape: per-example input shape.
        rows: one :class:`LayerRow` per layer, in order.
    """

    name: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...] = field(default_factory=tuple)

    @property
    def params(self) -> int:
        """All parameters."""
        return sum(r.params for r in self.rows)

    @property
    def trainable(self) -> int:
        """Trainable parameters."""
        return sum(r.trainable for r in self.rows)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The last layer's output shape."""
        return self.rows[-1].output_shape if self.rows else self.input_shape

    def lines(self) -> list[str]:
        """A table: layer, output shape, parameters, and how they were computed."""
        head = ("Layer (type)", "Output shape", "Params", "How")
        body = [
            (f"{r.name} ({r.kind})", _shape_text(r.output_shape), f"{r.params:,}", r.note)
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(3)]

        def fmt(row: tuple[str, ...]) -> str:
            return (
                f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
            ).rstrip()

        rule = "-" * (
            sum(widths) + 4 + max(len(head[3]), max((len(r[3]) for r in body), default=0))
        )
        return [
            f"Model {self.name}: input {_shape_text(self.input_shape)}",
            fmt(head),
            rule[:120],
            *[fmt(row) for row in body],
            rule[:120],
            f"Total params: {self.params:,} = {format_bytes(self.params * FLOAT32_BYTES)} in "
            f"float32; trainable: {self.trainable:,}; non-trainable: "
            f"{self.params - self.trainable:,}",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _layer_row(
    name: str, kind: str, config: dict[str, Any], in_shapes: list[tuple[int, ...]]
) -> LayerRow | None:
    """Compute one layer's row from its class name, config and input shape(s).

    Returns None for a layer the calculators do not know.
    """
    shape = in_shapes[0] if in_shapes else ()
    if kind in _ELEMENTWISE:
        act = config.get("activation")
        note = f"element-wise{f' {act}' if isinstance(act, str) else ''}: shape unchanged"
        return LayerRow(name, kind, shape, 0, 0, note)
    if kind in _AUGMENTATION:
        return LayerRow(name, kind, shape, 0, 0, "augmentation (training only): shape unchanged")
    if kind == "InputLayer":
        return None
    if kind == "ZeroPadding2D":
        (t, b), (l, r) = config["padding"]
        h, w, c = shape
        out = (h + t + b, w + l + r, c)
        return LayerRow(name, kind, out, 0, 0, f"({h}+{t}+{b}, {w}+{l}+{r}, {c}) zeros added")
    if kind == "Conv2D":
        if tuple(config.get("dilation_rate", (1, 1))) != (1, 1) or config.get("groups", 1) != 1:
            return None
        e = explain_conv(
            shape,
            config["filters"],
            tuple(config["kernel_size"]),
            tuple(config["strides"]),
            config["padding"],
            config.get("use_bias", True),
        )
        fh, fw = e.kernel_size
        bias = " + 1" if e.use_bias else ""
        note = (
            f"({fh}*{fw}*{shape[2]}{bias})*{e.filters}; "
            f"n_H = floor(({e.axes[0].n} + {sum(e.axes[0].pad)} - {fh})/{e.strides[0]}) + 1"
        )
        return LayerRow(name, kind, e.output_shape, e.params, e.params, note)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        e = explain_pool(
            shape,
            tuple(config["pool_size"]),
            None if config.get("strides") is None else tuple(config["strides"]),
            config["padding"],
        )
        fh = e.pool_size[0]
        note = f"no params; n_H = floor(({e.axes[0].n} + {sum(e.axes[0].pad)} - {fh})"
        note += f"/{e.strides[0]}) + 1"
        return LayerRow(name, kind, e.output_shape, 0, 0, note)
    if kind == "BatchNormalization":
        c = shape[-1]
        per = int(bool(config.get("center", True))) + int(bool(config.get("scale", True)))
        note = f"{per}*{c} trainable (gamma, beta) + 2*{c} moving mean/variance"
        return LayerRow(name, kind, shape, (per + 2) * c, per * c, note)
    if kind == "Flatten":
        n = int(np.prod(shape))
        return LayerRow(name, kind, (n,), 0, 0, " * ".join(map(str, shape)) + f" = {n:,}")
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return LayerRow(name, kind, (shape[-1],), 0, 0, "one value per channel")
    if kind == "Dense":
        units, n_in = int(config["units"]), shape[-1]
        bias = int(bool(config.get("use_bias", True)))
        params = (n_in + bias) * units
        act = config.get("activation", "linear")
        note = f"({n_in:,}{' + 1' if bias else ''})*{units}, {act}"
        return LayerRow(name, kind, (*shape[:-1], units), params, params, note)
    if kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return LayerRow(name, kind, shape, 0, 0, f"element-wise over {len(in_shapes)} inputs")
    if kind == "Concatenate":
        axis = config.get("axis", -1)
        if axis != -1 and axis != len(shape):
            return None
        c = sum(s[-1] for s in in_shapes)
        note = " + ".join(str(s[-1]) for s in in_shapes) + " channels"
        return LayerRow(name, kind, (*shape[:-1], c), 0, 0, note)
    return None


def explain_layers(
    layers: Sequence[tuple[str, str, dict[str, Any]]],
    input_shape: Sequence[int],
    name: str = "model",
) -> ModelExplanation:
    """Explain a chain of layers given as ``(name, class_name, config)`` (Keras config keys).

    Each layer's output shape and parameter count comes from the calculators
    above, starting from ``input_shape`` (per example, no batch axis).

    Raises:
        ValueError: for a layer type the calculators do not know.

    Example:
        >>> m = explain_layers(
        ...     [("c", "Conv2D", {"filters": 8, "kernel_size": (3, 3), "strides": (1, 1),
        ...                       "padding": "valid"}),
        ...      ("f", "Flatten", {})],
        ...     (6, 6, 3))
        >>> m.output_shape, m.params
        ((128,), 224)
    """
    rows: list[LayerRow] = []
    shape = tuple(int(v) for v in input_shape)
    for layer_name, kind, config in layers:
        row = _layer_row(layer_name, kind, config, [shape])
        if row is None:
            if kind == "InputLayer":
                continue
            raise ArgumentError(
                f"cannot explain layer {layer_name!r}: type {kind} is not known to the calculator"
            )
        rows.append(row)
        shape = row.output_shape
    return ModelExplanation(name, tuple(int(v) for v in input_shape), tuple(rows))


def _keras_parents(layer: Any) -> list[Any]:
    """The layers feeding ``layer`` in a Keras functional graph (first call only)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    return [
        t._keras_history.operation for t in nodes[0].input_tensors if hasattr(t, "_keras_history")
    ]


def explain_keras_model(model: Any) -> ModelExplanation:
    """Explain a built Keras model (Sequential or Functional) layer by layer.

    Shapes and parameters come from this module's calculators, following the
    graph from the model's input; Keras itself is only read for each layer's
    config and connections. A layer the calculators do not know is reported with
    Keras's own numbers and the note ``'(from Keras)'``.

    Args:
        model: a built ``keras.Model`` with one image input.

    Raises:
        ValueError: for a model with several inputs, or one that is not built.
    """
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ArgumentError(f"the model {model.name!r} is not built; call it on an input first")
    if len(inputs) != 1:
        raise ArgumentError(
            f"explain handles models with one input. Received: {len(inputs)} inputs "
            f"for {model.name!r}"
        )
    input_shape = tuple(int(v) for v in inputs[0].shape[1:])
    shapes: dict[int, tuple[int, ...]] = {}
    rows: list[LayerRow] = []
    previous: tuple[int, ...] = input_shape
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            shapes[id(layer)] = input_shape
            previous = input_shape
            continue
        parents = [p for p in _keras_parents(layer) if id(p) in shapes]
        in_shapes = [shapes[id(p)] for p in parents] or [previous]
        row = _layer_row(layer.name, kind, layer.get_config(), in_shapes)
        if row is None:
            out = tuple(int(v) for v in layer.output.shape[1:])
            trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
            row = LayerRow(layer.name, kind, out, layer.count_params(), trainable, "(from Keras)")
        rows.append(row)
        shapes[id(layer)] = row.output_shape
        previous = row.output_shape
    return ModelExplanation(model.name, input_shape, tuple(rows))


COURSE_MODELS = ("happy", "signs")


def explain_model(
    target: str | os.PathLike | Any, input_shape: Sequence[int] | None = None
) -> ModelExplanation:
    """Explain the course's ``'happy'`` or ``'signs'`` model, a run directory, or a model.

    Args:
        target: ``'happy'`` (Sequential), ``'signs'`` (Functional), the path of a
            training run (see :func:`cnnlab.training.load_run`), or a built
            ``keras.Model`` or ``cnnlab.nn`` model.
        input_shape: image shape for ``'happy'``/``'signs'``; default ``(64, 64, 3)``.

    Raises:
        ValueError: for an unknown name; ``RunError`` for a directory that is not a run.

    Example:
        >>> explain_model("signs").params          # doctest: +SKIP
        1310
    """
    if isinstance(target, str | os.PathLike):
        name = str(target)
        if name in COURSE_MODELS:
            from cnnlab import keras_models

            build = keras_models.happy_model if name == "happy" else keras_models.signs_model
            model = build() if input_shape is None else build(parse_size(input_shape))
            return explain_keras_model(model)
        if input_shape is not None:
            raise ArgumentError(
                "input_shape applies to 'happy' and 'signs' only; a run has its own. "
                f"Received: target={name!r}, input_shape={input_shape!r}"
            )
        if not Path(name).exists():
            raise ArgumentError(
                "target must be 'happy', 'signs' or a training run directory. "
                f"Received: {name!r} (no such directory)"
            )
        return _explain_run(Path(name))
    return _explain_any_model(target)


def _explain_any_model(model: Any) -> ModelExplanation:
    if hasattr(model, "get_config") and hasattr(model, "inputs") and hasattr(model, "layers"):
        try:
            import keras
        except ImportError:  # pragma: no cover - keras ships with cnnlab
            keras = None
        if keras is not None and isinstance(model, keras.Model):
            return explain_keras_model(model)
    return explain_nn_model(model)


def explain_nn_model(model: Any) -> ModelExplanation:
    """Explain a built ``cnnlab.nn`` model (Keras-like layers with ``get_config()``).

    Raises:
        ValueError: when the model is not built (its input shape is unknown).
    """
    layers = getattr(model, "layers", None)
    if layers is None:
        raise ArgumentError(
            f"cannot explain {type(model).__name__}: expected a keras.Model or a cnnlab.nn "
            "model with .layers"
        )
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise ArgumentError(
            f"the model {getattr(model, 'name', '')!r} is not built; build it first"
        )
    shape = tuple(int(v) for v in shape if v is not None)
    specs = [(layer.name, type(layer).__name__, layer.get_config()) for layer in layers]
    return explain_layers(specs, shape, name=getattr(model, "name", "model"))


def _explain_run(run_dir: Path) -> ModelExplanation:
    from cnnlab.training import load_model, load_run

    run = load_run(run_dir)
    e = _explain_any_model(load_model(run))
    return ModelExplanation(f"{e.name} (run {run_dir})", e.input_shape, e.rows)


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------

_PAD_COLOR = "#d9d9d9"
_HIGHLIGHT = "#e4572e"
_NEXT = "#1f77b4"
_WINDOW_COLORS = ["#8dd3c7", "#ffffb3", "#bebada", "#fdb462", "#b3de69", "#fccde5", "#80b1d3"]
NUMBERS_UP_TO = 16
"""Cells per side up to which the pictures print every cell's number."""
_LINES_UP_TO = 48  # cells per side up to which grid lines are drawn
DRAW_UP_TO = 512
"""Cells per side (padded input) up to which the pictures are drawn; larger inputs are
explained in numbers only (a picture of a million cells shows nothing a small one doesn't)."""


def _fmt_value(v: float) -> str:
    if np.isnan(v):
        return ""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:.0f}"


def _signed(v: float) -> str:
    """A factor in a product: negative numbers in parentheses, ``'(-1)'``."""
    text = _fmt_value(v)
    return f"({text})" if v < 0 else text


def _example_input(shape_hw: Sequence[int], seed: int) -> np.ndarray:
    """Small integers 0..9 on a (H, W) grid, from a seeded generator."""
    if max(shape_hw) > DRAW_UP_TO:
        h, w = shape_hw
        raise ArgumentError(
            f"the pictures draw inputs up to {DRAW_UP_TO}x{DRAW_UP_TO}; this one is {h}x{w}. "
            "Use --no-figure for the numbers alone, or a smaller --input"
        )
    rng = np.random.default_rng(seed)
    return rng.integers(0, 10, size=tuple(shape_hw)).astype(np.float64)


def _example_filter(kernel: Sequence[int], seed: int) -> np.ndarray:
    """The course's vertical-edge detector for 3x3, small random integers otherwise."""
    fh, fw = kernel
    if (fh, fw) == (3, 3):
        return np.array([[1, 0, -1]] * 3, dtype=np.float64)
    rng = np.random.default_rng(seed + 1)
    return rng.integers(-1, 2, size=(fh, fw)).astype(np.float64)


def conv_example(e: ConvExplanation, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The numbers the convolution pictures show, computed by :func:`cnnlab.ops.conv2d_forward`.

    One channel and one filter: the input holds small integers 0..9 drawn with
    ``seed``; the filter is the course's vertical-edge detector
    ``[[1, 0, -1]] * 3`` when it is 3x3, small random integers otherwise; no bias.

    Returns:
        ``(x, w, y)``: input (H, W), filter (f_H, f_W) and output (n_H, n_W).
    """
    from cnnlab.ops import conv2d_forward

    x = _example_input(e.input_shape[:2], seed)
    w = _example_filter(e.kernel_size, seed)
    # fresh C-ordered arrays: ordinary strides on the size-1 axes
    x4 = np.array(x.reshape(1, *x.shape, 1), order="C", copy=True)
    w4 = np.array(w.reshape(*w.shape, 1, 1), order="C", copy=True)
    y, _ = conv2d_forward(x4, w4, np.zeros(1), e.strides, e.pads)
    return x, w, y[0, :, :, 0]


def pool_example(e: PoolExplanation, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The numbers the pooling pictures show, computed by :func:`cnnlab.ops.pool2d_forward`.

    Returns:
        ``(x, outputs)``: the input (H, W) of integers 0..9 drawn with ``seed``, and
        ``{"max": (n_H, n_W), "average": (n_H, n_W)}`` (only the mode asked for
        unless ``e.mode == "both"``).
    """
    from cnnlab.ops import pool2d_forward

    x = _example_input(e.input_shape[:2], seed)
    x4 = np.array(x.reshape(1, *x.shape, 1), order="C", copy=True)
    modes = ["max", "average"] if e.mode == "both" else [e.mode]
    outputs = {}
    for mode in modes:
        y, _ = pool2d_forward(x4, e.pool_size, e.strides, e.pads, mode=mode)
        outputs[mode] = y[0, :, :, 0]
    return x, outputs


def _new_figure(size: Sequence[int]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = (int(v) for v in size)
    if width < 200 or height < 150:
        raise ArgumentError(f"`size` must be at least 200x150 pixels. Received: size={size!r}")
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    FigureCanvasAgg(fig)
    return fig


class _Grid:
    """Draw a 2-D array as a grid of cells on a matplotlib Axes (row 0 at the top)."""

    def __init__(
        self,
        ax: Any,
        values: np.ndarray,
        title: str,
        *,
        colors: np.ndarray | None = None,
        cmap: str = "Blues",
        numbers: bool | None = None,
        fontsize: float | None = None,
    ) -> None:
        self.ax = ax
        h, w = values.shape
        self.shape = (h, w)
        if colors is None:
            finite = values[np.isfinite(values)]
            lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
            norm = (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
            import matplotlib

            colors = matplotlib.colormaps[cmap](0.08 + 0.45 * np.nan_to_num(norm))
        ax.imshow(colors, extent=(0, w, h, 0), interpolation="nearest", zorder=0)
        ax.set_xlim(-0.05, w + 0.05)
        ax.set_ylim(h + 0.05, -0.05)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(title, fontsize=10)
        if max(h, w) <= _LINES_UP_TO:
            ax.hlines(range(h + 1), 0, w, colors="#888888", linewidth=0.6, zorder=1)
            ax.vlines(range(w + 1), 0, h, colors="#888888", linewidth=0.6, zorder=1)
        if numbers is None:
            numbers = max(h, w) <= NUMBERS_UP_TO
        self.texts: dict[tuple[int, int], Any] = {}
        if numbers:
            box = ax.get_position()
            fig_w, fig_h = ax.figure.bbox.width, ax.figure.bbox.height
            cell_px = min(box.width * fig_w / w, box.height * fig_h / h)
            size = fontsize or max(4.0, min(11.0, 0.45 * cell_px * 72 / ax.figure.dpi))
            for i in range(h):
                for j in range(w):
                    self.texts[i, j] = ax.text(
                        j + 0.5,
                        i + 0.5,
                        _fmt_value(values[i, j]),
                        ha="center",
                        va="center",
                        fontsize=size,
                        zorder=3,
                    )

    def box(self, i: int, j: int, fh: int, fw: int, **style: Any):
        """Add a rectangle over cells ``[i, i + fh) x [j, j + fw)`` and return it."""
        from matplotlib.patches import Rectangle

        defaults = {"fill": False, "edgecolor": _HIGHLIGHT, "linewidth": 2.5, "zorder": 4}
        patch = Rectangle((j, i), fw, fh, **{**defaults, **style})
        self.ax.add_patch(patch)
        return patch


def _positions(axes: tuple[AxisWork, AxisWork]) -> list[tuple[int, int]]:
    return [(r, c) for r in range(axes[0].out) for c in range(axes[1].out)]


def _frame_positions(axes: tuple[AxisWork, AxisWork], max_frames: int) -> list[tuple[int, int]]:
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise ArgumentError(
            f"`max_frames` must be an int >= 2. Received: max_frames={max_frames!r}"
        )
    return _positions(axes)[:max_frames]


def _stride_marks(grid: _Grid, axes: tuple[AxisWork, AxisWork]) -> None:
    """Mark where every window starts, and draw the next positions right and below, dashed.

    A dot sits in the top-left cell of each window position (up to 32 per side);
    arrows under and left of the grid show the stride.
    """
    fh, fw, sh, sw = axes[0].f, axes[1].f, axes[0].s, axes[1].s
    hp, wp = grid.shape
    if max(axes[0].out, axes[1].out) <= 32:
        rows = np.arange(axes[0].out) * sh + 0.2
        cols = np.arange(axes[1].out) * sw + 0.2
        yy, xx = np.meshgrid(rows, cols, indexing="ij")
        grid.ax.scatter(xx.ravel(), yy.ravel(), s=10, color=_HIGHLIGHT, zorder=5)
    arrow = {"arrowstyle": "->", "color": _NEXT, "linewidth": 1.6}
    font = max(6.0, min(9.0, 90.0 / max(hp, wp)))
    if axes[1].out > 1:
        grid.box(0, sw, fh, fw, edgecolor=_NEXT, linestyle="--", linewidth=1.8)
        y = hp + 0.3
        grid.ax.annotate("", xy=(sw + 0.5, y), xytext=(0.5, y), arrowprops=arrow)
        grid.ax.text(
            0.5 + sw / 2, y + 0.15, f"s={sw}", ha="center", va="top", color=_NEXT, fontsize=font
        )
    if axes[0].out > 1:
        grid.box(sh, 0, fh, fw, edgecolor=_NEXT, linestyle=":", linewidth=1.8)
        grid.ax.annotate("", xy=(-0.3, sh + 0.5), xytext=(-0.3, 0.5), arrowprops=arrow)
        grid.ax.text(
            -0.45, 0.5 + sh / 2, f"s={sh}", va="center", ha="right", color=_NEXT, fontsize=font
        )


def _ratios(widths: Sequence[float]) -> list[float]:
    """Gridspec width ratios: proportional to the grids, none below 25% of the widest."""
    top = max(widths)
    return [max(float(w), 0.25 * top, 1.0) for w in widths]


def _frame_image(fig: Any):
    from PIL import Image

    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    return Image.fromarray(rgba[..., :3].copy())


def _save_gif(frames: list[Any], path: str | os.PathLike, duration_ms: int) -> Path:
    from PIL import Image

    if isinstance(duration_ms, bool) or not isinstance(duration_ms, int) or duration_ms < 20:
        raise ArgumentError(
            f"`duration_ms` must be an int >= 20. Received: duration_ms={duration_ms!r}"
        )
    paletted = [f.convert("P", palette=Image.Palette.ADAPTIVE, colors=128) for f in frames]
    path = Path(path)
    with atomic_path(path) as tmp:
        paletted[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=paletted[1:],
            duration=duration_ms,
            loop=0,
            optimize=False,
        )
    return path


class _ConvScene:
    """Padded input, filter and output of a one-channel convolution, drawn on one figure."""

    def __init__(self, e: ConvExplanation, seed: int, size: Sequence[int]) -> None:
        self.e = e
        (t, b), (l, r) = e.pads
        x, w, y = conv_example(e, seed)
        self.x, self.w, self.y = x, w, y
        self.xp = np.pad(x, ((t, b), (l, r)))
        self.fig = fig = _new_figure(size)
        hp, wp = self.xp.shape
        fh, fw = e.kernel_size
        oh, ow = self.y.shape
        gs = fig.add_gridspec(
            1,
            3,
            width_ratios=_ratios([wp, fw, ow]),
            left=0.04,
            right=0.98,
            top=0.8,
            bottom=0.2,
            wspace=0.25,
        )
        mask = np.zeros_like(self.xp, dtype=bool)
        mask[t : t + x.shape[0], l : l + x.shape[1]] = True
        import matplotlib

        base = matplotlib.colormaps["Blues"](0.08 + 0.45 * self.xp / 9.0)
        base[~mask] = matplotlib.colors.to_rgba(_PAD_COLOR)
        self.inp = _Grid(
            fig.add_subplot(gs[0]),
            self.xp,
            f"input {_shape_text(e.input_shape[:2])} padded to {hp}x{wp} (grey: zeros)",
            colors=base,
        )
        self.ker = _Grid(fig.add_subplot(gs[1]), w, f"filter {fh}x{fw}", cmap="RdBu_r")
        self.out = _Grid(fig.add_subplot(gs[2]), self.y, f"output {oh}x{ow}", cmap="Oranges")
        fig.suptitle(
            f"Convolution: {_shape_text(e.input_shape[:2])} input, {fh}x{fw} filter, "
            f"stride {e.strides[0]}x{e.strides[1]}, padding {e.padding!r}"
            f" -> {oh}x{ow}  (one channel, one filter shown)",
            fontsize=11,
        )
        self.window = self.inp.box(0, 0, fh, fw)
        self.cell = self.out.box(0, 0, 1, 1)
        self.caption = fig.text(0.5, 0.06, "", ha="center", va="center", fontsize=9.5)

    def show_all(self) -> None:
        _stride_marks(self.inp, self.e.axes)
        self.caption.set_text(
            self.e.axes[0].formula().split("  (")[0]
            + "\n"
            + self.e.axes[1].formula().split("  (")[0]
        )

    def show(self, r: int, c: int) -> None:
        fh, fw = self.e.kernel_size
        i, j = r * self.e.strides[0], c * self.e.strides[1]
        self.window.set_xy((j, i))
        self.cell.set_xy((c, r))
        patch = self.xp[i : i + fh, j : j + fw]
        if fh * fw <= 9:
            terms = " + ".join(
                f"{_fmt_value(a)}*{_signed(k)}"
                for a, k in zip(patch.ravel(), self.w.ravel(), strict=True)
            )
        else:
            terms = f"sum of the {fh * fw} products of window and filter"
        self.caption.set_text(
            f"position ({r}, {c}): rows {i}..{i + fh - 1}, columns {j}..{j + fw - 1}\n"
            f"{terms} = {_fmt_value(self.y[r, c])}"
        )


def conv_figure(
    e: ConvExplanation,
    path: str | os.PathLike,
    *,
    seed: int = 0,
    size: Sequence[int] = DEFAULT_SIZE,
) -> Path:
    """Draw the filter's positions over the padded input with the stride, as a PNG.

    The picture runs :func:`cnnlab.ops.conv2d_forward` on one channel of small
    integers (seeded) with one filter (the course's vertical-edge detector when
    the filter is 3x3), and shows the padded input with the first window, the
    next window to the right and below (the stride), a dot in the first cell of every
    window position, the filter, and the output with its numbers.

    Args:
        e: the layer, from :func:`explain_conv`.
        path: where to write the PNG (written atomically).
        seed: seed of the example's numbers.
        size: ``(width, height)`` in pixels.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    scene = _ConvScene(e, seed, size)
    scene.show(0, 0)
    scene.show_all()
    return save_figure(scene.fig, path, dpi=100)


def conv_animation(
    e: ConvExplanation,
    path: str | os.PathLike,
    *,
    seed: int = 0,
    size: Sequence[int] = DEFAULT_SIZE,
    max_frames: int = 48,
    duration_ms: int = 700,
) -> Path:
    """An animated GIF: the window steps over the padded input, one output value per frame.

    Each frame shows the window, the output cell it produces and the sum of
    products that gives it. Large outputs are cut to the first ``max_frames``
    positions (row by row).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    positions = _frame_positions(e.axes, max_frames)
    scene = _ConvScene(e, seed, size)
    frames = []
    for r, c in positions:
        scene.show(r, c)
        frames.append(_frame_image(scene.fig))
    return _save_gif(frames, path, duration_ms)


class _PoolScene:
    """Input and max/average outputs of a one-channel pooling, drawn on one figure."""

    def __init__(self, e: PoolExplanation, seed: int, size: Sequence[int]) -> None:
        import matplotlib

        self.e = e
        (t, b), (l, r) = e.pads
        x, self.outputs = pool_example(e, seed)
        modes = list(self.outputs)
        self.x = x
        self.xp = np.pad(x, ((t, b), (l, r)), constant_values=np.nan)
        self.fig = fig = _new_figure(size)
        hp, wp = self.xp.shape
        oh, ow = e.output_shape[:2]
        fh, fw = e.pool_size
        gs = fig.add_gridspec(
            1,
            1 + len(modes),
            width_ratios=_ratios([wp] + [ow] * len(modes)),
            left=0.04,
            right=0.98,
            top=0.8,
            bottom=0.2,
            wspace=0.25,
        )
        self.tiled = e.strides[0] >= fh and e.strides[1] >= fw
        base = matplotlib.colormaps["Blues"](0.08 + 0.45 * np.nan_to_num(self.xp) / 9.0)
        out_colors = None
        if self.tiled:
            # Non-overlapping windows: colour each window and its output cell alike.
            out_colors = np.zeros((oh, ow, 4))
            for rr, cc in _positions(e.axes):
                color = _WINDOW_COLORS[(2 * rr + cc) % len(_WINDOW_COLORS)]
                color = matplotlib.colors.to_rgba(color)
                out_colors[rr, cc] = color
                i, j = rr * e.strides[0], cc * e.strides[1]
                base[i : i + fh, j : j + fw] = color
        base[np.isnan(self.xp)] = matplotlib.colors.to_rgba(_PAD_COLOR)
        pad_note = " (grey: padding, ignored)" if np.isnan(self.xp).any() else ""
        self.inp = _Grid(
            fig.add_subplot(gs[0]),
            self.xp,
            f"input {hp - t - b}x{wp - l - r}{pad_note}",
            colors=base,
        )
        self.out = {}
        for k, mode in enumerate(modes):
            self.out[mode] = _Grid(
                fig.add_subplot(gs[1 + k]),
                self.outputs[mode],
                f"{mode} pooling {oh}x{ow}",
                colors=out_colors,
                cmap="Oranges",
            )
        fig.suptitle(
            f"Pooling: {_shape_text(e.input_shape[:2])} input, {fh}x{fw} window, stride "
            f"{e.strides[0]}x{e.strides[1]}, padding {e.padding!r} -> {oh}x{ow}"
            "  (one channel shown)",
            fontsize=11,
        )
        self.window = self.inp.box(0, 0, fh, fw)
        self.cells = [g.box(0, 0, 1, 1) for g in self.out.values()]
        self.winner = self.inp.box(0, 0, 1, 1, edgecolor="black", linewidth=1.6, visible=False)
        self.caption = fig.text(0.5, 0.06, "", ha="center", va="center", fontsize=9.5)

    def _max_cell(self, i: int, j: int) -> tuple[int, int]:
        fh, fw = self.e.pool_size
        patch = self.xp[i : i + fh, j : j + fw]
        a, b = np.unravel_index(np.nanargmax(patch), patch.shape)
        return i + int(a), j + int(b)

    def show_all(self) -> None:
        """Mark the maximum of every window in bold (max pooling picks these)."""
        if "max" in self.outputs and self.inp.texts and self.tiled:
            for r, c in _positions(self.e.axes):
                cell = self._max_cell(r * self.e.strides[0], c * self.e.strides[1])
                self.inp.texts[cell].set_fontweight("bold")
                self.inp.texts[cell].set_color(_HIGHLIGHT)
        if not self.tiled:
            _stride_marks(self.inp, self.e.axes)
        self.caption.set_text(
            self.e.axes[0].formula().split("  (")[0]
            + "\n"
            + self.e.axes[1].formula().split("  (")[0]
        )

    def show(self, r: int, c: int) -> None:
        fh, fw = self.e.pool_size
        i, j = r * self.e.strides[0], c * self.e.strides[1]
        self.window.set_xy((j, i))
        for cell in self.cells:
            cell.set_xy((c, r))
        patch = self.xp[i : i + fh, j : j + fw]
        values = [v for v in patch.ravel() if not np.isnan(v)]
        parts = []
        if "max" in self.outputs:
            mi, mj = self._max_cell(i, j)
            self.winner.set_xy((mj, mi))
            self.winner.set_visible(True)
            parts.append(f"max = {_fmt_value(self.outputs['max'][r, c])}")
        if "average" in self.outputs:
            shown = " + ".join(_fmt_value(v) for v in values) if len(values) <= 9 else "sum"
            parts.append(
                f"average = ({shown}) / {len(values)} = {_fmt_value(self.outputs['average'][r, c])}"
            )
        self.caption.set_text(
            f"position ({r}, {c}): rows {i}..{i + fh - 1}, columns {j}..{j + fw - 1}\n"
            + ";   ".join(parts)
        )


def pool_figure(
    e: PoolExplanation,
    path: str | os.PathLike,
    *,
    seed: int = 0,
    size: Sequence[int] = DEFAULT_SIZE,
) -> Path:
    """Draw max and/or average pooling with the numbers in the cells, as a PNG.

    Runs :func:`cnnlab.ops.pool2d_forward` on one channel of small integers.
    Non-overlapping windows are coloured alike in the input and the outputs; each
    window's maximum is printed bold. Overlapping windows are shown like the
    convolution: the first window, the next ones dashed, a dot per position.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    scene = _PoolScene(e, seed, size)
    scene.show(0, 0)
    scene.winner.set_visible(False)
    scene.show_all()
    return save_figure(scene.fig, path, dpi=100)


def pool_animation(
    e: PoolExplanation,
    path: str | os.PathLike,
    *,
    seed: int = 0,
    size: Sequence[int] = DEFAULT_SIZE,
    max_frames: int = 48,
    duration_ms: int = 800,
) -> Path:
    """An animated GIF of the pooling window stepping over the input, one output per frame.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    positions = _frame_positions(e.axes, max_frames)
    scene = _PoolScene(e, seed, size)
    frames = []
    for r, c in positions:
        scene.show(r, c)
        frames.append(_frame_image(scene.fig))
    return _save_gif(frames, path, duration_ms)


def params_figure(
    comparisons: Sequence[DenseVsConv],
    path: str | os.PathLike,
    *,
    size: Sequence[int] = DEFAULT_SIZE,
) -> Path:
    """Bar chart (log scale) of dense versus convolution parameters for each image size.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if not comparisons:
        raise ArgumentError("`comparisons` must hold at least one DenseVsConv. Received: []")
    fig = _new_figure(size)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(comparisons))
    dense = [c.dense_params for c in comparisons]
    conv = [c.conv.params for c in comparisons]
    width = 0.38
    bars_d = ax.bar(x - width / 2, dense, width, color="#e4572e", label="Dense layer")
    bars_c = ax.bar(x + width / 2, conv, width, color="#1f77b4", label="Conv2D layer")
    ax.set_yscale("log")
    ax.set_ylim(1, max(dense) * 40)
    for bars, comps, key in ((bars_d, comparisons, "dense"), (bars_c, comparisons, "conv")):
        for bar, c in zip(bars, comps, strict=True):
            n = c.dense_params if key == "dense" else c.conv.params
            mem = c.dense_bytes if key == "dense" else c.conv_bytes
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height() * 1.4,
                f"{n:,}\n{format_bytes(mem).split(' (')[0]}",
                ha="center",
                va="bottom",
                fontsize=8.5,
            )
    ax.set_xticks(
        x,
        [
            f"{_shape_text(c.input_shape)} image\n({c.features:,} features)\n"
            f"Dense({c.dense_units}) vs Conv2D({c.conv.filters}, "
            f"{c.conv.kernel_size[0]}x{c.conv.kernel_size[1]})"
            for c in comparisons
        ],
        fontsize=9,
    )
    ax.set_ylabel("parameters (log scale)")
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title(
        "Parameters of one layer: dense on the flattened image vs convolution", fontsize=11
    )
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.22)
    return save_figure(fig, path, dpi=100)


def model_figure(
    e: ModelExplanation,
    path: str | os.PathLike,
    *,
    size: Sequence[int] = DEFAULT_SIZE,
) -> Path:
    """Two bar charts along the layers: values in each output, and parameters of each layer.

    Shows where a network keeps its numbers: convolutions hold few parameters but
    produce large activations; a dense layer after Flatten holds most parameters.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    if not e.rows:
        raise ArgumentError(f"the model {e.name!r} has no layers to draw")
    fig = _new_figure(size)
    ax_act, ax_par = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(e.rows))
    values = [int(np.prod(r.output_shape)) for r in e.rows]
    params = [r.params for r in e.rows]
    ax_act.bar(x, values, color="#1f77b4")
    ax_par.bar(x, [max(p, 0) for p in params], color="#e4572e")
    for ax in (ax_act, ax_par):
        ax.set_yscale("symlog", linthresh=1)
        ax.grid(axis="y", alpha=0.3)
    top_a, top_p = max(values), max(max(params), 1)
    ax_act.set_ylim(0, top_a * 30)
    ax_par.set_ylim(0, top_p * 30)
    for k, r in enumerate(e.rows):
        ax_act.text(
            k,
            values[k] * 1.3 + 0.5,
            _shape_text(r.output_shape),
            ha="center",
            va="bottom",
            fontsize=7.5,
        )
        ax_par.text(
            k, params[k] * 1.3 + 0.5, f"{params[k]:,}", ha="center", va="bottom", fontsize=7.5
        )
    ax_act.set_ylabel("values per image")
    ax_par.set_ylabel("parameters")
    ax_par.set_xticks(x, [r.kind for r in e.rows], rotation=30, ha="right", fontsize=8)
    ax_act.set_title(
        f"{e.name}: input {_shape_text(e.input_shape)}, {e.params:,} parameters", fontsize=11
    )
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.2, hspace=0.12)
    return save_figure(fig, path, dpi=100)
