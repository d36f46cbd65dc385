"""Image transforms in NumPy, vectorized over a batch with per-image parameters: the
building blocks of training augmentation (:mod:`cnnlab.data.augment`) and of the shifted
test sets (:mod:`cnnlab.data.shifts`).

:func:`affine` (one bilinear warp for the whole batch: rotation, zoom, translation, flip),
:func:`adjust_color`, :func:`gaussian_blur` and :func:`downscale` each accept ``uint8`` or
float images of shape ``(N, H, W, C)`` in the 0..255 range, compute in ``float32`` and return
``uint8`` (rounded, clipped) for ``uint8`` input and ``float32`` (clipped to 0..255)
otherwise. Large batches are processed in chunks to bound memory.

For the modules that chain several transforms and round once, the float32 kernels work on
*planar* batches ``(C, N, H, W)`` (:func:`planar`): ``affine_f``, ``color_f``, ``blur_f``,
``downscale_f``; :func:`finish` rounds a planar result into a ``uint8`` NHWC array. The
argument checks (``choice``, ``number``, ``pair``, ``images``, ``per_image``) raise one
:class:`~cnnlab.errors.ArgumentError` in the project's style.

Conventions: pixel ``(i, j)`` is row ``i`` (down) and column ``j`` (right); angles are
degrees counter-clockwise as the image is displayed; shifts are ``(dy, dx)`` fractions of
the height and width, positive down and right; a scale below 1 makes the content smaller
(zooms out). Geometry is about the image centre ``((H - 1) / 2, (W - 1) / 2)``.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    >>> affine(x, angle=30.0, scale=0.8, shift=(0.0, 0.1)).shape
    (4, 64, 64, 3)
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from cnnlab._validate import received
from cnnlab.errors import ArgumentError

__all__ = ["adjust_color", "affine", "downscale", "gaussian_blur"]

FILLS = ("nearest", "reflect", "constant")
"""How :func:`affine` fills pixels that come from outside the image: ``"nearest"``
replicates the edge pixel (a wrist at the bottom edge becomes a forearm), ``"reflect"``
mirrors the image about its edge (``d c b a | a b c d | d c b a``), ``"constant"`` fills
with 0 (black)."""

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
"""ITU-R BT.601 luma weights: the gray level of an RGB pixel (sum 1, so gray stays gray)."""

CHUNK_PIXELS = 1 << 17
"""Pixels (N * H * W) per chunk of work: 32 images of 64x64, whose float32 temporaries
(about 1.5 MB each) stay in the CPU caches and bound the memory used."""

# ----------------------------------------------------------------------------- checks


def fail(name: str, rule: str, value) -> ArgumentError:
    return ArgumentError(f"{name} {rule}. Received: {received(name, value)}")


def choice(value, name: str, choices) -> str:
    """``value`` if it is one of ``choices``; the error lists them without quotes."""
    if not isinstance(value, str) or value not in choices:
        raise fail(name, f"must be one of {', '.join(choices)}", value)
    return value


def number(value, name: str, lo: float = 0.0, hi: float | None = None) -> float:
    """A finite real number in ``[lo, hi]`` (not a bool)."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(float(value))
    ):
        raise fail(name, "must be a finite number", value)
    v = float(value)
    if v < lo or (hi is not None and v > hi):
        if hi is None:
            rule = "must be non-negative" if lo == 0 else f"must be at least {lo}"
        else:
            rule = f"must be between {lo} and {hi}"
        raise fail(name, rule, value)
    return v


def pair(value, name: str) -> tuple[float, float]:
    if isinstance(value, str) or not hasattr(value, "__len__") or len(value) != 2:
        raise fail(name, "must be a pair of numbers (low, high)", value)
    try:
        return tuple(number(v, name) for v in value)  # type: ignore[return-value]
    except ArgumentError:
        raise fail(
            name, "must be a pair of non-negative finite numbers (low, high)", value
        ) from None


def images(x, name: str = "x", *, uint8: bool = False, channels=(1, 3)) -> np.ndarray:
    """``x`` as an array of shape ``(N, H, W, C)``: ``uint8`` (or any real dtype)."""
    arr = np.asarray(x)
    if uint8 and arr.dtype != np.uint8:
        raise ArgumentError(
            f"{name} must be uint8 images of shape (N, H, W, C). "
            f"Received: {name}.dtype={arr.dtype}, {name}.shape={arr.shape}"
        )
    if arr.dtype.kind not in "uif" or arr.dtype == np.bool_:
        raise ArgumentError(
            f"{name} must hold numbers (uint8 or float images). Received: {name}.dtype={arr.dtype}"
        )
    if arr.ndim != 4 or (channels is not None and arr.shape[-1] not in channels):
        cs = " or ".join(str(c) for c in channels) if channels else "any"
        raise ArgumentError(
            f"{name} must have shape (N, H, W, C) with C {cs}. Received: {name}.shape={arr.shape}"
        )
    return arr


def per_image(value, name: str, n: int, width: int | None = None, default=None) -> np.ndarray:
    """A per-image parameter: a scalar (broadcast) or an array of shape ``(n,)``/``(n, w)``."""
    if value is None:
        value = default
    arr = np.asarray(value, dtype=np.float64)
    shape = (n,) if width is None else (n, width)
    if arr.ndim == 0:
        arr = np.broadcast_to(arr, shape)
    elif width is not None and arr.shape == (width,):
        arr = np.broadcast_to(arr, shape)
    if arr.shape != shape:
        raise ArgumentError(
            f"{name} must be a number or an array of shape {shape} (one per image). "
            f"Received: {name}.shape={np.shape(value)}"
        )
    if not np.all(np.isfinite(arr)):
        raise ArgumentError(f"{name} must be finite. Received: NaN or inf in {name}")
    return arr


# Inside, a chunk of images is float32 and planar, (C, N, H, W): every channel of the
# chunk is one contiguous block, and elementwise work on contiguous blocks is several
# times faster than on the interleaved channels of NHWC.


def planar(x: np.ndarray) -> np.ndarray:
    """NHWC images -> a contiguous float32 ``(C, N, H, W)`` copy."""
    return np.array(np.moveaxis(x, -1, 0), dtype=np.float32, order="C")


def finish(p: np.ndarray, out: np.ndarray) -> None:
    """Write planar float32 ``p`` into NHWC ``out``: clipped to 0..255, rounded for uint8."""
    np.clip(p, 0.0, 255.0, out=p)
    if out.dtype == np.uint8:
        np.rint(p, out=p)
    out[...] = np.moveaxis(p, 0, -1)


def by_chunks(x: np.ndarray, fn) -> np.ndarray:
    """``fn(slice)`` -> planar float32 chunk, finished chunk by chunk into one NHWC array
    (``uint8`` for ``uint8`` input, else ``float32``)."""
    n, h, w, _ = x.shape
    out = np.empty(x.shape, np.uint8 if x.dtype == np.uint8 else np.float32)
    for sl in chunks(n, h, w):
        finish(fn(sl), out[sl])
    return out


def chunks(n: int, h: int, w: int):
    step = max(1, CHUNK_PIXELS // max(1, h * w))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


# ----------------------------------------------------------------------- transforms


def affine(x, angle, scale, shift, flip=None, fill: str = "nearest") -> np.ndarray:
    """Rotate, scale, shift and flip every image about its centre: one bilinear warp.

    The content is flipped left-right (where ``flip``), scaled by ``scale``, rotated
    ``angle`` degrees counter-clockwise and moved by ``shift``. Each output pixel is
    sampled bilinearly at its inverse-mapped position, for all images at once (vectorized
    over the batch, in chunks); pixels from outside the image are filled as ``fill`` says.
    Identity parameters return the input.

    Args:
        x: images ``(N, H, W, C)``, ``uint8`` or float in 0..255.
        angle: degrees counter-clockwise, a number or ``(N,)``.
        scale: content scale (positive), a number or ``(N,)``; below 1 zooms out.
        shift: ``(dy, dx)`` as fractions of the height and width (positive: down and
            right), ``(2,)`` or ``(N, 2)``.
        flip: horizontal flip, a bool or ``(N,)`` bools; ``None`` for none.
        fill: ``"nearest"``, ``"reflect"`` or ``"constant"`` (see ``FILLS``).

    Returns:
        The warped images, same shape; ``uint8`` for ``uint8`` input, else ``float32``.

    Raises:
        ArgumentError: for a bad shape, a non-positive scale or an unknown fill.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((1, 5, 5, 1), np.uint8); x[0, 2, 4] = 255
        >>> int(affine(x, angle=90, scale=1, shift=(0, 0))[0, 0, 2, 0])  # right -> top
        255
    """
    x = images(x, channels=None)
    n, h, w, c = x.shape
    fill = choice(fill, "fill", FILLS)
    angle = per_image(angle, "angle", n)
    scale = per_image(scale, "scale", n)
    if np.any(scale <= 0):
        raise ArgumentError(f"scale must be positive. Received: min(scale)={scale.min()}")
    shift = per_image(shift, "shift", n, 2)
    flip = np.broadcast_to(np.asarray(False if flip is None else flip, dtype=bool), (n,))
    return by_chunks(x, lambda sl: affine_f(x[sl], angle[sl], scale[sl], shift[sl], flip[sl], fill))


def affine_f(x, angle, scale, shift, flip, fill) -> np.ndarray:
    """:func:`affine` on one NHWC chunk; planar ``float32`` out (no clipping)."""
    n, h, w, c = x.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    ty, tx = shift[:, 0] * h, shift[:, 1] * w
    # Output pixel (ry, rx) relative to the centre, minus the shift, rotated back and
    # scaled back: src_y = cy + sin*(rx - tx) + cos*(ry - ty), src_x = cx + cos*(rx - tx)
    # - sin*(ry - ty); a flip mirrors the source column. src = a + b*rx + d*ry per image.
    ay = cy - sin * tx - cos * ty
    ax = cx - cos * tx + sin * ty
    by, dy_, bx, dx_ = sin, cos, cos, -sin
    mirror = np.where(flip, -1.0, 1.0)
    ax = np.where(flip, (w - 1) - ax, ax)
    bx, dx_ = bx * mirror, dx_ * mirror
    rx = np.arange(w, dtype=np.float64) - cx
    ry = np.arange(h, dtype=np.float64) - cy
    f32 = np.float32
    # (n, h, 1) + (n, 1, w): one full-size pass per coordinate
    sy = (ay[:, None] + dy_[:, None] * ry).astype(f32)[:, :, None]
    sy = sy + (by[:, None] * rx).astype(f32)[:, None, :]
    sx = (ax[:, None] + dx_[:, None] * ry).astype(f32)[:, :, None]
    sx = sx + (bx[:, None] * rx).astype(f32)[:, None, :]
    return _bilinear(x, sy, sx, fill)


def _reflect(coord: np.ndarray, size: int) -> np.ndarray:
    """Half-sample symmetric reflection (``d c b a | a b c d | d c b a``) into ``[0, size-1]``."""
    period = 2.0 * size
    t = np.mod(coord + 0.5, period)
    t = np.where(t >= size, period - t, t) - 0.5
    return np.clip(t, 0.0, size - 1.0, out=t)


def _bilinear(x: np.ndarray, sy: np.ndarray, sx: np.ndarray, fill: str) -> np.ndarray:
    """Sample NHWC images ``x`` at float positions ``(sy, sx)`` (n, h, w): planar float32.

    The images are padded (edge pixels for "nearest"/"reflect", one zero pixel all round
    for "constant", whose coordinates are clipped to that ring) so that the right and
    lower neighbours of every clipped position exist: the four corners are then one
    index and three constant offsets. ``uint8`` RGB pixels are gathered as one
    ``uint32`` each (4 bytes), the weights applied with mixed-type products.
    """
    n, h, w, c = x.shape
    packed = x.dtype == np.uint8 and c in (1, 3)
    size = 4 if packed and c == 3 else c  # RGB pixels padded to 4 bytes
    if fill == "constant":
        lo, hi_y, hi_x, off, border = -1.0, float(h), float(w), 1, (1, 2)
    else:
        if fill == "reflect":
            sy, sx = _reflect(sy, h), _reflect(sx, w)
        lo, hi_y, hi_x, off, border = 0.0, h - 1.0, w - 1.0, 0, (0, 1)
    xp = np.zeros((n, h + sum(border), w + sum(border), size), x.dtype)
    t, b = border
    xp[:, t : t + h, t : t + w, :c] = x
    if fill != "constant":  # replicate the last row and column
        xp[:, h, :w, :c] = x[:, h - 1]
        xp[:, :, w] = xp[:, :, w - 1]
    hp, wp = xp.shape[1], xp.shape[2]
    np.clip(sy, lo, hi_y, out=sy)
    np.clip(sx, lo, hi_x, out=sx)
    y0 = np.floor(sy)
    x0 = np.floor(sx)
    wy = np.subtract(sy, y0, out=sy)
    wx = np.subtract(sx, x0, out=sx)
    # flat index of the top-left corner (exact in float64)
    base = (np.arange(n, dtype=np.float64) * (hp * wp) + off * (wp + 1))[:, None, None]
    idx = ((y0 * wp + x0) + base).astype(np.intp)
    del y0, x0
    w11 = wx * wy
    w01 = wx - w11
    w10 = wy - w11
    w00 = 1.0 - wx
    w00 -= w10
    weights = (w00, w01, w10, w11)
    if packed:
        # Gather each pixel with its right neighbour in one read, from a view of the
        # pixel bytes as (pixel, next pixel) pairs of 2 * size bytes, one pixel apart;
        # then channels to planes (contiguous float32 planes are fast to combine).
        buf = xp.reshape(-1)
        pairs = np.ndarray(
            (buf.size // size - 1,), np.dtype(f"u{2 * size}"), buffer=buf, strides=(size,)
        )
        gathered = [
            np.take(pairs, i).view(np.uint8).reshape(n, h, w, 2 * size) for i in (idx, idx + wp)
        ]
        planes = [np.moveaxis(g, -1, 0).astype(np.float32) for g in gathered]

        def corners(ch):
            return planes[0][ch], planes[0][size + ch], planes[1][ch], planes[1][size + ch]
    else:
        flat = xp.reshape(-1, size)
        v = [
            np.moveaxis(np.take(flat[k:], idx, axis=0), -1, 0).astype(np.float32)
            for k in (0, 1, wp, wp + 1)
        ]

        def corners(ch):
            return tuple(vk[ch] for vk in v)

    out = np.empty((c, n, h, w), np.float32)
    tmp = np.empty((n, h, w), np.float32)
    for ch in range(c):
        vals = corners(ch)
        o = out[ch]
        np.multiply(vals[0], weights[0], out=o)
        for val, wgt in zip(vals[1:], weights[1:], strict=True):
            np.multiply(val, wgt, out=tmp)
            o += tmp
    return out


def _hue_matrix(turns: np.ndarray) -> np.ndarray:
    """Rotations about the gray axis (1, 1, 1) by ``turns`` of the circle: (n, 3, 3)."""
    t = 2.0 * np.pi * turns
    cos, sin = np.cos(t)[:, None, None], np.sin(t)[:, None, None]
    k = np.full(3, 1.0 / np.sqrt(3.0))
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return cos * np.eye(3) + sin * kx + (1.0 - cos) * np.outer(k, k)


def color_f(p, brightness, contrast, saturation, hue, gains) -> np.ndarray:
    """:func:`adjust_color` on one planar chunk; planar ``float32`` out (no clipping)."""
    c, n = p.shape[:2]
    mean_c = p.reshape(c, n, -1).mean(axis=2, dtype=np.float64).T  # (n, c)

    def col(v):
        return np.asarray(v, np.float32)[:, None, None]

    if c == 1:
        off = (1.0 - contrast) * brightness * mean_c[:, 0]
        out = p * col(brightness * contrast)
        out += col(off)
        return out
    # Linear colour map per image: brightness * hue @ saturation @ diag(gains) ...
    luma = LUMA.astype(np.float64)
    sat = saturation[:, None, None] * np.eye(3) + (1.0 - saturation)[:, None, None] * (
        np.ones((3, 1)) * luma[None, :]
    )
    m3 = _hue_matrix(hue) @ sat * gains[:, None, :] * brightness[:, None, None]
    # ... then contrast about the mean of the mapped image: out = c*M x + (1 - c)*mean.
    m = (mean_c[:, None, :] * m3).sum(-1).mean(-1)  # mean over channels of M @ mean_c
    mat = m3 * contrast[:, None, None]
    off = col((1.0 - contrast) * m)
    out = np.empty(p.shape, np.float32)
    tmp = np.empty(p.shape[1:], np.float32)
    for i in range(3):
        o = out[i]
        np.multiply(p[0], col(mat[:, i, 0]), out=o)
        for k in (1, 2):
            np.multiply(p[k], col(mat[:, i, k]), out=tmp)
            o += tmp
        o += off
    return out


def adjust_color(x, brightness=None, contrast=None, saturation=None, hue=None, gains=None):
    """Change brightness, contrast, saturation, hue and white balance, per image.

    In order: channel ``gains``, ``saturation`` (about the pixel's gray level), a
    ``hue`` rotation about the gray axis, ``brightness`` (a factor on every channel),
    then ``contrast`` about the image's mean. Gray images (``C == 1``) take brightness
    and contrast only (saturation, hue and gains are ignored), and a gray RGB pixel
    stays gray under saturation and hue.

    Args:
        x: images ``(N, H, W, C)``, ``C`` 1 or 3, ``uint8`` or float in 0..255.
        brightness: factors ``(N,)`` (1: unchanged); the mean is multiplied by it.
        contrast: factors ``(N,)`` (1: unchanged); the deviation from the mean is.
        saturation: factors ``(N,)`` (1: unchanged, 0: gray).
        hue: rotations ``(N,)`` as fractions of the colour circle (0: unchanged).
        gains: per-channel factors ``(N, 3)`` (1: unchanged).

    Returns:
        The adjusted images, same shape; ``uint8`` for ``uint8`` input, else ``float32``.

    Example:
        >>> import numpy as np
        >>> x = np.full((2, 4, 4, 3), 100, np.uint8)
        >>> adjust_color(x, brightness=[1.5, 0.5])[:, 0, 0, 0]
        array([150,  50], dtype=uint8)
    """
    x = images(x)
    n = x.shape[0]
    b = per_image(brightness, "brightness", n, default=1.0)
    ct = per_image(contrast, "contrast", n, default=1.0)
    s = per_image(saturation, "saturation", n, default=1.0)
    hu = per_image(hue, "hue", n, default=0.0)
    g = per_image(gains, "gains", n, 3, default=1.0)
    return by_chunks(x, lambda sl: color_f(planar(x[sl]), b[sl], ct[sl], s[sl], hu[sl], g[sl]))


def _gaussian_kernels(sigma: np.ndarray) -> np.ndarray:
    """Normalized 1-D Gaussian taps ``(n, 2r + 1)``, one row per sigma (0: identity)."""
    r = max(1, int(math.ceil(3.0 * float(sigma.max(initial=0.0)))))
    t = np.arange(-r, r + 1, dtype=np.float64)
    s = np.maximum(sigma, 1e-6)[:, None]
    # each image's own support (3 sigma): the taps do not depend on the other images
    k = np.exp(-0.5 * (t[None, :] / s) ** 2) * (np.abs(t)[None, :] <= np.ceil(3.0 * s))
    return (k / k.sum(axis=1, keepdims=True)).astype(np.float32)


def _blur_matrices(sigma: np.ndarray, size: int) -> np.ndarray:
    """Per-image Gaussian blur along one axis as ``(n, size, size)`` matrices, the edge
    pixel replicated beyond the border (taps falling outside land on the edge column)."""
    k = _gaussian_kernels(sigma)  # (n, taps)
    r = (k.shape[1] - 1) // 2
    rows = np.arange(size)
    mats = np.zeros((len(sigma), size, size), np.float32)
    for i in range(2 * r + 1):
        cols = np.clip(rows + i - r, 0, size - 1)
        mats[:, rows, cols] += k[:, i : i + 1]  # within one tap, (row, col) pairs are unique
    return mats


def blur_f(p: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur of a planar chunk (edges replicated); planar ``float32``.

    Each axis is one matrix product per image (BLAS), as for :func:`downscale`.
    """
    h, w = p.shape[2:]
    p = _apply_rows(_blur_matrices(sigma, h), p)
    return _apply_cols(_blur_matrices(sigma, w), p)


def gaussian_blur(x, sigma) -> np.ndarray:
    """Blur every image with its own Gaussian (separable; borders replicate the edge).

    Args:
        x: images ``(N, H, W, C)``, ``uint8`` or float in 0..255.
        sigma: standard deviations in pixels, a number or ``(N,)`` (0: unchanged).

    Returns:
        The blurred images, same shape; ``uint8`` for ``uint8`` input, else ``float32``.

    Example:
        >>> import numpy as np
        >>> x = np.zeros((1, 9, 9, 1), np.uint8); x[0, 4, 4] = 255
        >>> int(gaussian_blur(x, 1.0)[0, 4, 4, 0]) < 255
        True
    """
    x = images(x, channels=None)
    n = x.shape[0]
    sigma = per_image(sigma, "sigma", n)
    if np.any(sigma < 0):
        raise ArgumentError(f"sigma must be non-negative. Received: min(sigma)={sigma.min()}")
    return by_chunks(x, lambda sl: blur_f(planar(x[sl]), sigma[sl]))


def area_matrix(small: int, big: int) -> np.ndarray:
    """Area (box) downsampling of ``big`` samples to ``small``: ``(small, big)``."""
    r = big / small
    lo = np.arange(small)[:, None] * r
    j = np.arange(big)[None, :]
    overlap = np.clip(np.minimum(j + 1, lo + r) - np.maximum(j, lo), 0.0, None)
    return overlap / r


def _upsample_matrix(big: int, small: int) -> np.ndarray:
    """Bilinear upsampling (half-pixel centres) of ``small`` samples to ``big``."""
    src = np.clip((np.arange(big) + 0.5) * small / big - 0.5, 0.0, small - 1.0)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, small - 1)
    wgt = src - i0
    m = np.zeros((big, small))
    rows = np.arange(big)
    np.add.at(m, (rows, i0), 1.0 - wgt)
    np.add.at(m, (rows, i1), wgt)
    return m


def _down_up_matrix(size: int, small: int) -> np.ndarray:
    """Down to ``small`` by area, back up to ``size`` bilinearly: one ``(size, size)`` map."""
    if small >= size:
        return np.eye(size)
    return _upsample_matrix(size, small) @ area_matrix(small, size)


def _apply_rows(mats: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``mats[n] @ image`` (along the height) for planar ``(c, n, h, w)`` images."""
    return np.matmul(mats, p)


def _apply_cols(mats: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``image @ mats[n].T`` (along the width) for planar ``(c, n, h, w)`` images."""
    return np.matmul(p, np.swapaxes(mats, -1, -2))


def _sides(side: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """The small (height, width) for a short side, keeping the aspect ratio."""
    short = min(h, w)
    sh = np.clip(np.rint(side * h / short), 1, h).astype(int)
    sw = np.clip(np.rint(side * w / short), 1, w).astype(int)
    return sh, sw


def _stack(size: int, smalls: np.ndarray, build) -> np.ndarray:
    """``build(size, s)`` for each entry of ``smalls``, computed once per distinct ``s``."""
    uniq, inv = np.unique(smalls, return_inverse=True)
    mats = np.stack([build(size, int(s)) for s in uniq]).astype(np.float32)
    return mats[inv.reshape(-1)]


def downscale_f(p: np.ndarray, side: np.ndarray) -> np.ndarray:
    """:func:`downscale` of a planar chunk; planar ``float32``."""
    h, w = p.shape[2:]
    sh, sw = _sides(side, h, w)
    p = _apply_rows(_stack(h, sh, _down_up_matrix), p)
    return _apply_cols(_stack(w, sw, _down_up_matrix), p)


def downscale(x, side) -> np.ndarray:
    """Lose resolution: area-downsample each image to a short side of ``side`` pixels,
    then resize it back up bilinearly (what upscaling a small photo gives).

    Both steps are linear maps along each axis, so every image costs two small matrix
    products (images sharing a size share the matrices). The aspect ratio is kept.

    Args:
        x: images ``(N, H, W, C)``, ``uint8`` or float in 0..255.
        side: the smaller side in pixels, an int or ``(N,)`` ints in ``1..min(H, W)``
            (``min(H, W)``: unchanged).

    Returns:
        The images at their own size, same shape; ``uint8`` for ``uint8`` input, else
        ``float32``.

    Raises:
        ArgumentError: for a side outside ``1..min(H, W)`` or not whole.

    Example:
        >>> import numpy as np
        >>> board = (np.indices((8, 8)).sum(0) % 2 * 255).astype(np.uint8)[None, ..., None]
        >>> np.unique(downscale(board, 4))
        array([128], dtype=uint8)
    """
    x = images(x, channels=None)
    n, h, w, _ = x.shape
    side_f = per_image(side, "side", n)
    if np.any(side_f != np.round(side_f)) or np.any(side_f < 1) or np.any(side_f > min(h, w)):
        got = side if np.ndim(side) == 0 else f"values in [{side_f.min():g}, {side_f.max():g}]"
        raise ArgumentError(
            f"side must be whole numbers between 1 and the short side {min(h, w)}. "
            f"Received: side={got}"
        )
    side_i = side_f.astype(int)
    return by_chunks(x, lambda sl: downscale_f(planar(x[sl]), side_i[sl]))
