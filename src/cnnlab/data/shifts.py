"""Shifted copies of a test split, for out-of-domain evaluation: rotated, zoomed out,
recoloured, low resolution, or a face framed small in a larger picture (:data:`SHIFTS`).

Each is fixed for a seed and built from the transforms of :mod:`cnnlab.data.transforms`.
They are synthetic stand-ins: a model that holds its accuracy on them can still fail on real
photos from elsewhere (docs/out-of-domain.md has the figures).

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    >>> shift_images(x, "rotate", seed=0).shape
    (4, 64, 64, 3)
"""

from __future__ import annotations

import numbers

import numpy as np

from cnnlab.data.transforms import (
    affine,
    area_matrix,
    blur_f,
    choice,
    color_f,
    downscale,
    fail,
    finish,
    images,
    planar,
)

__all__ = ["SHIFTS", "shift_images"]

SHIFTS: tuple[str, ...] = ("rotate", "zoom_out", "recolor", "lowres", "frame")
"""The kinds of :func:`shift_images`."""

_SHIFT_BLOCK_PIXELS = 1 << 17
""":func:`shift_images` draws the random choices of each block of this many pixels
(N * H * W) from its own generator, seeded by the seed and the block's first index: the
shifted copy depends on the seed and the images only, not on how the work is chunked."""


# ----------------------------------------------------------------------- shifts


def _recolor_f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A strong, plausible change of light per image: cast, brightness, contrast, gamma."""
    n, c = x.shape[0], x.shape[-1]

    def away(lo, hi):
        """Magnitudes in [lo, hi] with a random sign: never close to 'unchanged'."""
        return rng.uniform(lo, hi, n) * rng.choice([-1.0, 1.0], n)

    brightness = 1.0 + away(0.2, 0.35)
    contrast = np.exp(away(0.3, 0.5))  # x0.61..0.74 or x1.35..1.65
    gamma = np.exp(away(0.25, 0.45))  # 0.64..0.78 or 1.28..1.57
    # Casts: warm/beige (R up, B down), cool (B up), green-magenta tint.
    temp = away(0.12, 0.25)
    tint = rng.uniform(-0.08, 0.08, n)
    gains = np.stack([1.0 + temp, 1.0 + tint, 1.0 - temp], axis=1)
    saturation = rng.uniform(0.6, 1.4, n)
    p = planar(x)
    if c == 3:
        p = color_f(p, np.ones(n), np.ones(n), saturation, np.zeros(n), gains)
    np.clip(p, 0.0, 255.0, out=p)
    p = 255.0 * (p / 255.0) ** gamma.astype(np.float32)[:, None, None]
    return color_f(p, brightness, contrast, np.ones(n), np.zeros(n), np.ones((n, 3)))


def _backgrounds(rng: np.random.Generator, n: int, h: int, w: int, c: int) -> np.ndarray:
    """Synthetic backgrounds, one per image: plain colours, linear gradients or noise;
    planar ``(c, n, h, w)`` float32."""
    kind = rng.integers(0, 3, n)  # 0 plain, 1 gradient, 2 noise
    col_a = rng.uniform(20, 235, (n, c))
    col_b = rng.uniform(20, 235, (n, c))
    direction = rng.uniform(0, 2 * np.pi, n)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    t = np.cos(direction)[:, None, None] * xx + np.sin(direction)[:, None, None] * yy
    t = ((t + 1.5) / 3.0).astype(np.float32)[..., None]  # 0..1 along the direction
    ramp = np.where((kind == 1)[:, None, None, None], t, np.float32(0.0))
    bg = col_a[:, None, None, :] + (col_b - col_a)[:, None, None, :] * ramp
    noise = rng.normal(0.0, 1.0, (n, h, w, c)).astype(np.float32)
    noise = np.moveaxis(blur_f(planar(noise), np.full(n, 1.0)), 0, -1)  # texture, not salt
    amp = np.where(kind == 2, rng.uniform(25, 50, n), rng.uniform(0, 4, n))
    bg = bg + noise * (amp / noise.std(axis=(1, 2, 3)).clip(1e-6))[:, None, None, None]
    return planar(bg)


def _frame_f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Paste each image at a third of the size at a random place on a synthetic background.

    Equivalent to pasting the image at full size into a 3x larger frame and resizing
    the frame back to ``(H, W)`` by area: the image is area-downsampled to a third
    (linear, like the frame's resize) and placed on the background at output resolution.
    """
    n, h, w, c = x.shape
    sh, sw = max(1, round(h / 3)), max(1, round(w / 3))
    small = area_matrix(sh, h).astype(np.float32) @ planar(x)
    small = small @ area_matrix(sw, w).T.astype(np.float32)  # (c, n, sh, sw)
    out = _backgrounds(rng, n, h, w, c)
    top = rng.integers(0, h - sh + 1, n)
    left = rng.integers(0, w - sw + 1, n)
    rows = top[:, None, None] + np.arange(sh)[None, :, None]
    cols = left[:, None, None] + np.arange(sw)[None, None, :]
    out[:, np.arange(n)[:, None, None], rows, cols] = small
    return out


def shift_images(x: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A shifted copy of a test split, for out-of-domain evaluation (fixed for a seed).

    Kinds (:data:`SHIFTS`):

    - ``"rotate"``: rotated by exactly 30 degrees, clockwise or counter-clockwise at
      random per image (borders replicate the edge).
    - ``"zoom_out"``: the content scaled to 60% about the centre (border filled with
      ``fill="nearest"``).
    - ``"recolor"``: a strong but plausible change of light per image: a warm, beige or
      cool cast and a saturation change (RGB only), a gamma, and brightness changed by
      20-35% and contrast by a factor 0.6-0.75 or 1.35-1.65, up or down at random.
    - ``"lowres"``: area-downsampled to a short side of 32 pixels (half the short side
      for images of 32 pixels or less), then back up bilinearly.
    - ``"frame"``: each image pasted at random into a frame three times its size on a
      synthetic background (a plain colour, a gradient or smooth noise, varied per
      image), the frame resized back to ``(H, W)``: the content fills a third of the
      width, like a face in a head-and-shoulders photo.

    Args:
        x: ``uint8`` images ``(N, H, W, C)``, ``C`` 1 or 3.
        kind: one of :data:`SHIFTS`.
        seed: seed of the random choices (signs, casts, backgrounds, positions).

    Returns:
        A new ``uint8`` array of the same shape.

    Raises:
        ArgumentError: for an unknown kind or images that are not ``uint8`` NHWC.

    Example:
        >>> import numpy as np
        >>> x = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 1), dtype=np.uint8)
        >>> [shift_images(x, k).shape for k in ("lowres", "frame")]
        [(3, 64, 64, 1), (3, 64, 64, 1)]
    """
    kind = choice(kind, "kind", SHIFTS)
    x = images(x, uint8=True)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise fail("seed", "must be a non-negative int", seed)
    rng = np.random.default_rng(int(seed))
    n, h, w, c = x.shape
    if kind == "rotate":
        sign = rng.choice([-1.0, 1.0], n)
        return affine(x, 30.0 * sign, 1.0, (0.0, 0.0), fill="nearest")
    if kind == "zoom_out":
        return affine(x, 0.0, 0.6, (0.0, 0.0), fill="nearest")
    if kind == "lowres":
        short = min(h, w)
        return downscale(x, 32 if short > 32 else max(1, short // 2))
    op = _recolor_f if kind == "recolor" else _frame_f
    out = np.empty_like(x)
    block = max(1, _SHIFT_BLOCK_PIXELS // (h * w))
    for start in range(0, n, block):
        sl = slice(start, min(n, start + block))
        finish(op(x[sl], np.random.default_rng([int(seed), start])), out[sl])
    return out
