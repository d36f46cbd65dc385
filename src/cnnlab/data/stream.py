"""Streaming input: a dataset that keeps its file list and labels, never the decoded images.

:func:`open_stream` takes the sources :func:`cnnlab.data.load_dataset` takes (built-in and
named datasets, folders of class subfolders, course ``.h5`` files) and splits them the same
way: the same listing, the same labels and the same :func:`~cnnlab.data.stratified_indices`
by seed, so a streamed run and an in-memory run see the same images in each split. What it
returns, a :class:`StreamDataset`, reads images only when a batch asks for them:

* :meth:`StreamDataset.batches` yields uint8 batches for the NumPy engine (decoded on
  several threads, the next batch decoded while the current one trains);
* :meth:`StreamDataset.tf_dataset` is a ``tf.data.Dataset`` for Keras: batches of indices
  mapped through the same decoder in parallel (``num_parallel_calls=AUTOTUNE``), then
  ``.prefetch(AUTOTUNE)``; optionally ``.cache(path)`` on disk and a seeded shuffle buffer.

Pixels are the in-memory path's to the bit: files go through the same decoder
(:func:`cnnlab.data.prepare.decode_prepared`), ``.h5`` and built-in images through
:func:`cnnlab.data.prepare.prepare_arrays`, a batch at a time (h5py reads the slice).

Bad input. An image that cannot be decoded mid-epoch is skipped, never half-read (Pillow
refuses truncated files): :attr:`StreamDataset.skipped` collects its path and reason, and the
runner reports them at the end of the epoch. With ``strict=True`` the first one raises
:class:`~cnnlab.errors.DatasetError` instead.

Example:
    >>> s = open_stream("synthetic", image_size=16)
    >>> len(s.x_train), s.image_shape
    (105, (16, 16, 3))
    >>> x, y, pos = next(s.batches("train", 8))
    >>> x.shape, x.dtype
    ((8, 16, 16, 3), dtype('uint8'))
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.data.builtin import digits_arrays, make_synthetic_arrays
from cnnlab.data.dataset import SPLITS, stratified_indices
from cnnlab.data.h5 import (
    check_course_file,
    checked_images,
    checked_labels,
    decode_class_names,
    find_h5_pair,
    pair_name,
)
from cnnlab.data.images import decode_threads, list_class_folders
from cnnlab.data.prepare import decode_prepared, prepare_arrays
from cnnlab.data.source import SplitSpec, resolve_source
from cnnlab.errors import ArgumentError, DatasetError

IN_MEMORY_FACTOR = 9
"""Bytes the in-memory path holds per decoded byte while it trains: the uint8 array, its
float32 copy (``x / 255``) and an epoch's float32 augmented copy (1 + 4 + 4). The automatic
switch to streaming compares this estimate with the memory budget."""
SHUFFLE_BUFFER = 4096
"""Images in the shuffle buffer of a cached ``tf.data`` stream (about 50 MB at 64x64 RGB)."""


def in_memory_bytes(n_images: int, image_shape: tuple[int, int, int]) -> int:
    """The in-memory path's estimated working set for ``n_images`` of ``image_shape``."""
    h, w, c = image_shape
    return IN_MEMORY_FACTOR * n_images * h * w * c


class Skipped:
    """Unreadable images met while streaming: ``(path, reason)``, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[str] = []

    def add(self, message: str) -> None:
        with self._lock:
            self._items.append(message)

    def take(self) -> list[str]:
        """The messages since the last call (then forgotten)."""
        with self._lock:
            items, self._items = self._items, []
        return items


# ------------------------------------------------------------------ readers: id -> image


class _FileReader:
    """Image files, decoded as the in-memory folder path decodes them."""

    def __init__(self, paths: list[str], size, grayscale: bool, preprocess: str):
        self.paths, self.size, self.grayscale, self.preprocess = paths, size, grayscale, preprocess

    def read(self, ids: np.ndarray, pool: ThreadPoolExecutor) -> list:

        def one(i: int):
            try:
                return decode_prepared(self.paths[i], self.size, self.grayscale, self.preprocess)[0]
            except DatasetError as exc:
                return exc

        return list(pool.map(one, (int(i) for i in ids)))


class _ArrayReader:
    """Images already in memory (the small built-in sets), prepared a batch at a time."""

    def __init__(self, x: np.ndarray, size, grayscale: bool, preprocess: str, source: str):
        self.x, self.size, self.grayscale = x, size, grayscale
        self.preprocess, self.source = preprocess, source

    def read(self, ids: np.ndarray, pool) -> list:

        x, _ = prepare_arrays(self.x[ids], self.size, self.grayscale, self.preprocess)
        return list(x)


class _H5Reader:
    """Course ``.h5`` files: ids ``0..n0-1`` in the first part, then the next part's."""

    def __init__(self, parts: list[tuple[Path, str, int]], size, grayscale, preprocess):
        self.parts, self.size, self.grayscale, self.preprocess = parts, size, grayscale, preprocess
        self.offsets = np.cumsum([0] + [n for _, _, n in parts])
        self._lock = threading.Lock()  # h5py serializes anyway; one reader at a time

    def read(self, ids: np.ndarray, pool) -> list:
        import h5py

        ids = np.asarray(ids, dtype=np.int64)
        out: list = [None] * len(ids)
        for k, (path, key, _) in enumerate(self.parts):
            mine = np.flatnonzero((ids >= self.offsets[k]) & (ids < self.offsets[k + 1]))
            if not len(mine):
                continue
            local = ids[mine] - self.offsets[k]
            order = np.argsort(local)  # h5py reads increasing indices
            try:
                with self._lock, h5py.File(path, "r") as f:
                    raw = np.asarray(f[key][local[order]])
            except (OSError, KeyError, ValueError, RuntimeError) as exc:
                err = DatasetError(f"{path}: cannot read {key} ({exc})")
                for j in mine:
                    out[j] = err
                continue
            x = checked_images(raw, path, key)
            x, _ = prepare_arrays(x, self.size, self.grayscale, self.preprocess)
            for j, row in zip(mine[order], x, strict=True):
                out[j] = row
        return out


# ------------------------------------------------------------------ the streamed dataset


@dataclass(frozen=True, eq=False)
class StreamSplit:
    """One split of a :class:`StreamDataset`: image ids and labels, no pixels.

    ``len()`` works as on an array, so code that only counts images treats it alike.
    """

    ids: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(eq=False)
class StreamDataset:
    """A dataset that reads its images a batch at a time (see the module docstring).

    It answers what :class:`~cnnlab.data.Dataset` answers about counts, labels and classes
    (``x_train`` etc. are :class:`StreamSplit` objects: ``len()`` only), and gives batches
    through :meth:`batches` and :meth:`tf_dataset`.
    """

    name: str
    class_names: list[str]
    image_shape: tuple[int, int, int]
    reader: object
    parts: dict[str, StreamSplit]
    source: str = ""
    meta: dict = field(default_factory=dict)
    strict: bool = False
    workers: int | None = None
    skipped: Skipped = field(default_factory=Skipped)

    def __post_init__(self) -> None:
        self._fatal: DatasetError | None = None

    # -- what a Dataset answers
    streamed = True

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts.values())

    def __getattr__(self, name: str):
        """``x_train`` (a :class:`StreamSplit`), ``y_train`` (its labels), and so on."""
        kind, _, split = name.partition("_")
        if kind in ("x", "y") and split in SPLITS and "parts" in self.__dict__:
            part = self.parts[split]
            return part if kind == "x" else part.labels
        raise AttributeError(name)

    def class_weights(self) -> dict[int, float]:
        """Balanced class weights from the training labels (as :meth:`Dataset.class_weights`)."""
        counts = np.bincount(self.parts["train"].labels, minlength=self.n_classes)
        total = counts.sum()
        return {
            k: (float(total / (self.n_classes * n)) if n else 1.0) for k, n in enumerate(counts)
        }

    def __repr__(self) -> str:
        h, w, c = self.image_shape
        sizes = ", ".join(f"{s}={len(self.parts[s])}" for s in SPLITS)
        return (
            f"StreamDataset(name={self.name!r}, classes={self.n_classes}, image={h}x{w}x{c}, "
            f"{sizes})"
        )

    # -- reading
    def _threads(self) -> int:

        return decode_threads(self.workers)

    def _load(self, part: StreamSplit, positions: np.ndarray, pool):
        """Decode the split's images at ``positions``: ``(x uint8, y, kept positions)``;
        unreadable images are skipped and recorded (or raise, when strict)."""
        positions = np.asarray(positions, dtype=np.int64)
        results = self.reader.read(part.ids[positions], pool)
        keep = []
        for j, r in enumerate(results):
            if isinstance(r, DatasetError):
                if self.strict:
                    self._fatal = DatasetError(
                        f"{r} (streaming with --strict stops at the first unreadable image)"
                    )
                    raise self._fatal
                self.skipped.add(str(r))
            else:
                keep.append(j)
        if keep:
            x = np.stack([results[j] for j in keep])
        else:
            x = np.zeros((0, *self.image_shape), dtype=np.uint8)
        return x, part.labels[positions[keep]], positions[keep]

    def batches(
        self, split: str, batch_size: int, order: np.ndarray | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(x uint8 (B, H, W, C), y int64 (B,), positions (B,))`` batches of ``split``.

        ``order``: the positions in the split to read, in order (default: all, as stored);
        ``positions`` says which of them a batch holds (a skipped image drops out, and a
        batch with none left is not yielded). The next batch is decoded while the caller
        works on this one.
        """
        part = self.parts[split]
        order = np.arange(len(part)) if order is None else np.asarray(order, dtype=np.int64)
        chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        if not chunks:
            return
        done = object()
        ahead: queue.Queue = queue.Queue(maxsize=2)
        stop = threading.Event()

        def produce() -> None:
            try:
                with ThreadPoolExecutor(max_workers=self._threads()) as pool:
                    for chunk in chunks:
                        if stop.is_set():
                            return
                        ahead.put(self._load(part, chunk, pool))
                ahead.put(done)
            except BaseException as exc:  # handed to the consumer
                ahead.put(exc)

        thread = threading.Thread(target=produce, daemon=True, name="cnnlab-stream")
        thread.start()
        try:
            while True:
                item = ahead.get()
                if item is done:
                    break
                if isinstance(item, BaseException):
                    raise item
                if len(item[0]):
                    yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    ahead.get(timeout=0.05)
            thread.join()

    def tf_dataset(
        self,
        split: str,
        batch_size: int,
        finish: Callable,
        *,
        order: np.ndarray | None = None,
        cache: str | os.PathLike | None = None,
        shuffle_seed: int | None = None,
        options=None,
    ):
        """``split`` as a ``tf.data.Dataset`` of ``finish(x uint8, y, positions) -> (x, y)``.

        Without ``cache``: the positions of ``order`` (default: as stored) in batches,
        decoded by a parallel map, then prefetched. With ``cache`` (a file prefix; its
        folder must exist): every image decoded once, in stored order, into a
        ``tf.data`` cache on disk; later epochs read the cache, shuffled through a buffer of
        :data:`SHUFFLE_BUFFER` images with ``shuffle_seed`` (None: not shuffled; ``order``
        must then be None). Batches whose images were all unreadable are dropped.
        """
        import tensorflow as tf

        part = self.parts[split]
        h, w, c = self.image_shape
        probe_x, probe_y = finish(
            np.zeros((0, h, w, c), np.uint8), part.labels[:0], np.zeros(0, np.int64)
        )
        x_type, y_type = tf.as_dtype(probe_x.dtype), tf.as_dtype(probe_y.dtype)
        y_tail = tuple(probe_y.shape[1:])
        pool = ThreadPoolExecutor(max_workers=self._threads())

        def load(positions):
            return self._load(part, positions, pool)

        def finished(x, y, p):
            out = finish(x, y, p)
            return np.asarray(out[0], dtype=probe_x.dtype), np.asarray(out[1], probe_y.dtype)

        def shaped(x, y):
            x.set_shape((None, h, w, c))
            y.set_shape((None, *y_tail))
            return x, y

        auto = tf.data.AUTOTUNE
        if cache is None:
            order = np.arange(len(part)) if order is None else np.asarray(order, np.int64)
            ds = tf.data.Dataset.from_tensor_slices(order.astype(np.int64)).batch(batch_size)

            def decode(p):
                return finished(*load(p))

            ds = ds.map(
                lambda p: tf.numpy_function(decode, [p], [x_type, y_type]),
                num_parallel_calls=auto,
                deterministic=True,
            )
        else:
            if order is not None:
                raise ArgumentError("a cached stream shuffles with shuffle_seed, not an order")
            y_raw = tf.as_dtype(part.labels.dtype)
            ds = tf.data.Dataset.from_tensor_slices(np.arange(len(part), dtype=np.int64))
            ds = ds.batch(256).map(
                lambda p: tf.numpy_function(load, [p], [tf.uint8, y_raw, tf.int64]),
                num_parallel_calls=auto,
                deterministic=True,
            )
            ds = ds.map(lambda x, y, p: (tf.ensure_shape(x, (None, h, w, c)), y, p))
            ds = ds.unbatch().cache(os.fspath(cache))
            if shuffle_seed is not None:
                buffer = min(len(part), SHUFFLE_BUFFER)
                ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
            ds = ds.batch(batch_size).map(
                lambda x, y, p: tf.numpy_function(finished, [x, y, p], [x_type, y_type]),
                num_parallel_calls=auto,
                deterministic=True,
            )
        ds = ds.map(shaped).filter(lambda x, y: tf.shape(x)[0] > 0).prefetch(auto)
        if options is not None:
            ds = ds.with_options(options)
        return ds

    @contextlib.contextmanager
    def reading(self):
        """Around a ``tf.data`` epoch: the strict mode's :class:`DatasetError`, not the
        TensorFlow error that wraps it, reaches the caller."""
        self._fatal = None
        try:
            yield
        except Exception:
            if self._fatal is not None:
                raise self._fatal from None
            raise


# ------------------------------------------------------------------ opening a source


def open_stream(
    source: str | os.PathLike,
    spec: SplitSpec | None = None,
    *,
    strict: bool = False,
    download: bool = True,
    progress: bool | None = None,
    workers: int | None = None,
    **split,
) -> StreamDataset:
    """A :class:`StreamDataset` of ``source``, split as :func:`~cnnlab.data.load_dataset`
    splits it.

    Args:
        source: a name or path, as :func:`~cnnlab.data.load_dataset` takes it.
        spec: the :class:`~cnnlab.data.source.SplitSpec`; or give its fields as keywords
            (``image_size=16, seed=3``), which also override ``spec``'s. Streamed images
            are resized to one size as they are read: ``image_size`` may not be None (the
            default is 64x64).
        strict: raise at the first unreadable image instead of skipping it.
        download, progress: for a named dataset that is not fetched yet.
        workers: decoding threads (default: the cores).

    Raises:
        ArgumentError: a bad argument. DatasetError: the source cannot be listed.
    """
    spec = SplitSpec.of(spec, **split)
    if spec.image_size is None:
        raise ArgumentError("streaming needs an image size (images are resized as they are read)")
    src = resolve_source(source)
    meta = spec.meta() | {"streamed": True}
    common = {"strict": strict, "workers": workers}
    if src.kind == "builtin":
        if src.key == "digits":
            x, y, names = digits_arrays()
        else:
            x, y, names = make_synthetic_arrays(50, spec.image_size, 3, spec.seed, spec.grayscale)
        reader = _ArrayReader(x, spec.image_size, spec.grayscale, spec.preprocess, src.key)
        parts = _split(y, spec)
        meta |= {"kind": "builtin", "n_images": len(y)}
        return StreamDataset(src.key, names, spec.shape, reader, parts, src.key, meta, **common)
    if src.kind == "h5":
        return _h5_stream(src.path, spec, meta, common)
    folder = src.folder(download=download, progress=progress)
    names, files = list_class_folders(folder)
    paths = [p for cls in files for (p, _, _) in cls]
    y = np.concatenate([np.full(len(cls), k, dtype=np.int64) for k, cls in enumerate(files)])
    reader = _FileReader(paths, spec.image_size, spec.grayscale, spec.preprocess)
    meta = meta | {"kind": src.kind, "n_images": len(paths)}
    parts = _split(y, spec)
    return StreamDataset(src.name, names, spec.shape, reader, parts, str(folder), meta, **common)


def _split(y: np.ndarray, spec: SplitSpec, test: StreamSplit | None = None) -> dict:
    """The splits of ``load_dataset``: the same stratified indices by seed."""
    y = np.asarray(y, dtype=np.int64)
    if test is None:
        val_idx, test_idx, train_idx = stratified_indices(y, spec.fractions, spec.seed)
        test = StreamSplit(test_idx, y[test_idx])
    else:
        val_idx, train_idx = stratified_indices(y, spec.fractions[:1], spec.seed)
    if len(train_idx) == 0 and len(y):
        raise DatasetError(f"too few images to split ({len(y)})")
    return {
        "train": StreamSplit(train_idx, y[train_idx]),
        "val": StreamSplit(val_idx, y[val_idx]),
        "test": test,
    }


def _h5_part(path: Path, split: str) -> tuple[int, np.ndarray, list[str]]:
    """A course file's image count, labels and class names, without reading its images."""
    import h5py

    kx, ky = f"{split}_set_x", f"{split}_set_y"
    try:
        with h5py.File(path, "r") as f:
            # The in-memory reader's checks, from the headers: a small file can declare an
            # enormous array, or one never written (streaming it would train on fill values).
            shape = check_course_file(f, path, kx, ky)
            y, raw = f[ky][()], f["list_classes"][()]
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise DatasetError(f"{path}: not an HDF5 file, or damaged ({exc})") from None
    y = checked_labels(np.asarray(y), shape[0], path, ky)
    names = decode_class_names(raw, path)
    if len(y) and (y.min() < 0 or y.max() >= len(names)):
        raise DatasetError(f"{path}: {ky} holds labels outside list_classes")
    return int(shape[0]), y, names


def _h5_stream(path: Path, spec: SplitSpec, meta: dict, common: dict) -> StreamDataset:
    train_file, test_file = find_h5_pair(path)
    first = train_file or test_file
    meta = meta | {
        "kind": "h5",
        "train_file": str(train_file) if train_file else None,
        "test_file": str(test_file) if test_file else None,
    }
    found = [(p, s) for p, s in ((train_file, "train"), (test_file, "test")) if p is not None]
    read = [(p, s, *_h5_part(p, s)) for p, s in found]
    names = read[0][4]
    for p, _, _, _, other in read[1:]:
        if other != names:
            raise DatasetError(f"{p}: list_classes {other} differs from {names} in {first}")
    reader = _H5Reader(
        [(p, f"{s}_set_x", n) for p, s, n, _, _ in read],
        spec.image_size,
        spec.grayscale,
        spec.preprocess,
    )
    n0, y0 = read[0][2], read[0][3]
    if len(read) == 2:
        n1, y1 = read[1][2], read[1][3]
        parts = _split(y0, spec, test=StreamSplit(n0 + np.arange(n1, dtype=np.int64), y1))
    else:
        parts = _split(y0, spec)
    meta = meta | {"n_images": sum(r[2] for r in read)}
    shape = spec.shape
    return StreamDataset(pair_name(first), names, shape, reader, parts, str(first), meta, **common)
