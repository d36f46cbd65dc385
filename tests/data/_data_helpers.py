"""Small image files and folders for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, size=(12, 10), color=(200, 30, 30), fmt: str | None = None, **kw):
    """Write a solid-color image of ``size`` (width, height) with a small gradient."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[...] = color
    arr[:, :, 2] = np.linspace(0, 60, w, dtype=np.uint8)[None, :]
    Image.fromarray(arr, "RGB").save(path, format=fmt, **kw)
    return path


def make_class_folders(root: Path, counts: dict[str, int], size=(12, 10), ext=".png") -> Path:
    """``root/<class>/<i>.png`` with a distinct color per class."""
    colors = [(250, 0, 0), (0, 250, 0), (0, 0, 250), (250, 250, 0), (0, 250, 250)]
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_image(root / name / f"{i:03d}{ext}", size, colors[k % len(colors)])
    return root
