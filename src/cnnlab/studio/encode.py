"""Arrays as the page receives them: rounded nested lists, and PNG data URLs."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

SIGNIFICANT = 6
"""Digits kept of every number sent to the page (JSON stays small and readable)."""


def rounded(arr: Any) -> Any:
    """A nested list of ``arr`` with 6 significant digits; NaN becomes ``None``."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim == 0:
        return None if np.isnan(a) else float(f"{float(a):.{SIGNIFICANT}g}")
    if np.isnan(a).any():
        return [rounded(row) for row in a]
    text = np.char.mod(f"%.{SIGNIFICANT}g", a)
    return text.astype(np.float64).tolist()


def png_url(image: np.ndarray) -> str:
    """A uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` image (or float in [0, 1]) as a
    ``data:image/png;base64,...`` URL."""
    from PIL import Image

    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


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
