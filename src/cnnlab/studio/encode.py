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


#: matplotlib's viridis as 256 RGB bytes (``np.rint(colormaps["viridis"](np.linspace(0, 1,
#: 256))[:, :3] * 255)``, checked against matplotlib in the tests), written out so that a
#: feature map is coloured without importing matplotlib (half a second).
_VIRIDIS_HEX = (
    "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
    "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
    "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
    "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
    "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
    "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
    "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
    "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
    "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
    "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
    "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
    "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
    "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
    "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
    "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
    "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725"
)


VIRIDIS = np.frombuffer(bytes.fromhex("".join(_VIRIDIS_HEX)), dtype=np.uint8).reshape(256, 3)


def colour_maps(maps: np.ndarray, lo: float, hi: float) -> list[str]:
    """Each channel of ``(H, W, C)`` feature maps as a PNG URL, on one scale ``lo..hi``
    (viridis: dark for ``lo``, yellow for ``hi``)."""
    span = hi - lo if hi > lo else 1.0
    idx = np.rint(np.clip((np.asarray(maps, dtype=np.float64) - lo) / span, 0, 1) * 255)
    rgb = VIRIDIS[idx.astype(np.intp)]  # (H, W, C, 3)
    return [png_url(rgb[:, :, c]) for c in range(rgb.shape[2])]


BLUE_WHITE_RED = ((33, 82, 156), (255, 255, 255), (196, 43, 52))
"""The diverging scale of weights and signed values (colors.js uses the same three colours):
blue for the most negative, white for 0, red for the most positive."""


def diverging_maps(maps: np.ndarray, extent: float) -> list[str]:
    """Each channel of ``(H, W, C)`` signed values as a PNG URL, blue-white-red on
    ``-extent..extent`` (white is 0)."""
    blue, white, red = (np.array(c, dtype=np.float64) for c in BLUE_WHITE_RED)
    t = np.clip(np.asarray(maps, dtype=np.float64) / (extent or 1.0), -1.0, 1.0)[..., None]
    rgb = np.where(t < 0, white + (blue - white) * -t, white + (red - white) * t)
    rgb = np.rint(rgb).astype(np.uint8)
    return [png_url(rgb[:, :, c]) for c in range(rgb.shape[2])]


def gray_maps(maps: np.ndarray) -> list[str]:
    """Each channel of ``(H, W, C)`` pixels scaled to 0..1 as a gray PNG URL (white is 1), as
    the photo is: an image's channels are never drawn in a colour scale."""
    a = np.asarray(maps, dtype=np.float64)
    return [png_url(a[:, :, c]) for c in range(a.shape[2])]
