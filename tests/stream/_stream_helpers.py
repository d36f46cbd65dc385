"""A tiny class-folder dataset of real PNG files (learnable: each class has its own colour)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_folder(root: Path, n_per_class: int = 12, side: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for k in range(3):
        (root / f"class_{k}").mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            base = np.zeros((side, side, 3)) + [60 * k, 200 - 60 * k, 100]
            img = np.clip(base + rng.normal(0, 25, (side, side, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / f"class_{k}" / f"img_{i:03d}.png")
    return root


def corrupt(path: Path) -> Path:
    """Cut a PNG in half: Pillow refuses it (never half-decoded)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
