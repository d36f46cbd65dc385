"""The dataset value and its deterministic, stratified train/validation/test split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnnlab._text import display_name
from cnnlab.errors import ArgumentError, DatasetError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images and integer labels, split into train, validation and test.

    Every ``x_*`` is ``uint8`` of shape ``(N, H, W, C)`` (NHWC, ``C`` is 3 for RGB or 1
    for grayscale), every ``y_*`` is ``int64`` of shape ``(N,)`` with values in
    ``range(len(class_names))``. A split may be empty (``N == 0``).

    Example:
        >>> ds = make_synthetic(n_per_class=10, image_size=(8, 8), n_classes=2)  # doctest: +SKIP
        >>> ds.x_train.shape, ds.class_names                                       # doctest: +SKIP
        ((14, 8, 8, 3), ['class_0', 'class_1'])
    """

    name: str
    class_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str = ""
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [str(c) for c in self.class_names]
        object.__setattr__(self, "class_names", names)
        shape = None
        for split in SPLITS:
            x = np.ascontiguousarray(getattr(self, f"x_{split}"))
            y = np.asarray(getattr(self, f"y_{split}"))
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ArgumentError(
                    f"x_{split} must be uint8 of shape (N, H, W, C). "
                    f"Received: dtype={x.dtype}, shape={x.shape}"
                )
            if y.ndim != 1 or len(y) != len(x):
                raise ArgumentError(
                    f"y_{split} must have shape ({len(x)},) to match x_{split}. "
                    f"Received: shape={y.shape}"
                )
            if y.dtype.kind == "f" and y.size and not np.all(np.isfinite(y) & (y == np.round(y))):
                raise ArgumentError(
                    f"y_{split} must hold integer labels. Received: NaN, inf or non-integer "
                    "float values"
                )
            if y.dtype.kind not in "iubf" and y.size:
                raise ArgumentError(
                    f"y_{split} must hold integer labels. Received: dtype={y.dtype}"
                )
            y = y.astype(np.int64, copy=False)
            if len(y) and (y.min() < 0 or y.max() >= len(names)):
                raise ArgumentError(
                    f"y_{split} holds labels outside 0..{len(names) - 1} "
                    f"(class_names={names}). Received: min={y.min()}, max={y.max()}"
                )
            if len(x):
                if shape is not None and x.shape[1:] != shape:
                    raise ArgumentError(
                        f"All splits must share one image shape. Received: {shape} and "
                        f"x_{split}.shape[1:]={x.shape[1:]}"
                    )
                shape = x.shape[1:]
            object.__setattr__(self, f"x_{split}", x)
            object.__setattr__(self, f"y_{split}", y)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of every image."""
        for split in SPLITS:
            x = getattr(self, f"x_{split}")
            if len(x):
                return tuple(int(s) for s in x.shape[1:])
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes (``len(class_names)``)."""
        return len(self.class_names)

    def __len__(self) -> int:
        return sum(len(getattr(self, f"y_{s}")) for s in SPLITS)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of the split ``"train"``, ``"val"`` or ``"test"``."""
        if name not in SPLITS:
            raise ArgumentError(f"split must be one of {SPLITS}. Received: split={name!r}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Images per class in each split: ``{"train": {"cat": 120, ...}, "val": ..., ...}``."""
        out: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            counts = np.bincount(getattr(self, f"y_{split}"), minlength=self.n_classes)
            out[split] = {c: int(n) for c, n in zip(self.class_names, counts, strict=True)}
        return out

    def class_weights(self) -> dict[int, float]:
        """Balanced class weights from the training split, ready for Keras ``class_weight``.

        ``weight[k] = n_train / (n_classes * count[k])`` (scikit-learn's "balanced"), so
        a rare class weighs more. A class absent from the training split gets 1.0.
        """
        counts = np.bincount(self.y_train, minlength=self.n_classes)
        total = counts.sum()
        return {
            k: (float(total / (self.n_classes * n)) if n else 1.0) for k, n in enumerate(counts)
        }

    def summary(self) -> str:
        """A few lines: name, image shape and the counts per class and split."""

        h, w, c = self.image_shape
        name = display_name(self.name)
        lines = [f"{name}: {len(self)} images of {h}x{w}x{c}, {self.n_classes} classes"]
        counts = self.class_counts()
        width = max([len(n) for n in self.class_names] + [5])
        lines.append(f"  {'class':<{width}} {'train':>7} {'val':>7} {'test':>7}")
        for name in self.class_names:
            row = " ".join(f"{counts[s][name]:>7}" for s in SPLITS)
            lines.append(f"  {display_name(name):<{width}} {row}")
        total = " ".join(f"{sum(counts[s].values()):>7}" for s in SPLITS)
        lines.append(f"  {'total':<{width}} {total}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        h, w, c = self.image_shape
        sizes = ", ".join(f"{s}={len(getattr(self, f'y_{s}'))}" for s in SPLITS)
        return f"Dataset(name={self.name!r}, classes={self.n_classes}, image={h}x{w}x{c}, {sizes})"


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Raise ``ValueError`` unless both fractions lie in [0, 1) and sum below 1."""
    for label, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not (isinstance(f, int | float) and 0.0 <= float(f) < 1.0):
            raise ArgumentError(f"{label} must be in [0, 1). Received: {label}={f!r}")
    if val_fraction + test_fraction >= 1.0:
        raise ArgumentError(
            "val_fraction + test_fraction must be below 1 so that training data remains. "
            f"Received: val_fraction={val_fraction}, test_fraction={test_fraction}"
        )


def stratified_indices(y: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Split ``range(len(y))`` by class into ``len(fractions) + 1`` index arrays.

    For each class with ``n`` images, part ``i`` gets ``round(n * fractions[i])`` of them
    (chosen by a permutation from ``numpy.random.default_rng(seed)``); the last part gets
    the rest. Each part is returned in a seeded shuffled order, so classes are mixed.

    Args:
        y: int labels, shape ``(N,)``.
        fractions: fraction of each class for every part but the last.
        seed: integer seed; the same seed and labels give the same split.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        idx = idx[rng.permutation(len(idx))]
        start = 0
        for i, f in enumerate(fractions):
            n = int(round(len(idx) * f))
            n = min(n, len(idx) - start)
            parts[i].append(idx[start : start + n])
            start += n
        parts[-1].append(idx[start:])
    out = []
    for chunks in parts:
        merged = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        out.append(merged[rng.permutation(len(merged))].astype(np.int64))
    return out


def split_dataset(
    name: str,
    class_names: list[str],
    x: np.ndarray,
    y: np.ndarray,
    *,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    source: str = "",
    meta: dict | None = None,
) -> Dataset:
    """Build a :class:`Dataset` from all images, or from a train part and a given test part.

    Without ``x_test``, ``x`` (shape ``(N, H, W, C)``) is split per class into
    ``val_fraction`` / ``test_fraction`` / the rest for training. With ``x_test`` (the
    source's own test split, kept as is), ``val_fraction`` of each class of ``x`` becomes
    the validation set and ``test_fraction`` is ignored.
    """
    check_fractions(val_fraction, test_fraction)
    y = np.asarray(y, dtype=np.int64)
    if x_test is None:
        val_idx, test_idx, train_idx = stratified_indices(y, (val_fraction, test_fraction), seed)
        xt, yt = x[test_idx], y[test_idx]
    else:
        val_idx, train_idx = stratified_indices(y, (val_fraction,), seed)
        xt, yt = x_test, np.asarray(y_test, dtype=np.int64)
    if len(train_idx) == 0 and len(y):
        raise DatasetError(f"{source or name}: too few images to split ({len(y)})")
    return Dataset(
        name=name,
        class_names=list(class_names),
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_val=x[val_idx],
        y_val=y[val_idx],
        x_test=xt,
        y_test=yt,
        source=source,
        meta=dict(meta or {}),
    )
