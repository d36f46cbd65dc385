"""Animated GIFs: the window steps over the padded input, one output value per frame.

Each frame is a scene of :mod:`cnnlab.explain.figures` shown at one window position,
rendered on its own Agg canvas and written as a paletted GIF (atomically).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab._io import atomic_path
from cnnlab.errors import ArgumentError
from cnnlab.explain.calculators import AxisWork, ConvExplanation, PoolExplanation
from cnnlab.explain.figures import DEFAULT_SIZE, ConvScene, PoolScene, window_positions


def _frame_positions(axes: tuple[AxisWork, AxisWork], max_frames: int) -> list[tuple[int, int]]:
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise ArgumentError(
            f"`max_frames` must be an int >= 2. Received: max_frames={max_frames!r}"
        )
    return window_positions(axes)[:max_frames]


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


def _animate(scene: Any, positions: list[tuple[int, int]], path, duration_ms: int) -> Path:
    """One frame per window position of ``scene``, written as a GIF."""
    frames = []
    for r, c in positions:
        scene.show(r, c)
        frames.append(_frame_image(scene.fig))
    return _save_gif(frames, path, duration_ms)


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
    return _animate(ConvScene(e, seed, size), positions, path, duration_ms)


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
    return _animate(PoolScene(e, seed, size), positions, path, duration_ms)
