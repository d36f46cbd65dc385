"""A PNG grid of sample images per class, for ``cnnlab data info``."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnlab import _io, _validate
from cnnlab._io import save_figure
from cnnlab._text import display_name
from cnnlab.data.dataset import Dataset


def sample_grid(
    dataset: Dataset, out: str | os.PathLike, per_class: int = 8, seed: int = 0
) -> Path:
    """Write a PNG with one row per class and up to ``per_class`` sample images each.

    Samples are drawn (with ``numpy.random.default_rng(seed)``) from all splits. The
    file is written atomically; matplotlib's global state (backend, pyplot) is not touched.

    Returns:
        The path written.
    """
    per_class = _validate.positive_int(per_class, "per_class")
    out = _io.png_path(out, "out", "the grid is a PNG")
    from matplotlib.figure import Figure  # no pyplot: the caller's backend is left alone

    x = np.concatenate([dataset.x_train, dataset.x_val, dataset.x_test])
    y = np.concatenate([dataset.y_train, dataset.y_val, dataset.y_test])
    rng = np.random.default_rng(seed)
    rows = dataset.n_classes
    fig = Figure(figsize=(1.1 * per_class + 1.2, 1.1 * rows + 0.4), dpi=100)
    axes = fig.subplots(rows, per_class, squeeze=False)
    for k, name in enumerate(dataset.class_names):
        idx = np.flatnonzero(y == k)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for j in range(per_class):
            ax = axes[k][j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(pick):
                img = x[pick[j]]
                if img.shape[-1] == 1:
                    ax.imshow(img[:, :, 0], cmap="gray", vmin=0, vmax=255)
                else:
                    ax.imshow(img)
            if j == 0:
                label = f"{display_name(name)}\n({len(idx)})"
                ax.set_ylabel(label, rotation=0, ha="right", va="center")
    h, w, c = dataset.image_shape
    fig.suptitle(f"{display_name(dataset.name)}: {len(y)} images of {h}x{w}x{c}")
    return save_figure(fig, out, bbox_inches="tight")
