"""``load_dataset``: one entry point for built-in, named, folder and HDF5 sources."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnlab.data.builtin import load_digits_dataset, make_synthetic_arrays
from cnnlab.data.dataset import Dataset, check_fractions, split_dataset
from cnnlab.data.h5 import find_h5_pair, pair_name, read_h5_pair
from cnnlab.data.images import (
    DEFAULT_IMAGE_SIZE,
    conform_images,
    load_folder_arrays,
    normalize_image_size,
)
from cnnlab.data.registry import REGISTRY, ensure_fetched
from cnnlab.errors import ArgumentError, DatasetError

BUILTIN = ("digits", "synthetic")
H5_SUFFIXES = (".h5", ".hdf5")


def _looks_like_h5_folder(path: Path) -> bool:
    return path.is_dir() and (any(path.glob("train_*.h5")) or any(path.glob("test_*.h5")))


def load_dataset(
    source: str | os.PathLike,
    *,
    image_size=DEFAULT_IMAGE_SIZE,
    grayscale: bool = False,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    download: bool = True,
    progress: bool | None = None,
) -> Dataset:
    """Load a dataset by name or path and split it deterministically by ``seed``.

    Sources:
        - ``"digits"``: scikit-learn's bundled 8x8 digits (1,797 images, 10 classes), no
          network. ``image_size=None`` keeps 8x8.
        - ``"synthetic"``: a small learnable set (3 classes x 50 images) for tests.
        - ``"signs"`` / ``"smiles"``: named public datasets, taken from the cache (fetched
          first if missing and ``download`` is true; see :func:`cnnlab.data.fetch`).
        - a folder with one subfolder of images per class.
        - a course ``.h5`` file (``train_X.h5``; ``test_X.h5`` beside it is found by name)
          or a folder holding ``train_*.h5`` / ``test_*.h5``.

    Splits are stratified per class. When the source has its own test split (a course
    pair), it is kept as the test set and ``val_fraction`` of the train file becomes the
    validation set (``test_fraction`` is then unused). Otherwise ``val_fraction`` and
    ``test_fraction`` of each class go to validation and test.

    Args:
        source: name or path, see above.
        image_size: ``(H, W)`` or an int to resize to (default 64x64), ``None`` for the
            source's own size (folders of mixed sizes then raise ``DatasetError``).
        grayscale: one channel (luminance) instead of RGB.
        seed: split seed.
        val_fraction: share of each class for validation, in [0, 1).
        test_fraction: share of each class for testing, in [0, 1).
        download: allow downloading a named dataset that is not cached.
        progress: progress bars (default: when stdout is a terminal).

    Returns:
        :class:`Dataset` with uint8 ``(N, H, W, C)`` images (``C`` = 3, or 1 when
        ``grayscale``) and int64 labels ``(N,)``.

    Example:
        >>> ds = load_dataset("digits", image_size=None)
        >>> ds.image_shape, ds.n_classes, len(ds)
        ((8, 8, 3), 10, 1797)
    """
    size = normalize_image_size(image_size)
    check_fractions(val_fraction, test_fraction)
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ArgumentError(f"seed must be an integer. Received: seed={seed!r}")
    meta = {
        "image_size": list(size) if size else None,
        "grayscale": bool(grayscale),
        "seed": int(seed),
        "val_fraction": float(val_fraction),
        "test_fraction": float(test_fraction),
    }
    split_kw = {"seed": seed, "val_fraction": val_fraction, "test_fraction": test_fraction}
    key = os.fspath(source) if isinstance(source, str | os.PathLike) else source
    if not isinstance(key, str):
        raise ArgumentError(f"source must be a name or a path. Received: source={source!r}")

    if key == "digits":
        ds = load_digits_dataset(size, grayscale, **split_kw)
        return _with_meta(ds, meta | {"kind": "builtin"})
    if key == "synthetic":
        x, y, names = make_synthetic_arrays(50, size or (16, 16), 3, seed, grayscale)
        return split_dataset(
            "synthetic",
            names,
            x,
            y,
            source="synthetic",
            meta=meta | {"kind": "builtin"},
            **split_kw,
        )
    if key in REGISTRY:
        if download:
            folder = ensure_fetched(key, progress=progress)
        else:
            from cnnlab.data.registry import dataset_dir, verify_fetched

            verify_fetched(key)
            folder = dataset_dir(key)
        x, y, names = load_folder_arrays(folder, size, grayscale, progress=progress)
        return split_dataset(
            key, names, x, y, source=str(folder), meta=meta | {"kind": "named"}, **split_kw
        )

    path = Path(key).expanduser()
    if not path.exists():
        raise DatasetError(
            f"{key}: no such dataset; not a built-in ({', '.join(BUILTIN)}), a named dataset "
            f"({', '.join(sorted(REGISTRY))}) or an existing file or folder"
        )
    if path.is_file():
        if path.suffix.lower() not in H5_SUFFIXES:
            raise DatasetError(
                f"{path}: unsupported file; expected a course .h5 file or a folder of class "
                "subfolders"
            )
        return _load_h5_source(path, size, grayscale, meta, split_kw)
    if _looks_like_h5_folder(path):
        return _load_h5_source(path, size, grayscale, meta, split_kw)
    x, y, names = load_folder_arrays(path, size, grayscale, progress=progress)
    name = path.resolve().name or "folder"
    return split_dataset(
        name, names, x, y, source=str(path), meta=meta | {"kind": "folder"}, **split_kw
    )


def _load_h5_source(path: Path, size, grayscale: bool, meta: dict, split_kw: dict) -> Dataset:
    train_file, test_file = find_h5_pair(path)
    parts = read_h5_pair(train_file, test_file)
    first = train_file or test_file
    name = pair_name(first)
    meta = meta | {
        "kind": "h5",
        "train_file": str(train_file) if train_file else None,
        "test_file": str(test_file) if test_file else None,
    }
    files = {"train": train_file, "test": test_file}
    conformed = {
        k: (conform_images(x, size, grayscale, source=str(files[k])), y, n)
        for k, (x, y, n) in parts.items()
    }
    if len(conformed) == 2:
        (x, y, names), (xt, yt, _) = conformed["train"], conformed["test"]
        return split_dataset(
            name, names, x, y, x_test=xt, y_test=yt, source=str(first), meta=meta, **split_kw
        )
    x, y, names = next(iter(conformed.values()))
    return split_dataset(name, names, x, y, source=str(first), meta=meta, **split_kw)


def _with_meta(ds: Dataset, meta: dict) -> Dataset:
    ds.meta.update(meta)
    return ds
