"""Built-in data that needs no network: scikit-learn's 8x8 digits and synthetic sets."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from cnnlab import _validate
from cnnlab.data.dataset import Dataset, split_dataset
from cnnlab.data.images import conform_images, normalize_image_size
from cnnlab.errors import ArgumentError, DatasetError


def _digits_file() -> Path:
    """``digits.csv.gz`` inside the installed scikit-learn, found without importing it."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise DatasetError("the built-in digits come with scikit-learn: pip install scikit-learn")
    return Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"


def digits_arrays() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """scikit-learn's bundled digits (1,797 real 8x8 images, 10 classes), no download.

    The CSV file scikit-learn ships (each row 64 pixels 0..16, then the class) is read
    directly: what ``sklearn.datasets.load_digits`` returns, without importing scikit-learn,
    which imports SciPy's statistics (seconds on a small machine).

    Returns:
        ``x`` uint8 ``(1797, 8, 8, 1)`` (values 0..16 scaled to 0..255), ``y`` int64
        ``(1797,)``, class names ``"0"`` .. ``"9"``.
    """
    path = _digits_file()
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            data = np.loadtxt(fh, delimiter=",", ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read scikit-learn's digits ({exc})") from None
    if data.shape[1] != 65:
        raise DatasetError(f"{path}: expected 65 columns (64 pixels, the class), got {data.shape}")
    images, target = data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    x = np.rint(images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)[..., None]
    return x, target, [str(k) for k in range(10)]


def make_synthetic_arrays(
    n_per_class: int = 20,
    image_size=(16, 16),
    n_classes: int = 3,
    seed: int = 0,
    grayscale: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Small learnable images: class ``k`` shows stripes at angle ``k * 180 / n_classes``.

    Each image has a random stripe phase, a little noise and, in RGB, a class-dependent
    tint, so a small CNN (or even a dense layer) learns the classes in a few epochs.

    Returns:
        ``x`` uint8 ``(n_per_class * n_classes, H, W, C)`` in class order, ``y`` int64,
        class names ``"class_0"`` ...
    """
    n_per_class = _validate.positive_int(n_per_class, "n_per_class")
    n_classes = _validate.positive_int(n_classes, "n_classes")
    if n_classes < 2:
        raise ArgumentError(f"n_classes must be at least 2. Received: n_classes={n_classes}")
    h, w = normalize_image_size(image_size) or (16, 16)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    period = max(3.0, min(h, w) / 3.0)
    tints = np.array([[1.0, 0.45, 0.45], [0.45, 1.0, 0.45], [0.45, 0.45, 1.0]])
    n = n_per_class * n_classes
    c = 1 if grayscale else 3
    x = np.empty((n, h, w, c), dtype=np.uint8)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    for i, k in enumerate(y):
        angle = np.pi * k / n_classes
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.cos(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)
        img = 0.5 + 0.4 * wave + rng.normal(0.0, 0.05, size=(h, w))
        if grayscale:
            chans = img[..., None]
        else:
            chans = img[..., None] * tints[k % 3] * (0.8 + 0.2 * (k // 3 % 2))
        x[i] = np.rint(np.clip(chans, 0.0, 1.0) * 255).astype(np.uint8)
    return x, y, [f"class_{k}" for k in range(n_classes)]


def make_synthetic(
    n_per_class: int = 20,
    image_size=(16, 16),
    n_classes: int = 3,
    seed: int = 0,
    *,
    grayscale: bool = False,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> Dataset:
    """A small learnable :class:`Dataset` for tests and examples (see ``make_synthetic_arrays``).

    Example:
        >>> ds = make_synthetic(n_per_class=20, image_size=(16, 16), n_classes=3)
        >>> ds.image_shape, ds.n_classes
        ((16, 16, 3), 3)
    """
    x, y, names = make_synthetic_arrays(n_per_class, image_size, n_classes, seed, grayscale)
    return split_dataset(
        "synthetic",
        names,
        x,
        y,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        source="synthetic",
    )


def load_digits_dataset(
    image_size=None,
    grayscale: bool = False,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> Dataset:
    """The digits as a :class:`Dataset`: 8x8 (or ``image_size``), RGB unless ``grayscale``."""
    x, y, names = digits_arrays()
    x = conform_images(x, image_size, grayscale)
    return split_dataset(
        "digits",
        names,
        x,
        y,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        source="sklearn.datasets.load_digits",
    )
