"""The course's HDF5 layout: ``train_<name>.h5`` and ``test_<name>.h5``.

A train file holds ``train_set_x`` (uint8, shape ``(N, H, W, 3)``), ``train_set_y``
(shape ``(N,)``) and ``list_classes``; a test file holds ``test_set_x``,
``test_set_y`` and ``list_classes``, as the course's ``train_happy.h5`` /
``test_happy.h5`` and ``train_signs.h5`` / ``test_signs.h5`` do.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from cnnlab import limits
from cnnlab._io import atomic_path
from cnnlab.data.dataset import Dataset
from cnnlab.errors import ArgumentError, DatasetError


def partner_path(path: str | os.PathLike) -> Path | None:
    """The other file of a course pair: ``train_x.h5`` <-> ``test_x.h5`` (``None`` if no match)."""
    path = Path(path)
    for a, b in (("train_", "test_"), ("test_", "train_")):
        if path.name.startswith(a):
            return path.with_name(b + path.name[len(a) :])
    return None


def decode_class_names(raw: np.ndarray, path: Path) -> list[str]:
    raw = np.asarray(raw).reshape(-1)
    names = []
    for v in raw:
        if isinstance(v, bytes | np.bytes_):
            names.append(v.decode("utf-8", "surrogateescape"))  # as os.fsdecode does
        elif isinstance(v, float | np.floating) and float(v).is_integer():
            names.append(str(int(v)))
        else:
            names.append(str(v))
    if not names:
        raise DatasetError(f"{path}: list_classes is empty")
    first: dict[str, int] = {}
    for k, name in enumerate(names):
        if name in first:  # two labels, one name: the two classes would be reported as one
            raise DatasetError(
                f"{path}: list_classes names class {name!r} twice (classes {first[name]} and "
                f"{k}); each class needs its own name"
            )
        first[name] = k
    return names


def checked_images(x: np.ndarray, path: Path, key: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DatasetError(
            f"{path}: {key} must have shape (N, H, W, 3) or (N, H, W, 1); got {x.shape}"
        )
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            bad = int(np.size(x) - np.isfinite(x).sum())
            raise DatasetError(f"{path}: {key} holds {bad} NaN or inf values")
        scale = 255.0 if x.size and x.max() <= 1.0 else 1.0
        x = x * scale
    elif x.dtype.kind not in "iu":  # bool pixels are a mask, not an image (0 or 1 of 255)
        raise DatasetError(f"{path}: {key} has dtype {x.dtype}; expected uint8 images")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise DatasetError(
            f"{path}: {key} values must lie in 0..255 (or 0..1 for floats); "
            f"got {x.min()}..{x.max()}"
        )
    return np.rint(x).astype(np.uint8)


def check_declared(dset, path: Path, key: str) -> None:
    """Refuse an array whose declared size is over ``MAX_DATASET_BYTES``, before reading it.

    A small compressed (or chunked, never written) file can declare an enormous shape.
    """
    shape = tuple(int(s) for s in dset.shape or ())
    n = 1
    for s in shape:
        n *= s
    nbytes = n * max(int(dset.dtype.itemsize), 1)
    if nbytes > limits.MAX_DATASET_BYTES:
        dims = "x".join(map(str, shape))
        size = limits.human_bytes(nbytes)
        raise DatasetError(
            f"{path}: {key} declares {dims} {dset.dtype} values ({size}), over "
            f"the limit of {limits.human_bytes(limits.MAX_DATASET_BYTES)} "
            "(cnnlab.limits.MAX_DATASET_BYTES); refusing to read it"
        )


def check_course_file(f, path: Path, kx: str, ky: str) -> tuple[int, ...]:
    """The checks of a course file made from its headers alone, before any data is read.

    The one place both readers pass (:func:`read_h5_split` for the in-memory load and
    ``data info``, and the streamed reader in :mod:`cnnlab.data.stream`), so a file is
    refused alike however it is read.

    Args:
        f: the open ``h5py.File``.
        path: its path, for the messages.
        kx, ky: the image and label keys (``train_set_x``, ``train_set_y``).

    Returns:
        The images' shape.

    Raises:
        DatasetError: a missing key, a group where an array belongs, an array declared over
            ``MAX_DATASET_BYTES``, images that are not ``(N, H, W, 3)`` or ``(N, H, W, 1)``,
            images of 0 pixels, bool pixels, or an array declared but never written (it
            would read as its fill value, zeros: all-black images, every label 0).
    """
    import h5py

    missing = [k for k in (kx, ky, "list_classes") if k not in f]
    if missing:
        raise DatasetError(
            f"{path}: missing key(s) {', '.join(missing)} "
            f"(found: {', '.join(sorted(f.keys())) or 'none'})"
        )
    for k in (kx, ky, "list_classes"):
        if not isinstance(f[k], h5py.Dataset):
            raise DatasetError(f"{path}: {k} is a group, expected an array")
    for k in (kx, ky, "list_classes"):
        check_declared(f[k], path, k)
    dset = f[kx]
    shape = tuple(int(s) for s in dset.shape or ())
    if len(shape) not in (3, 4) or (len(shape) == 4 and shape[-1] not in (1, 3)):
        raise DatasetError(
            f"{path}: {kx} must have shape (N, H, W, 3) or (N, H, W, 1); got {shape}"
        )
    if shape[0] and 0 in shape[1:3]:
        raise DatasetError(
            f"{path}: {kx} holds {shape[0]} images of {shape[1]}x{shape[2]} pixels "
            "(no pixels to learn from)"
        )
    if dset.dtype.kind == "b":
        raise DatasetError(
            f"{path}: {kx} holds bool pixels (True/False, a mask); expected uint8 images"
        )
    for k in (kx, ky, "list_classes"):
        d = f[k]
        # Declared with a shape but never written: HDF5 allocated nothing and a read
        # returns the fill value (zeros) for every element.
        if d.size and not d.is_virtual and d.external is None and d.id.get_storage_size() == 0:
            dims = "x".join(str(int(s)) for s in d.shape)
            raise DatasetError(
                f"{path}: {k} is declared ({dims}) but was never written (it would read as zeros)"
            )
    return shape


def checked_labels(y: np.ndarray, n: int, path: Path, key: str) -> np.ndarray:
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)  # the course reshapes labels to (1, N)
    if y.ndim != 1:
        raise DatasetError(f"{path}: {key} must have shape (N,) or (1, N); got {y.shape}")
    if len(y) != n:
        raise DatasetError(
            f"{path}: {key} has {len(y)} labels but the images have {n} (lengths differ)"
        )
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise DatasetError(f"{path}: {key} holds NaN or inf labels")
        if not np.all(y == np.round(y)):
            raise DatasetError(f"{path}: {key} holds non-integer labels")
    elif y.dtype.kind not in "iub":
        raise DatasetError(f"{path}: {key} has dtype {y.dtype}; expected integer labels")
    return y.astype(np.int64)


def read_h5_split(
    path: str | os.PathLike, split: str, *, allow_empty: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read ``<split>_set_x``, ``<split>_set_y`` and ``list_classes`` from one course file.

    Args:
        path: the file.
        split: ``"train"`` or ``"test"`` (the key prefix).
        allow_empty: accept a file with 0 images (a test file beside a train file may be
            empty, as ``export_h5`` writes one when there is no test split).

    Returns:
        ``x`` uint8 ``(N, H, W, C)``, ``y`` int64 ``(N,)``, class names.

    Raises:
        DatasetError: missing file, not HDF5 or truncated, missing keys, bad shapes or
            dtypes, NaN/inf, lengths that differ, labels outside ``list_classes``, no
            images (unless ``allow_empty``), or an array declared over
            ``MAX_DATASET_BYTES`` (checked before reading).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    kx, ky = f"{split}_set_x", f"{split}_set_y"
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(f"{path}: not an HDF5 file, or truncated ({exc})") from None
    try:
        with f:
            check_course_file(f, path, kx, ky)
            x, y, raw_classes = f[kx][()], f[ky][()], f["list_classes"][()]
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DatasetError(
            f"{path}: cannot read HDF5 data, file damaged or truncated ({exc})"
        ) from None
    x = checked_images(np.asarray(x), path, kx)
    if len(x) == 0 and not allow_empty:
        raise DatasetError(f"{path}: {kx} holds no images (0 samples)")
    y = checked_labels(np.asarray(y), len(x), path, ky)
    names = decode_class_names(raw_classes, path)
    if len(y) and (y.min() < 0 or y.max() >= len(names)):
        raise DatasetError(
            f"{path}: {ky} holds labels outside list_classes (labels {y.min()}..{y.max()}, "
            f"{len(names)} classes: {names})"
        )
    return x, y, names


def pair_name(path: str | os.PathLike) -> str:
    """The dataset's name in a course file's name: ``train_happy.h5`` -> ``'happy'``."""
    stem = Path(path).stem
    for prefix in ("train_", "test_"):
        if stem.startswith(prefix):
            return stem[len(prefix) :]
    return stem


def find_h5_pair(path: str | os.PathLike) -> tuple[Path | None, Path | None]:
    """``(train_file, test_file)`` for a course file or a folder holding one pair.

    A file's partner (``train_x.h5`` <-> ``test_x.h5``) is used when it exists; a folder
    must hold one ``train_*.h5`` (or, without one, a single ``test_*.h5``).

    Raises:
        DatasetError: a folder with several train files, or none.
    """
    path = Path(path)
    if path.is_dir():
        trains = sorted(path.glob("train_*.h5"))
        tests = sorted(path.glob("test_*.h5"))
        if len(trains) > 1:
            raise DatasetError(
                f"{path}: holds several course train files ({', '.join(p.name for p in trains)}); "
                "pass one file"
            )
        if trains:
            path = trains[0]
        elif len(tests) == 1:
            path = tests[0]
        else:
            raise DatasetError(f"{path}: no train_*.h5 file found")
    partner = partner_path(path)
    partner = partner if partner is not None and partner.is_file() else None
    if path.name.startswith("test_"):
        return partner, path
    return path, partner


def read_h5_pair(
    train_path: str | os.PathLike | None,
    test_path: str | os.PathLike | None,
    *,
    same_image_shape: bool = False,
) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """Read a course train/test pair; either file may be ``None`` (not both).

    The one reader of a pair: :func:`load_h5` and :func:`cnnlab.data.load_dataset` both
    use it. A test file beside a train file may hold no images.

    Args:
        train_path: e.g. ``train_happy.h5``, or ``None``.
        test_path: e.g. ``test_happy.h5``, or ``None``.
        same_image_shape: also require both files' images to have one shape (for callers
            that do not resize them).

    Returns:
        ``{"train": (x, y, class_names), "test": (...)}`` for the files given.

    Raises:
        ArgumentError: neither file given.
        DatasetError: a file :func:`read_h5_split` refuses, or ``list_classes`` (or, with
            ``same_image_shape``, the image shapes) that differ between the files.
    """
    if train_path is None and test_path is None:
        raise ArgumentError("load_h5 needs train_path, test_path or both. Received: neither")
    parts: dict[str, tuple[np.ndarray, np.ndarray, list[str]]] = {}
    if train_path is not None:
        parts["train"] = read_h5_split(train_path, "train")
    if test_path is not None:
        parts["test"] = read_h5_split(test_path, "test", allow_empty=train_path is not None)
    if len(parts) == 2:
        (xa, _, na), (xb, _, nb) = parts["train"], parts["test"]
        if na != nb:
            raise DatasetError(f"{test_path}: list_classes {nb} differs from {na} in {train_path}")
        if same_image_shape and xa.shape[1:] != xb.shape[1:]:
            raise DatasetError(
                f"{test_path}: images of shape {xb.shape[1:]} differ from {xa.shape[1:]} "
                f"in {train_path}"
            )
    return parts


def load_h5(
    train_path: str | os.PathLike | None = None, test_path: str | os.PathLike | None = None
) -> Dataset:
    """Load the course's HDF5 files; either may be given alone.

    The result keeps the files' own split: ``x_train``/``y_train`` from the train file,
    ``x_test``/``y_test`` from the test file, and an empty validation split (a file not
    given leaves its split empty). ``load_dataset`` carves validation out of train.

    Args:
        train_path: e.g. ``train_happy.h5`` (``train_set_x`` ``(N, H, W, 3)`` uint8,
            ``train_set_y`` ``(N,)``, ``list_classes``).
        test_path: e.g. ``test_happy.h5`` (``test_set_x``, ``test_set_y``, ``list_classes``).

    Example:
        >>> ds = load_h5("datasets/train_happy.h5", "datasets/test_happy.h5")  # doctest: +SKIP
        >>> ds.x_train.shape, ds.class_names                                    # doctest: +SKIP
        ((600, 64, 64, 3), ['0', '1'])
    """
    parts = read_h5_pair(train_path, test_path, same_image_shape=True)
    some = next(iter(parts.values()))
    names = some[2]
    empty_x = np.zeros((0, *some[0].shape[1:]), dtype=np.uint8)
    empty_y = np.zeros(0, dtype=np.int64)
    x_tr, y_tr, _ = parts.get("train", (empty_x, empty_y, names))
    x_te, y_te, _ = parts.get("test", (empty_x, empty_y, names))
    first = Path(train_path if train_path is not None else test_path)
    return Dataset(
        name=pair_name(first),
        class_names=names,
        x_train=x_tr,
        y_train=y_tr,
        x_val=empty_x,
        y_val=empty_y,
        x_test=x_te,
        y_test=y_te,
        source=str(first),
    )


def export_h5(
    dataset: Dataset, out_dir: str | os.PathLike, name: str | None = None
) -> tuple[Path, Path]:
    """Write ``dataset`` as the course's ``train_<name>.h5`` and ``test_<name>.h5``.

    The train file holds the training and validation images (in that order), the test
    file the test images; both hold ``list_classes`` (bytes strings). Each file is
    written to a temporary name and renamed into place.

    Args:
        dataset: the dataset to write.
        out_dir: folder to write into (created if missing).
        name: file name part; defaults to ``dataset.name``.

    Returns:
        ``(train_file, test_file)``.
    """
    name = name or dataset.name
    if not name or any(ch in name for ch in "/\\") or name.startswith("."):
        raise ArgumentError(f"name must be a plain file name part. Received: name={name!r}")
    import h5py

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # surrogateescape: a class named by non-UTF-8 bytes (a folder name) keeps its bytes
    classes = np.array([c.encode("utf-8", "surrogateescape") for c in dataset.class_names])
    splits = {
        "train": (
            np.concatenate([dataset.x_train, dataset.x_val]),
            np.concatenate([dataset.y_train, dataset.y_val]),
        ),
        "test": (dataset.x_test, dataset.y_test),
    }
    paths = []
    for split, (x, y) in splits.items():
        path = out_dir / f"{split}_{name}.h5"
        try:
            with atomic_path(path) as tmp:
                with h5py.File(tmp, "w") as f:
                    f.create_dataset(f"{split}_set_x", data=x)
                    f.create_dataset(f"{split}_set_y", data=y.astype(np.int64))
                    f.create_dataset("list_classes", data=classes)
        except (OSError, RuntimeError) as exc:  # h5py's write errors: a full disk, a limit
            for done in paths:  # the pair is written whole or not at all
                done.unlink(missing_ok=True)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if "File too large" in reason:
                reason = "File too large"
            raise DatasetError(f"{path}: cannot write ({reason})") from None
        paths.append(path)
    return paths[0], paths[1]
