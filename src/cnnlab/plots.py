"""Pictures of a training run: learning curves, confusion matrix, filters, feature maps.

Every function draws with matplotlib's Agg backend (no display needed), writes a
PNG atomically (a temporary file renamed into place) and returns the path. The
arrays come from real computations (a run's history, a model's predictions, its
weights and activations); nothing here is drawn by hand.

Example:
    >>> plot_learning_curves({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]},
    ...                      "curves.png")          # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cnnlab._io import save_figure
from cnnlab.errors import ArgumentError

MAX_MAPS_PER_LAYER = 16
"""At most this many channels of each layer are drawn in a feature-map grid."""


def display_name(name: object) -> str:
    """``name`` as text every font and encoder accepts: undecodable bytes become U+FFFD.

    A file or folder name that is not valid UTF-8 reaches Python (on POSIX) with
    surrogate escapes (``b"caf\\xe9"`` -> ``"caf\\udce9"``), which matplotlib cannot draw and
    UTF-8 cannot encode. Each such byte, and any other lone surrogate, becomes the
    replacement character; every other name is returned unchanged.

    Example:
        >>> display_name("caf\\udce9") == "caf\\N{REPLACEMENT CHARACTER}"
        True
    """
    text = str(name)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike, dpi: int) -> Path:
    try:
        return save_figure(fig, path, dpi=dpi)
    finally:
        _pyplot().close(fig)


def plot_learning_curves(
    history: Mapping[str, Sequence[float]], path: str | os.PathLike, *, dpi: int = 100
) -> Path:
    """Loss and accuracy per epoch, training and validation, side by side.

    Args:
        history: Keras-style history: ``{"loss": [...], "accuracy": [...],
            "val_loss": [...], "val_accuracy": [...]}``, one value per epoch;
            missing keys are skipped.
        path: the PNG to write (1000x400 pixels at the default dpi).

    Returns:
        ``path`` as a ``Path``.
    """
    if not history or not any(len(v) for v in history.values()):
        raise ArgumentError("history must hold at least one epoch. Received: an empty history")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, label in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        for key, style, name in ((metric, "-o", "train"), (f"val_{metric}", "-s", "validation")):
            values = list(history.get(key, []))
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, style, markersize=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
        if ax.has_data():
            ax.legend()
    fig.tight_layout()
    return _save(fig, path, dpi)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts ``(n_classes, n_classes)``: row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ArgumentError(
            "y_true and y_pred must have the same length. "
            f"Received: {y_true.shape[0]} and {y_pred.shape[0]}"
        )
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ArgumentError(f"{name} holds labels outside 0..{n_classes - 1}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def plot_confusion_matrix(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str = "Confusion matrix (test set)",
    dpi: int = 100,
) -> Path:
    """A confusion matrix with counts in the cells, true class down, predicted across.

    Args:
        y_true: ``(N,)`` integer labels.
        y_pred: ``(N,)`` predicted integer labels.
        class_names: one name per class index.
        path: the PNG to write.
    """
    n = len(class_names)
    labels = [display_name(c) for c in class_names]
    title = display_name(title)
    cm = confusion_matrix(y_true, y_pred, n)
    plt = _pyplot()
    side = max(4.0, 0.55 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side, side))
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    ax.set_xticks(ticks, labels=labels, rotation=45 if n > 4 else 0, ha="right")
    ax.set_yticks(ticks, labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.1%} of {cm.sum()}")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > threshold else "black",
            )
    fig.tight_layout()
    return _save(fig, path, dpi)


def _normalize(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    if hi - lo < 1e-12:
        return np.zeros_like(a)
    return (a - lo) / (hi - lo)


def _grid(n: int, max_cols: int = 8) -> tuple[int, int]:
    cols = min(n, max_cols)
    return math.ceil(n / cols), cols


def _filter_images(kernel: np.ndarray) -> list[np.ndarray]:
    """One image per output channel of a ``(kh, kw, c_in, c_out)`` kernel.

    Three input channels are shown in colour (RGB), others as the mean over the
    input channels in grey; each filter is scaled to [0, 1] on its own.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ArgumentError(
            f"kernel must have shape (kh, kw, c_in, c_out). Received: shape={kernel.shape}"
        )
    images = []
    for k in range(kernel.shape[3]):
        f = kernel[:, :, :, k]
        images.append(_normalize(f) if f.shape[2] == 3 else _normalize(f.mean(axis=2)))
    return images


def plot_filters(
    kernel: np.ndarray, path: str | os.PathLike, *, title: str = "filters", dpi: int = 100
) -> Path:
    """A grid of a conv layer's filters.

    Args:
        kernel: ``(kh, kw, c_in, c_out)`` weights (Keras layout); RGB when
            ``c_in == 3``, else the mean over the input channels.
        path: the PNG to write.
    """
    images = _filter_images(kernel)
    rows, cols = _grid(len(images))
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), images, strict=False):
        ax.imshow(img, cmap=None if img.ndim == 3 else "gray", interpolation="nearest")
    fig.suptitle(display_name(title))
    fig.tight_layout()
    return _save(fig, path, dpi)


def plot_feature_maps(
    image: np.ndarray | None,
    maps: Sequence[tuple[str, np.ndarray]],
    path: str | os.PathLike,
    *,
    kernel: np.ndarray | None = None,
    max_maps: int = MAX_MAPS_PER_LAYER,
    max_filters: int = 64,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """One picture: the input image, the first layer's filters, and each layer's feature maps.

    Args:
        image: ``(H, W, C)`` input image in [0, 1] (C = 1 or 3), or None.
        maps: ``(layer name, (H', W', C') activations)`` for each layer, in order.
        path: the PNG to write.
        kernel: ``(kh, kw, c_in, c_out)`` weights of the first conv layer, or None.
        max_maps: at most this many channels drawn per layer (the first ones).
        max_filters: at most this many filters drawn.
        title: a title over the whole figure.

    Example:
        >>> plot_feature_maps(img, [("conv2d", a1)], "show.png", kernel=w)  # doctest: +SKIP
    """
    if not maps and kernel is None and image is None:
        raise ArgumentError("nothing to draw: give an image, a kernel or at least one feature map")
    rows_spec: list[tuple[str, list[np.ndarray], str | None]] = []
    if image is not None:
        img = np.asarray(image, dtype=np.float64)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        rows_spec.append(("input", [np.clip(img, 0.0, 1.0)], None))
    if kernel is not None:
        kh, kw, c_in, c_out = np.shape(kernel)
        label = f"first conv layer: {c_out} filters of {kh}x{kw}x{c_in}"
        rows_spec.append((label, _filter_images(kernel)[:max_filters], None))
    for name, act in maps:
        act = np.asarray(act)
        if act.ndim != 3:
            raise ArgumentError(f"feature maps of {name} must be (H, W, C). Received: {act.shape}")
        n = min(act.shape[2], max_maps)
        shown = f"{display_name(name)}: {act.shape[0]}x{act.shape[1]}x{act.shape[2]}"
        if act.shape[2] > n:
            shown += f" (first {n})"
        rows_spec.append((shown, [_normalize(act[:, :, c]) for c in range(n)], "viridis"))

    cols = max(min(len(imgs), 8) for _, imgs, _ in rows_spec)
    grid_rows = [math.ceil(len(imgs) / cols) for _, imgs, _ in rows_spec]
    plt = _pyplot()
    total = sum(grid_rows)
    fig = plt.figure(figsize=(1.3 * cols, 1.3 * total + 0.45 * len(rows_spec) + 0.6))
    gs = fig.add_gridspec(total, cols)
    r0 = 0
    for (label, imgs, cmap), nrows in zip(rows_spec, grid_rows, strict=True):
        for i, img in enumerate(imgs):
            ax = fig.add_subplot(gs[r0 + i // cols, i % cols])
            ax.imshow(
                img, cmap=(cmap or "gray") if img.ndim == 2 else None, interpolation="nearest"
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(label, loc="left", fontsize=9)
        r0 += nrows
    if title:
        fig.suptitle(display_name(title))
    fig.tight_layout()
    return _save(fig, path, dpi)
