"""Sharded TFRecord files: a dataset's splits written once, decoded and sized as a run sees
them, for input pipelines past one machine (each worker reads its own shards).

:func:`export_tfrecord` streams the source (:mod:`cnnlab.data.stream`: never the whole set in
memory) into ``<split>-00000-of-00004.tfrecord`` files, images dealt round-robin over the
shards, and writes ``tfrecord.json`` (class names, image shape, the files and their counts).
Each record is a ``tf.train.Example`` with:

* ``image``: the uint8 pixels, ``H * W * C`` raw bytes (the run's decoded and resized image,
  so a pipeline reading them needs no decoder and sees the in-memory path's pixels);
* ``label``: the class index (int64).

:func:`read_tfrecord` reads a split back as a ``tf.data.Dataset`` of ``(uint8 image, label)``.

Example:
    >>> export_tfrecord("synthetic", "out/tfr", shards=2, image_size=16)  # doctest: +SKIP
    >>> ds = read_tfrecord("out/tfr", "train")                               # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cnnlab import _validate
from cnnlab._io import atomic_path
from cnnlab.data.dataset import SPLITS
from cnnlab.data.source import SplitSpec
from cnnlab.data.stream import open_stream
from cnnlab.errors import ArgumentError, DatasetError

MAX_SHARDS = 512
"""The most shards per split: each is an open file while the split is written."""
MANIFEST = "tfrecord.json"


def shard_name(split: str, index: int, shards: int) -> str:
    return f"{split}-{index:05d}-of-{shards:05d}.tfrecord"


def export_tfrecord(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    spec: SplitSpec | None = None,
    *,
    shards: int = 1,
    strict: bool = False,
    batch_size: int = 256,
    **split,
) -> dict:
    """Write ``source``'s train, val and test splits as ``shards`` TFRecord files each.

    Args:
        source, spec: as :func:`cnnlab.data.stream.open_stream` takes them (the same split
            by seed; ``spec``'s fields may also be given as keywords: ``image_size=16``).
        out_dir: folder to write into (created if missing).
        shards: files per split (a split with fewer images than shards leaves some empty).
        strict: stop at an unreadable image instead of skipping it (skipped images are
            listed in the manifest's ``"skipped"``).

    Returns:
        The manifest written to ``tfrecord.json``.
    """
    shards = _validate.positive_int(shards, "shards")
    if shards > MAX_SHARDS:
        raise ArgumentError(
            f"shards must be at most {MAX_SHARDS} (one open file each). Received: shards={shards}"
        )
    spec = SplitSpec.of(spec, **split)
    stream = open_stream(source, spec, strict=strict)
    largest = max(len(stream.parts[s]) for s in SPLITS)
    if shards > max(1, largest):
        raise ArgumentError(
            f"shards must be at most the {largest} images of the largest split of "
            f"{stream.name}. Received: shards={shards}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {
        "name": stream.name,
        "class_names": stream.class_names,
        "image_shape": list(stream.image_shape),
        "seed": spec.seed,
        "splits": {},
        "skipped": [],
    }
    written: list[tuple[Path, Path]] = []  # (temporary, final): renamed only when all is done
    try:
        for split in SPLITS:
            files = [shard_name(split, i, shards) for i in range(shards)]
            counts = [0] * shards
            with _Writers(out, files) as writers:
                written += writers.pairs
                k = 0
                for x, y, _ in stream.batches(split, batch_size):
                    for image, label in zip(x, y, strict=True):
                        writers[k % shards].write(_example(image, label))
                        counts[k % shards] += 1
                        k += 1
            manifest["splits"][split] = {"files": files, "counts": counts}
            manifest["skipped"] += stream.skipped.take()
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)
        if type(exc).__module__.startswith("tensorflow"):  # a failed write: disk full, limits
            message = getattr(exc, "message", str(exc))
            raise DatasetError(f"{out}: cannot write the TFRecord shards ({message})") from None
        raise
    with atomic_path(out / MANIFEST) as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _example(image, label) -> bytes:
    import tensorflow as tf

    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "image": _bytes(image.tobytes()),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
        )
    )
    return example.SerializeToString()


def _bytes(value: bytes):
    import tensorflow as tf

    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


class _Writers:
    """One TFRecordWriter per shard, each to a hidden temporary name (``pairs``: temporary,
    final); the caller renames them once the whole export is written, or removes them."""

    def __init__(self, out: Path, files: list[str]):
        paths = [out / f for f in files]
        self.pairs = [(p.with_name(f".{p.name}.partial"), p) for p in paths]
        self.writers: list = []

    def __enter__(self):
        import tensorflow as tf

        try:
            for tmp, _ in self.pairs:
                self.writers.append(tf.io.TFRecordWriter(os.fspath(tmp)))
        except BaseException:
            self.__exit__(None, None, None)
            for tmp, _ in self.pairs:
                tmp.unlink(missing_ok=True)
            raise
        return self

    def __getitem__(self, i: int):
        return self.writers[i]

    def __exit__(self, kind, exc, tb):
        for w in self.writers:
            w.close()
        return False


def read_tfrecord(folder: str | os.PathLike, split: str = "train"):
    """A split written by :func:`export_tfrecord` as a ``tf.data.Dataset`` of
    ``(uint8 (H, W, C), int64 label)``, its shards interleaved.

    Under ``MultiWorkerMirroredStrategy`` the default FILE auto-shard policy gives each
    worker its own shards (so there should be at least as many shards as workers).
    """
    import tensorflow as tf

    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = [os.fspath(folder / f) for f in manifest["splits"][split]["files"]]
        h, w, c = manifest["image_shape"]
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{folder}: not a cnnlab TFRecord export ({exc})") from None
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        image = tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), (h, w, c))
        return image, ex["label"]

    files_ds = tf.data.Dataset.from_tensor_slices(files)
    ds = files_ds.interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), num_parallel_calls=tf.data.AUTOTUNE
    )
    return ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
