"""The calculators: output shapes, parameters and multiply-adds of conv and pooling layers.

Everything here is computed, not drawn by hand. The calculators resolve padding
and output sizes with :mod:`cnnlab.ops.padding` (the same code the convolution,
the poolings and the NumPy layers use), then present the course's formulas
worked out for the numbers given:

* output size along one axis: ``floor((n + 2p - f) / s) + 1`` (with
  ``p_before + p_after`` in place of ``2p`` when 'same' pads unevenly);
* parameters of a convolution: ``(f * f * n_C_prev + 1) * n_C``;
* multiply-adds of a convolution: ``n_H * n_W * n_C * (f * f * n_C_prev)``.

Arguments are checked by :mod:`cnnlab._validate` (sizes, pairs, paddings, modes), so
they accept the same spellings as the CLI and :mod:`cnnlab.data`. Shapes are NHWC
throughout; a single image's shape is ``(height, width, channels)``.

Example:
    >>> e = explain_conv((6, 6, 3), filters=8, kernel_size=3, strides=1, padding="valid")
    >>> e.output_shape, e.params, e.mult_adds
    ((4, 4, 8), 224, 3456)
    >>> explain_params((1000, 1000, 3), dense_units=1000).dense_params
    3000001000
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnnlab import _validate
from cnnlab.ops.padding import Pads, output_size, resolve_padding

Shape3 = tuple[int, int, int]

FLOAT32_BYTES = 4


def parse_size(value: str | int | Sequence[int], name: str = "input", *, ndim: int = 3):
    """Parse a size such as ``"6x6x3"``, ``"6x6"`` or ``"6"`` (see :func:`cnnlab._validate.shape`).

    With ``ndim=3`` (an image) the result is ``(height, width, channels)``:
    ``"6x6"`` means one channel and ``"6"`` a 6x6 image with one channel.
    With ``ndim=2`` (a kernel or pool window) the result is ``(height, width)``
    and ``"3"`` means 3x3.

    Raises:
        ValueError: naming the argument, the accepted forms and the value received.

    Example:
        >>> parse_size("6x6x3"), parse_size("6x6"), parse_size("6")
        ((6, 6, 3), (6, 6, 1), (6, 6, 1))
        >>> parse_size("3", "kernel", ndim=2)
        (3, 3)
    """
    return _validate.shape(value, name, ndim=ndim)


def parse_padding(value: str | int | Sequence) -> str | int | tuple:
    """A padding: ``"valid"``, ``"same"``, ``"2"``, ``"1x2"``, an int, a pair or pairs.

    See :func:`cnnlab._validate.padding_spec`.

    Raises:
        ValueError: for anything else.

    Example:
        >>> parse_padding("same"), parse_padding("2"), parse_padding("1x2")
        ('same', 2, (1, 2))
    """
    return _validate.padding_spec(value)


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


def shape_text(shape: Sequence[int]) -> str:
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
    window = _validate.int_or_pair(size, name)
    stride = window if strides is None else _validate.int_or_pair(strides, "strides")
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
            f"input  {shape_text(self.input_shape)} (padded to "
            f"{shape_text((*self.padded_shape, self.input_shape[2]))})",
            f"output {shape_text(self.output_shape)}",
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
    filters = _validate.positive_int(filters, "filters")
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
            f"input  {shape_text(self.input_shape)}",
            f"output {shape_text(self.output_shape)}",
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
    mode = _validate.one_of(mode, "mode", POOL_MODES, aliases=_validate.POOL_MODE_ALIASES)
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
            f"Image {shape_text(self.input_shape)}: {h} * {w} * {c} = {self.features:,} "
            "input features",
            f"  Dense({u}) on the flattened image:",
            f"    {self.features:,} * {u:,} weights + {u:,} biases = "
            f"{self.dense_params:,} parameters",
            f"    memory in float32: {self.dense_params:,} * 4 bytes = "
            f"{format_bytes(self.dense_bytes)}",
            f"  Conv2D({_count(self.conv.filters, 'filter')} of {fh}x{fw}x{c}, "
            f"padding={self.conv.padding!r}) on the same image:",
            f"    {self.conv.params_formula()}",
            f"    output {shape_text(self.conv.output_shape)}, "
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
    dense_units = _validate.positive_int(dense_units, "dense_units")
    conv = explain_conv(shape, filters, kernel_size, 1, padding)
    return DenseVsConv(shape, int(dense_units), conv)
