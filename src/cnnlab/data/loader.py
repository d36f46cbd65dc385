"""``load_dataset``: one entry point for built-in, named, folder and HDF5 sources."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnlab.data.builtin import digits_arrays, load_digits_dataset, make_synthetic_arrays
from cnnlab.data.dataset import Dataset, split_dataset
from cnnlab.data.h5 import find_h5_pair, pair_name, read_h5_pair
from cnnlab.data.images import DEFAULT_IMAGE_SIZE, folder_arrays_found, list_class_folders
from cnnlab.data.prepare import prepare_arrays
from cnnlab.data.source import Source, SplitSpec, resolve_source


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
    preprocess: str = "none",
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
        preprocess: "none" (whole images) or "face": every image reduced to its face,
            found, aligned, cropped and converted by :mod:`cnnlab.data.faces` (cached with
            the decoded images). ``meta["no_face"]`` counts the images where no face was
            found (they are centre crops) and ``meta["no_face_examples"]`` names a few.

    Returns:
        :class:`Dataset` with uint8 ``(N, H, W, C)`` images (``C`` = 3, or 1 when
        ``grayscale``) and int64 labels ``(N,)``.

    Example:
        >>> ds = load_dataset("digits", image_size=None)
        >>> ds.image_shape, ds.n_classes, len(ds)
        ((8, 8, 3), 10, 1797)
    """
    spec = SplitSpec(
        image_size=image_size,
        grayscale=grayscale,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        preprocess=preprocess,
    )
    return load_split(source, spec, download=download, progress=progress)


def load_split(
    source: str | os.PathLike | Source,
    spec: SplitSpec,
    *,
    download: bool = True,
    progress: bool | None = None,
) -> Dataset:
    """:func:`load_dataset` with the source and the split settings given as values (what
    the training runner and the other loaders pass along)."""
    src = resolve_source(source)
    size, grayscale, preprocess = spec.image_size, spec.grayscale, spec.preprocess
    meta = spec.meta()
    split_kw = spec.split_kw
    if src.kind == "builtin":
        if src.key == "digits" and preprocess == "none":
            ds = load_digits_dataset(size, grayscale, **split_kw)
            return _with_meta(ds, meta | {"kind": "builtin"})
        if src.key == "digits":
            x, y, names = digits_arrays()
        else:
            x, y, names = make_synthetic_arrays(50, size or (16, 16), 3, spec.seed, grayscale)
        x, found = prepare_arrays(x, size, grayscale, preprocess, source=src.key)
        return split_dataset(
            src.key,
            names,
            x,
            y,
            source=src.key,
            meta=meta | {"kind": "builtin"} | _faces_meta(found, None),
            **split_kw,
        )
    if src.kind == "h5":
        return _load_h5_source(src.path, size, grayscale, preprocess, meta, split_kw)
    folder = src.folder(download=download, progress=progress)
    x, y, names, found = folder_arrays_found(
        folder, size, grayscale, progress=progress, preprocess=preprocess
    )
    meta = meta | {"kind": src.kind} | _faces_meta(found, folder)
    return split_dataset(src.name, names, x, y, source=str(folder), meta=meta, **split_kw)


def _faces_meta(found, folder: Path | None) -> dict:
    """``no_face``: how many images had no face found (0 without the face step)."""
    missing = np.flatnonzero(~np.asarray(found, dtype=bool))
    examples: list[str] = []
    if len(missing) and folder is not None:
        _, files = list_class_folders(folder)
        paths = [p for cls in files for (p, _, _) in cls]
        examples = [os.path.relpath(paths[i], folder) for i in missing[:10]]
    return {"n_images": len(found), "no_face": len(missing), "no_face_examples": examples}


def _load_h5_source(
    path: Path, size, grayscale: bool, preprocess: str, meta: dict, split_kw: dict
) -> Dataset:
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
    conformed, found = {}, []
    for k, (x, y, n) in parts.items():
        xk, fk = prepare_arrays(x, size, grayscale, preprocess, source=str(files[k]))
        conformed[k] = (xk, y, n)
        found.append(fk)
    meta = meta | _faces_meta(np.concatenate(found), None)
    meta["no_face_parts"] = {k: int((~f).sum()) for k, f in zip(parts, found, strict=True)}
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
