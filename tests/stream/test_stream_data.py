"""Streamed datasets (cnnlab.data.stream): the same split and pixels as in memory, bad images
skipped and reported (or fatal with strict), and the tf.data form of the same batches."""

from __future__ import annotations

import numpy as np
import pytest
from _stream_helpers import corrupt, make_folder

from cnnlab.data import export_h5, load_dataset
from cnnlab.data.source import count_images
from cnnlab.data.stream import open_stream
from cnnlab.errors import DatasetError


def _all(stream, split, batch_size=5, order=None):
    xs, ys, ps = [], [], []
    for x, y, p in stream.batches(split, batch_size, order):
        xs.append(x)
        ys.append(y)
        ps.append(p)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ps)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("stream") / "folder")


@pytest.mark.parametrize("seed", [0, 7])
def test_streamed_split_equals_in_memory_split(folder, seed):
    ds = load_dataset(folder, image_size=16, seed=seed, val_fraction=0.2, test_fraction=0.2)
    st = open_stream(folder, image_size=16, seed=seed, val_fraction=0.2, test_fraction=0.2)
    assert st.class_names == ds.class_names and len(st) == len(ds) == 36
    for split in ("train", "val", "test"):
        x, y, _ = _all(st, split)
        ref_x, ref_y = ds.split(split)
        # the same files in each split, in the same order: same labels and the same pixels
        assert np.array_equal(y, ref_y), split
        assert np.array_equal(x, ref_x), split


def test_streamed_course_h5_equals_in_memory(tmp_path, folder):
    whole = load_dataset(folder, image_size=16)
    train_file, _ = export_h5(whole, tmp_path, name="tiny")
    ds = load_dataset(train_file, image_size=12, grayscale=True, seed=3)
    st = open_stream(train_file, image_size=12, grayscale=True, seed=3)
    assert count_images(train_file) == len(whole)
    for split in ("train", "val", "test"):
        x, y, _ = _all(st, split, batch_size=4)
        assert np.array_equal(x, ds.split(split)[0]) and np.array_equal(y, ds.split(split)[1])


def test_builtin_stream_matches_and_order_is_followed():
    ds = load_dataset("synthetic", image_size=16, seed=1)
    st = open_stream("synthetic", image_size=16, seed=1)
    order = np.random.default_rng(0).permutation(len(st.x_train))
    x, y, pos = _all(st, "train", 8, order)
    assert np.array_equal(pos, order)
    assert np.array_equal(x, ds.x_train[order]) and np.array_equal(y, ds.y_train[order])


def test_unreadable_image_is_skipped_and_reported(tmp_path):
    root = make_folder(tmp_path / "f", n_per_class=6)
    bad = corrupt(root / "class_1" / "img_002.png")
    st = open_stream(root, image_size=16, val_fraction=0.0, test_fraction=0.0)
    x, y, pos = _all(st, "train", 4)
    assert len(x) == 17  # 18 images, one unreadable
    skipped = st.skipped.take()
    assert len(skipped) == 1 and str(bad) in skipped[0]
    assert st.skipped.take() == []  # reported once
    # the skipped image is missing from the positions, the others are all there
    assert sorted(pos) == [p for p in range(18) if st.x_train.ids[p] != 8]


def test_unreadable_image_is_fatal_when_strict(tmp_path):
    root = make_folder(tmp_path / "f", n_per_class=4)
    bad = corrupt(root / "class_0" / "img_001.png")
    st = open_stream(root, image_size=16, val_fraction=0.0, test_fraction=0.0, strict=True)
    with pytest.raises(DatasetError, match="strict") as info:
        _all(st, "train", 3)
    assert str(bad) in str(info.value)


def test_tf_dataset_gives_the_same_batches(folder, tmp_path):
    st = open_stream(folder, image_size=16)
    order = np.random.default_rng(5).permutation(len(st.x_train))

    def finish(x, y, p):
        return x.astype(np.float32) / 255.0, y

    got = list(st.tf_dataset("train", 6, finish, order=order).as_numpy_iterator())
    x_ref, y_ref, _ = _all(st, "train", 6, order)
    assert np.allclose(np.concatenate([b[0] for b in got]), x_ref / 255.0)
    assert np.array_equal(np.concatenate([b[1] for b in got]), y_ref)
    # a cache on disk: filled on the first pass, read on the second, every image once
    cached = st.tf_dataset("train", 6, finish, cache=tmp_path / "c", shuffle_seed=3)
    first = np.concatenate([b[1] for b in cached.as_numpy_iterator()])
    again = np.concatenate([b[1] for b in cached.as_numpy_iterator()])
    assert sorted(first) == sorted(y_ref) and np.array_equal(first, again)
    assert any(p.name.startswith("c") for p in tmp_path.iterdir())


def test_tfrecord_export_of_non_square_images_reads_back_pixel_for_pixel(folder, tmp_path):
    # Height and width differ, so a reader that swapped them would fail on the pixels (and
    # a square-only round trip could not see it).
    from cnnlab.data.tfrecord import export_tfrecord, read_tfrecord

    out = tmp_path / "tfr"
    export_tfrecord(folder, out, shards=2, image_size=(12, 20), seed=1)  # H 12, W 20
    want = load_dataset(folder, image_size=(12, 20), seed=1)
    for split in ("train", "val", "test"):
        got = list(read_tfrecord(out, split).as_numpy_iterator())
        x = np.stack([image for image, _ in got])
        y = np.array([label for _, label in got])
        assert x.shape[1:] == (12, 20, 3)
        expected_x, expected_y = getattr(want, f"x_{split}"), getattr(want, f"y_{split}")
        # shards interleave: compare as sets of (label, pixels)
        key = sorted((int(lab), img.tobytes()) for img, lab in zip(x, y, strict=True))
        ref = sorted(
            (int(lab), img.tobytes()) for img, lab in zip(expected_x, expected_y, strict=True)
        )
        assert key == ref, split
