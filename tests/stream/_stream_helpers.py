"""A tiny class-folder dataset of real PNG files (learnable: each class has its own colour)."""

from __future__ import annotations

from pathlib import Path

from _helpers import noise, write_class_folders

# Each class its own colour plus noise (learnable).
PIXELS = noise([(60 * k, 200 - 60 * k, 100) for k in range(3)], sd=25)


def make_folder(root: Path, n_per_class: int = 12, side: int = 20, seed: int = 0) -> Path:
    """``root/class_{k}/img_{i:03d}.png``: 3 classes of ``side`` x ``side`` RGB images."""
    classes = {f"class_{k}": n_per_class for k in range(3)}
    return write_class_folders(
        root, classes, (side, side), pixels=PIXELS, seed=seed, name="img_{i:03d}"
    )


def corrupt(path: Path) -> Path:
    """Cut a PNG in half: Pillow refuses it (never half-decoded)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
