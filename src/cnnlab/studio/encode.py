"""Arrays as the page receives them: rounded nested lists, and PNG data URLs."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import numpy as np

SIGNIFICANT = 6
"""Digits kept of every number sent to the page (JSON stays small and readable)."""


def rounded(arr: Any) -> Any:
    """A nested list of ``arr`` with 6 significant digits; NaN becomes ``None``.

    Vectorized: each value is scaled by its own power of ten, rounded and scaled back (a
    correctly rounded division, so ``json`` writes ``0.333333``, not 17 digits)."""
    a = np.asarray(arr, dtype=np.float64)
    nan = np.isnan(a)
    safe = np.where(np.isfinite(a) & (a != 0), np.abs(a), 1.0)
    digits = (SIGNIFICANT - 1 - np.floor(np.log10(safe))).astype(np.int64)
    up, down = np.maximum(digits, 0), np.maximum(-digits, 0)
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.round(a * 10.0**up / 10.0**down) * 10.0**down / 10.0**up
    out = np.where(np.isfinite(out), out, a)
    if not nan.any():
        return out.tolist()
    return np.where(nan, None, out.astype(object)).tolist()


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 gray ``(H, W)`` or RGB ``(H, W, 3)`` image as PNG file bytes.

    Written here rather than by Pillow: the explorer sends one small PNG per feature map
    (128 of 64x64 for the course's Happy model), and Pillow's per-image overhead made those
    170 ms of a 460 ms request; this takes a tenth of that (zlib level 1, no filter)."""
    a = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = a.shape[:2]
    colour = 2 if a.ndim == 3 else 0  # PNG colour type: RGB or gray
    rows = np.empty((h, 1 + a[0].size), dtype=np.uint8)
    rows[:, 0] = 0  # filter "none" on every row
    rows[:, 1:] = a.reshape(h, -1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
        + chunk(b"IEND", b"")
    )


def png_url(image: np.ndarray) -> str:
    """A uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image (or float in [0, 1]) as a
    ``data:image/png;base64,...`` URL."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return "data:image/png;base64," + base64.b64encode(png_bytes(a)).decode("ascii")


def _lut() -> np.ndarray:
    from matplotlib import colormaps

    return np.rint(colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


_LUT: np.ndarray | None = None


def colour_maps(maps: np.ndarray, lo: float, hi: float) -> list[str]:
    """Each channel of ``(H, W, C)`` feature maps as a PNG URL, on one scale ``lo..hi``
    (viridis: dark for ``lo``, yellow for ``hi``)."""
    global _LUT
    if _LUT is None:
        _LUT = _lut()
    span = hi - lo if hi > lo else 1.0
    idx = np.rint(np.clip((np.asarray(maps, dtype=np.float64) - lo) / span, 0, 1) * 255)
    rgb = _LUT[idx.astype(np.intp)]  # (H, W, C, 3)
    return [png_url(rgb[:, :, c]) for c in range(rgb.shape[2])]
