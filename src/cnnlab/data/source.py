"""Where a dataset comes from and how it is split, each decided once.

:func:`resolve_source` turns what a user wrote (``"digits"``, ``"signs"``, a course ``.h5``
file, a folder of them, a folder of class subfolders) into a :class:`Source`, or one
``DatasetError`` naming it. :class:`SplitSpec` holds how every image is sized, coloured and
preprocessed and how the set is split (by seed and fractions), checked when it is made.
:func:`~cnnlab.data.load_dataset`, :func:`~cnnlab.data.stream.open_stream`,
:func:`count_images`, :func:`~cnnlab.data.tfrecord.export_tfrecord` and
the training runner all take these two, so the five source kinds are told apart in one
place and the six split settings travel as one value.

Example:
    >>> resolve_source("digits").kind
    'builtin'
    >>> spec = SplitSpec(image_size=16, seed=3)
    >>> spec.image_size, spec.shape, spec.fractions
    ((16, 16), (16, 16, 3), (0.15, 0.15))
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.dataset import check_fractions
from cnnlab.data.h5 import find_h5_pair
from cnnlab.data.images import DEFAULT_IMAGE_SIZE, list_class_folders, normalize_image_size
from cnnlab.data.prepare import check_preprocess
from cnnlab.data.registry import REGISTRY, dataset_dir, ensure_fetched, is_fetched
from cnnlab.errors import ArgumentError, DatasetError

__all__ = [
    "BUILTIN",
    "H5_SUFFIXES",
    "Source",
    "SplitSpec",
    "count_images",
    "resolve_source",
]

BUILTIN = ("digits", "synthetic")
H5_SUFFIXES = (".h5", ".hdf5")
KINDS = ("builtin", "named", "h5", "folder")


@dataclass(frozen=True)
class Source:
    """A dataset's origin, resolved.

    Attributes:
        kind: ``"builtin"`` (made in memory), ``"named"`` (a registry dataset, fetched into
            the cache), ``"h5"`` (a course file, or a folder holding a course pair) or
            ``"folder"`` (one subfolder of images per class).
        key: the name or path as given.
        path: the file or folder (``None`` for built-in and named sets: a named set's
            folder is :meth:`folder`).
    """

    kind: str
    key: str
    path: Path | None = None

    @property
    def name(self) -> str:
        """The dataset's name: a built-in or named set's name, else the folder's name."""
        if self.path is None or self.kind == "h5":
            return self.key
        return self.path.resolve().name or "folder"

    def folder(self, *, download: bool = True, progress: bool | None = None) -> Path:
        """The folder of class subfolders: a named set's cache folder (fetched first when
        missing and ``download``), or the folder given."""
        if self.kind == "named":
            return Path(ensure_fetched(self.key, progress=progress, download=download))
        if self.kind != "folder":
            raise ArgumentError(f"{self.key}: a {self.kind} source has no class folders")
        return self.path

    def cached_folder(self) -> Path | None:
        """The folder of class subfolders when it is there without fetching anything."""
        if self.kind == "named":
            return dataset_dir(self.key) if is_fetched(self.key) else None
        return self.path if self.kind == "folder" else None


def _looks_like_h5_folder(path: Path) -> bool:
    return path.is_dir() and (any(path.glob("train_*.h5")) or any(path.glob("test_*.h5")))


def resolve_source(source: str | os.PathLike) -> Source:
    """Tell which kind of dataset ``source`` names.

    Raises:
        ArgumentError: ``source`` is not a name or a path.
        DatasetError: a path that does not exist, or a file that is not a course ``.h5``.
    """
    if isinstance(source, Source):
        return source
    if not isinstance(source, str | os.PathLike):
        raise ArgumentError(f"source must be a name or a path. Received: source={source!r}")
    key = os.fspath(source)
    if key in BUILTIN:
        return Source("builtin", key)
    if key in REGISTRY:
        return Source("named", key)
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
        return Source("h5", key, path)
    if _looks_like_h5_folder(path):
        return Source("h5", key, path)
    return Source("folder", key, path)


@dataclass(frozen=True)
class SplitSpec:
    """How a dataset's images are prepared and split, checked once when made.

    Attributes:
        image_size: ``(H, W)`` (an int or ``"HxW"`` is accepted) or ``None`` for the
            source's own size (in memory only).
        grayscale: one channel (luminance) instead of RGB.
        seed: the split's seed.
        val_fraction, test_fraction: share of each class for validation and test.
        preprocess: the preprocessing step (:data:`cnnlab.data.prepare.STEPS`).
    """

    image_size: tuple[int, int] | None = DEFAULT_IMAGE_SIZE
    grayscale: bool = False
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    preprocess: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_size", normalize_image_size(self.image_size))
        check_fractions(self.val_fraction, self.test_fraction)
        check_preprocess(self.preprocess)
        if not isinstance(self.seed, int | np.integer) or isinstance(self.seed, bool):
            raise ArgumentError(f"seed must be an integer. Received: seed={self.seed!r}")
        object.__setattr__(self, "grayscale", bool(self.grayscale))

    @classmethod
    def of(cls, spec: SplitSpec | None = None, **fields) -> SplitSpec:
        """``spec`` with ``fields`` replaced (a new one from ``fields`` when ``spec`` is None).

        Raises:
            ArgumentError: a keyword that is not a field.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - names)
        if unknown:
            raise ArgumentError(
                f"unknown split option(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}"
            )
        return cls(**fields) if spec is None else dataclasses.replace(spec, **fields)

    @property
    def channels(self) -> int:
        return 1 if self.grayscale else 3

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """``(H, W, C)`` of every image, or None for the source's own size."""
        return None if self.image_size is None else (*self.image_size, self.channels)

    @property
    def fractions(self) -> tuple[float, float]:
        return (self.val_fraction, self.test_fraction)

    @property
    def split_kw(self) -> dict:
        """The keywords of :func:`~cnnlab.data.dataset.split_dataset`."""
        return {
            "seed": self.seed,
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
        }

    def meta(self) -> dict:
        """The settings as a dataset's ``meta`` records them (JSON-ready)."""
        return {
            "image_size": list(self.image_size) if self.image_size else None,
            "grayscale": self.grayscale,
            "seed": int(self.seed),
            "val_fraction": float(self.val_fraction),
            "test_fraction": float(self.test_fraction),
            "preprocess": self.preprocess,
        }


def count_images(source: str | os.PathLike | Source) -> int | None:
    """How many images ``source`` holds, found without decoding any (None: not found cheaply:
    a built-in set, a named dataset that is not fetched yet, a source that does not exist or
    a course file that cannot be read)."""
    try:
        src = resolve_source(source)
    except DatasetError:
        return None
    if src.kind == "builtin":
        return None  # small, and always in memory
    if src.kind == "h5":
        import h5py

        total = 0
        for p, s in zip(find_h5_pair(src.path), ("train", "test"), strict=True):
            if p is not None:
                try:
                    with h5py.File(p, "r") as f:
                        x = f[f"{s}_set_x"]
                        if not isinstance(x, h5py.Dataset) or len(x.shape) < 1:
                            return None  # the loader that reads it says what is wrong
                        total += int(x.shape[0])
                except (OSError, KeyError, ValueError, RuntimeError):
                    return None  # damaged: likewise
        return total
    folder = src.cached_folder()
    if folder is None:
        return None
    _, files = list_class_folders(folder)
    return sum(len(cls) for cls in files)
