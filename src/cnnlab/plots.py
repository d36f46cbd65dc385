"""Pictures of a training run: learning curves, confusion matrix, filters, feature maps.

Every function builds a :class:`matplotlib.figure.Figure` directly and returns it: no
pyplot, no backend switch, so the caller's matplotlib (a notebook's inline display, an
interactive window) is left as it was. A notebook shows the returned figure with
``display(fig)``; a script or the CLI writes it with :func:`cnnlab._io.save_figure`
(atomically: a temporary file renamed into place), or passes ``path=`` to do both at once.
Single-panel plots also draw into a given ``ax``. The arrays come from real computations
(a run's history, a model's predictions, its weights and activations); nothing here is
drawn by hand.

Example:
    >>> fig = plot_learning_curves({"loss": [0.9, 0.5], "val_loss": [1.0, 0.7]})
    >>> save_figure(fig, "curves.png")                 # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from cnnlab._io import save_figure
from cnnlab._text import display_name
from cnnlab.errors import ArgumentError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_MAPS_PER_LAYER = 16
"""At most this many channels of each layer are drawn in a feature-map grid."""


def _figure(figsize: tuple[float, float], dpi: int) -> Figure:
    """A new figure that belongs to no pyplot state (no backend is chosen or changed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi)


def _done(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Write ``fig`` to ``path`` atomically when a path is given; return ``fig``."""
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_learning_curves(
    history: Mapping[str, Sequence[float]],
    *,
    axes: Sequence[Axes] | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Loss and accuracy per epoch, training and validation, side by side.

    Args:
        history: Keras-style history: ``{"loss": [...], "accuracy": [...],
            "val_loss": [...], "val_accuracy": [...]}``, one value per epoch;
            missing keys are skipped.
        axes: two Axes to draw the loss and the accuracy into (default: a new
            1000x400-pixel figure at the default dpi).
        path: also write the figure there as PNG (atomically).

    Returns:
        The figure drawn into.

    Example:
        >>> fig = plot_learning_curves({"loss": [0.9, 0.5], "accuracy": [0.6, 0.8]})
        >>> [ax.get_title() for ax in fig.axes]
        ['Loss', 'Accuracy']
    """
    if not history or not any(len(v) for v in history.values()):
        raise ArgumentError("history must hold at least one epoch. Received: an empty history")
    if axes is None:
        fig = _figure((10, 4), dpi)
        axes = fig.subplots(1, 2)
        own = True
    else:
        if len(axes) != 2:
            raise ArgumentError(
                f"axes must be two Axes (loss, accuracy). Received: {len(axes)} axes"
            )
        fig, own = axes[0].figure, False
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
    if own:
        fig.tight_layout()
    return _done(fig, path)


def plot_compare_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    *,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Several runs' learning curves overlaid: loss and accuracy, one colour per run,
    training dashed and validation solid, the legend naming the runs.

    Args:
        histories: run name -> Keras-style history (``loss``, ``accuracy``, ``val_loss``,
            ``val_accuracy``; missing keys are skipped), as
            :func:`cnnlab.training.compare.compare_runs` gives them.
        path: also write the figure there as PNG (atomically).

    Returns:
        The figure (two panels: Loss, Accuracy).

    Example:
        >>> fig = plot_compare_curves({"a": {"loss": [0.9, 0.5]}, "b": {"loss": [0.8, 0.6]}})
        >>> [ax.get_title() for ax in fig.axes]
        ['Loss', 'Accuracy']
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    if not histories or not any(len(v) for history in histories.values() for v in history.values()):
        raise ArgumentError("histories must hold at least one epoch. Received: no epochs")
    fig = _figure((11, 4.5), dpi)
    axes = fig.subplots(1, 2)
    colours = [f"C{i % 10}" for i in range(len(histories))]
    for ax, metric, label in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        for colour, history in zip(colours, histories.values(), strict=True):
            for key, style in ((metric, "--"), (f"val_{metric}", "-")):
                values = list(history.get(key, []))
                if values:
                    ax.plot(np.arange(1, len(values) + 1), values, style, color=colour)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label.lower())
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
    handles = [
        Line2D([], [], color=colour, label=display_name(name))
        for colour, name in zip(colours, histories, strict=True)
    ]
    handles += [
        Line2D([], [], color="black", linestyle="--", label="train"),
        Line2D([], [], color="black", linestyle="-", label="validation"),
    ]
    axes[1].legend(handles=handles, fontsize="small")
    fig.tight_layout()
    return _done(fig, path)


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
    *,
    title: str = "Confusion matrix (test set)",
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """A confusion matrix with counts in the cells, true class down, predicted across.

    Args:
        y_true: ``(N,)`` integer labels.
        y_pred: ``(N,)`` predicted integer labels.
        class_names: one name per class index.
        title: the title (the accuracy is added under it).
        ax: the Axes to draw into (default: a new square figure sized to the classes).
        path: also write the figure there as PNG (atomically).

    Returns:
        The figure drawn into.
    """
    n = len(class_names)
    labels = [display_name(c) for c in class_names]
    title = display_name(title)
    cm = confusion_matrix(y_true, y_pred, n)
    own = ax is None
    if ax is None:
        side = max(4.0, 0.55 * n + 2.5)
        fig = _figure((side, side), dpi)
        ax = fig.subplots()
    else:
        fig = ax.figure
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
    if own:
        fig.tight_layout()
    return _done(fig, path)


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
    kernel: np.ndarray,
    *,
    title: str = "filters",
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """A grid of a conv layer's filters (a new figure: one small image per filter).

    Args:
        kernel: ``(kh, kw, c_in, c_out)`` weights (Keras layout); RGB when
            ``c_in == 3``, else the mean over the input channels.
        title: the title over the grid.
        path: also write the figure there as PNG (atomically).

    Returns:
        The new figure.
    """
    images = _filter_images(kernel)
    rows, cols = _grid(len(images))
    fig = _figure((1.2 * cols, 1.2 * rows + 0.5), dpi)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), images, strict=False):
        ax.imshow(img, cmap=None if img.ndim == 3 else "gray", interpolation="nearest")
    fig.suptitle(display_name(title))
    fig.tight_layout()
    return _done(fig, path)


def plot_feature_maps(
    image: np.ndarray | None,
    maps: Sequence[tuple[str, np.ndarray]],
    *,
    kernel: np.ndarray | None = None,
    max_maps: int = MAX_MAPS_PER_LAYER,
    max_filters: int = 64,
    title: str | None = None,
    attention: Sequence[tuple[str, np.ndarray]] | None = None,
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """One picture: the input image, the first layer's filters, and each layer's feature maps.

    Args:
        image: ``(H, W, C)`` input image in [0, 1] (C = 1 or 3), or None.
        maps: ``(layer name, (H', W', C') activations)`` for each layer, in order.
        kernel: ``(kh, kw, c_in, c_out)`` weights of the first conv layer, or None.
        max_maps: at most this many channels drawn per layer (the first ones).
        max_filters: at most this many filters drawn.
        title: a title over the whole figure.
        attention: optional ``(label, image)`` pairs drawn in one row after the input, e.g.
            a Grad-CAM overlay ``(H, W, 3)`` and a saliency map ``(H, W)`` (see
            :mod:`cnnlab.interpret`); 2-D images are scaled to [0, 1] and drawn in "hot".
        path: also write the figure there as PNG (atomically).

    Returns:
        The new figure (a grid that grows with the layers).

    Example:
        >>> fig = plot_feature_maps(img, [("conv2d", a1)], kernel=w)  # doctest: +SKIP
        >>> save_figure(fig, "show.png")                              # doctest: +SKIP
    """
    if not maps and kernel is None and image is None:
        raise ArgumentError("nothing to draw: give an image, a kernel or at least one feature map")
    rows_spec: list[tuple[str, list[np.ndarray], str | None]] = []
    if image is not None:
        img = np.asarray(image, dtype=np.float64)
        if img.ndim == 3 and img.shape[2] == 1:
            img = img[:, :, 0]
        rows_spec.append(("input", [np.clip(img, 0.0, 1.0)], None))
    if attention:
        label = " | ".join(display_name(name) for name, _ in attention)
        imgs = [
            _normalize(a) if np.ndim(a) == 2 else np.clip(np.asarray(a, np.float64), 0, 1)
            for _, a in attention
        ]
        rows_spec.append((label, imgs, "hot"))
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
    total = sum(grid_rows)
    fig = _figure((1.3 * cols, 1.3 * total + 0.45 * len(rows_spec) + 0.6), dpi)
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
    return _done(fig, path)


def _panel_image(ax, img: np.ndarray) -> None:
    img = np.clip(np.asarray(img, dtype=np.float64), 0.0, 1.0)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_top_losses(
    images: np.ndarray,
    true_names: Sequence[str],
    pred_names: Sequence[str],
    probs: Sequence[float],
    losses: Sequence[float],
    *,
    cams: np.ndarray | None = None,
    title: str = "Top losses: true / predicted (probability) / loss",
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """A grid of the images the model got most wrong, worst first.

    Args:
        images: ``(K, H, W, C)`` in [0, 1].
        true_names / pred_names: the true and the predicted class of each image.
        probs: the probability the model gave its prediction; losses: each image's loss.
        cams: optional ``(K, H, W)`` Grad-CAM maps in [0, 1], drawn over the images.
        path: also write the figure there as PNG (atomically).

    Returns:
        The new figure.
    """
    n = len(images)
    if n == 0:
        raise ArgumentError("plot_top_losses: no images to draw")
    rows, cols = _grid(n, 4)
    fig = _figure((2.3 * cols, 2.8 * rows + 0.4), dpi)  # room for two title lines a row
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, ax in enumerate(axes.ravel()[:n]):
        img = images[i] if cams is None else overlay(images[i], cams[i])
        _panel_image(ax, img)
        ax.axis("on")
        ok = true_names[i] == pred_names[i]
        ax.set_title(
            f"{display_name(true_names[i])} / {display_name(pred_names[i])} "
            f"({float(probs[i]):.2f})\nloss {float(losses[i]):.2f}",
            fontsize=8,
            color="black" if ok else "firebrick",
        )
    fig.suptitle(
        display_name(title) + (" (Grad-CAM of the prediction)" if cams is not None else ""),
        fontsize=10,
    )
    fig.tight_layout()
    return _done(fig, path)


def plot_normalized_confusion(
    cm: np.ndarray,
    class_names: Sequence[str],
    *,
    counts: np.ndarray | None = None,
    title: str = "Confusion matrix, normalized by true class",
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """A row-normalized confusion matrix (recall on the diagonal), true down, predicted across.

    Args:
        cm: ``(n, n)`` fractions, each row summing to 1 (or 0 for a class with no images).
        class_names: one name per class.
        counts: optional ``(n, n)`` counts, written under each fraction.
        path: also write the figure there as PNG (atomically).
    """
    cm = np.asarray(cm, dtype=np.float64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ArgumentError(f"cm must be ({n}, {n}) for {n} classes. Received: {cm.shape}")
    labels = [display_name(c) for c in class_names]
    side = max(4.0, 0.6 * n + 2.5)
    fig = _figure((side, side), dpi)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    ax.set_xticks(ticks, labels=labels, rotation=45 if n > 4 else 0, ha="right")
    ax.set_yticks(ticks, labels=labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(display_name(title), fontsize=10)
    for i in range(n):
        for j in range(n):
            text = f"{cm[i, j]:.2f}" + (f"\n({int(counts[i, j])})" if counts is not None else "")
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if cm[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    return _done(fig, path)


def plot_grad_cam(
    images: np.ndarray,
    cams: np.ndarray,
    *,
    titles: Sequence[str] | None = None,
    saliency: np.ndarray | None = None,
    title: str = "Grad-CAM: where the evidence for the predicted class lies",
    path: str | os.PathLike | None = None,
    dpi: int = 100,
) -> Figure:
    """Each image (top row), its Grad-CAM overlay (middle) and optionally its saliency map.

    Args:
        images: ``(K, H, W, C)`` in [0, 1]; cams: ``(K, H, W)`` in [0, 1].
        titles: one short title per image.
        saliency: optional ``(K, H, W)`` saliency maps (each scaled to [0, 1] to draw).
        path: also write the figure there as PNG (atomically).
    """
    k = len(images)
    if k == 0 or len(cams) != k:
        raise ArgumentError(f"plot_grad_cam: {k} images and {len(cams)} maps")
    rows = 3 if saliency is not None else 2
    fig = _figure((1.6 * k + 0.6, 1.7 * rows + 0.6), dpi)
    axes = fig.subplots(rows, k, squeeze=False)
    for i in range(k):
        _panel_image(axes[0, i], images[i])
        if titles is not None:
            axes[0, i].set_title(display_name(titles[i]), fontsize=7)
        _panel_image(axes[1, i], overlay(images[i], cams[i]))
        if saliency is not None:
            axes[2, i].imshow(_normalize(saliency[i]), cmap="hot", interpolation="nearest")
            axes[2, i].set_xticks([])
            axes[2, i].set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("Grad-CAM", fontsize=8)
    if saliency is not None:
        axes[2, 0].set_ylabel("saliency", fontsize=8)
    fig.suptitle(display_name(title), fontsize=10)
    fig.tight_layout()
    return _done(fig, path)


#: matplotlib's "jet" (its segment data, each channel linear between the points), as its
#: 256-colour table: the studio colours a Grad-CAM with it without importing matplotlib.
_JET_POINTS = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}
JET = np.stack(
    [
        np.interp(np.linspace(0.0, 1.0, 256), *zip(*_JET_POINTS[c], strict=True))
        for c in ("red", "green", "blue")
    ],
    axis=1,
)


def jet(heat: np.ndarray) -> np.ndarray:
    """``colormaps["jet"](heat)[..., :3]`` for ``heat`` in [0, 1], without matplotlib."""
    index = np.clip(np.asarray(heat, dtype=np.float64) * 256, 0, 255).astype(np.intp)
    return JET[index]


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """An RGB ``(H, W, 3)`` picture: ``image`` (``(H, W, C)`` in [0, 1], grey or RGB) with
    ``heat`` (``(H, W)`` in [0, 1]) over it in the "jet" colours, each pixel's colour mixed
    in by ``alpha * heat`` (cold places show the image as it is)."""
    img = np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    heat = np.clip(np.asarray(heat, dtype=np.float64), 0.0, 1.0)
    colours = jet(heat)
    a = alpha * heat[:, :, None]
    return np.clip((1 - a) * img + a * colours, 0.0, 1.0)
