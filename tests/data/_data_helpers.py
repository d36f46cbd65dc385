"""Small image files and folders for the data tests."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from _helpers import write_class_folders


def write_image(path: Path, size=(12, 10), color=(200, 30, 30), fmt: str | None = None, **kw):
    """Write a solid-color image of ``size`` (width, height) with a small gradient."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[...] = color
    arr[:, :, 2] = np.linspace(0, 60, w, dtype=np.uint8)[None, :]
    Image.fromarray(arr, "RGB").save(path, format=fmt, **kw)
    return path


# Class folders: the shared writer with the data tests' images, ``root/<class>/000.png``, ...:
# 12 wide, 10 high, one colour per class with a blue gradient (``make_class_folders(root,
# {"a": 2, "b": 2})``).
make_class_folders = functools.partial(
    write_class_folders, size=(10, 12), pixels="solid", name="{i:03d}"
)
