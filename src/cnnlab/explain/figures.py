"""Static pictures (PNG) of convolution, pooling, parameters and a model's layers.

The figures run the real operations (:func:`cnnlab.ops.conv2d_forward` and
:func:`cnnlab.ops.pool2d_forward`) on a small integer example and draw the
padded input, the window's positions with the stride, the filter and the
output, with the numbers in the cells. The scenes drawn here are also the frames
of the animations (:mod:`cnnlab.explain.animations`). Every figure is a
:class:`matplotlib.figure.Figure` with its own Agg canvas: pyplot's global state is
never touched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab._io import save_figure
from cnnlab.errors import ArgumentError
from cnnlab.explain.calculators import (
    AxisWork,
    ConvExplanation,
    DenseVsConv,
    PoolExplanation,
    format_bytes,
    shape_text,
)
from cnnlab.explain.model import ModelExplanation
from cnnlab.ops import conv2d_forward, pool2d_forward

DEFAULT_SIZE = (960, 480)
"""Default pixel size ``(width, height)`` of every figure."""

# The pictures' colors (tests find them in the pixels): padding cells, the current
# window, the next window (the stride), and the tiled pooling windows in turn.
PAD_COLOR = "#d9d9d9"
HIGHLIGHT_COLOR = "#e4572e"
NEXT_COLOR = "#1f77b4"
WINDOW_COLORS = ["#8dd3c7", "#ffffb3", "#bebada", "#fdb462", "#b3de69", "#fccde5", "#80b1d3"]
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

        defaults = {"fill": False, "edgecolor": HIGHLIGHT_COLOR, "linewidth": 2.5, "zorder": 4}
        patch = Rectangle((j, i), fw, fh, **{**defaults, **style})
        self.ax.add_patch(patch)
        return patch


def window_positions(axes: tuple[AxisWork, AxisWork]) -> list[tuple[int, int]]:
    return [(r, c) for r in range(axes[0].out) for c in range(axes[1].out)]


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
        grid.ax.scatter(xx.ravel(), yy.ravel(), s=10, color=HIGHLIGHT_COLOR, zorder=5)
    arrow = {"arrowstyle": "->", "color": NEXT_COLOR, "linewidth": 1.6}
    font = max(6.0, min(9.0, 90.0 / max(hp, wp)))
    if axes[1].out > 1:
        grid.box(0, sw, fh, fw, edgecolor=NEXT_COLOR, linestyle="--", linewidth=1.8)
        y = hp + 0.3
        grid.ax.annotate("", xy=(sw + 0.5, y), xytext=(0.5, y), arrowprops=arrow)
        grid.ax.text(
            0.5 + sw / 2,
            y + 0.15,
            f"s={sw}",
            ha="center",
            va="top",
            color=NEXT_COLOR,
            fontsize=font,
        )
    if axes[0].out > 1:
        grid.box(sh, 0, fh, fw, edgecolor=NEXT_COLOR, linestyle=":", linewidth=1.8)
        grid.ax.annotate("", xy=(-0.3, sh + 0.5), xytext=(-0.3, 0.5), arrowprops=arrow)
        grid.ax.text(
            -0.45, 0.5 + sh / 2, f"s={sh}", va="center", ha="right", color=NEXT_COLOR, fontsize=font
        )


def _output_size_caption(axes: tuple[AxisWork, AxisWork]) -> str:
    """The output-size formula of both axes, one per line (without the uncovered note)."""
    return "\n".join(axis.formula().split("  (")[0] for axis in axes)


def _ratios(widths: Sequence[float]) -> list[float]:
    """Gridspec width ratios: proportional to the grids, none below 25% of the widest."""
    top = max(widths)
    return [max(float(w), 0.25 * top, 1.0) for w in widths]


class ConvScene:
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
        base[~mask] = matplotlib.colors.to_rgba(PAD_COLOR)
        self.inp = _Grid(
            fig.add_subplot(gs[0]),
            self.xp,
            f"input {shape_text(e.input_shape[:2])} padded to {hp}x{wp} (grey: zeros)",
            colors=base,
        )
        self.ker = _Grid(fig.add_subplot(gs[1]), w, f"filter {fh}x{fw}", cmap="RdBu_r")
        self.out = _Grid(fig.add_subplot(gs[2]), self.y, f"output {oh}x{ow}", cmap="Oranges")
        fig.suptitle(
            f"Convolution: {shape_text(e.input_shape[:2])} input, {fh}x{fw} filter, "
            f"stride {e.strides[0]}x{e.strides[1]}, padding {e.padding!r}"
            f" -> {oh}x{ow}  (one channel, one filter shown)",
            fontsize=11,
        )
        self.window = self.inp.box(0, 0, fh, fw)
        self.cell = self.out.box(0, 0, 1, 1)
        self.caption = fig.text(0.5, 0.06, "", ha="center", va="center", fontsize=9.5)

    def show_all(self) -> None:
        _stride_marks(self.inp, self.e.axes)
        self.caption.set_text(_output_size_caption(self.e.axes))

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
    scene = ConvScene(e, seed, size)
    scene.show(0, 0)
    scene.show_all()
    return save_figure(scene.fig, path, dpi=100)


class PoolScene:
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
            for rr, cc in window_positions(e.axes):
                color = WINDOW_COLORS[(2 * rr + cc) % len(WINDOW_COLORS)]
                color = matplotlib.colors.to_rgba(color)
                out_colors[rr, cc] = color
                i, j = rr * e.strides[0], cc * e.strides[1]
                base[i : i + fh, j : j + fw] = color
        base[np.isnan(self.xp)] = matplotlib.colors.to_rgba(PAD_COLOR)
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
            f"Pooling: {shape_text(e.input_shape[:2])} input, {fh}x{fw} window, stride "
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
            for r, c in window_positions(self.e.axes):
                cell = self._max_cell(r * self.e.strides[0], c * self.e.strides[1])
                self.inp.texts[cell].set_fontweight("bold")
                self.inp.texts[cell].set_color(HIGHLIGHT_COLOR)
        if not self.tiled:
            _stride_marks(self.inp, self.e.axes)
        self.caption.set_text(_output_size_caption(self.e.axes))

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
    scene = PoolScene(e, seed, size)
    scene.show(0, 0)
    scene.winner.set_visible(False)
    scene.show_all()
    return save_figure(scene.fig, path, dpi=100)


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
            f"{shape_text(c.input_shape)} image\n({c.features:,} features)\n"
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
            shape_text(r.output_shape),
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
        f"{e.name}: input {shape_text(e.input_shape)}, {e.params:,} parameters", fontsize=11
    )
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.2, hspace=0.12)
    return save_figure(fig, path, dpi=100)
