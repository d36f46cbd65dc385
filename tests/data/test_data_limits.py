"""Limits and garbage refused at load time: image sizes, decoded bytes, .h5 declared shapes,
empty and non-finite data, zip bombs (declared and lying), offline fetch, non-UTF-8 names."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import zipfile

import h5py
import numpy as np
import pytest
from _data_helpers import make_class_folders, write_image

import cnnlab.limits as limits
from cnnlab.data import (
    REGISTRY,
    Dataset,
    DatasetError,
    cache_dir,
    fetch,
    is_fetched,
    load_dataset,
    load_folder_arrays,
    load_h5,
    random_mini_batches,
    safe_extract,
    to_tf_dataset,
)
from cnnlab.data.images import normalize_image_size
from cnnlab.errors import ArgumentError

pytestmark = [pytest.mark.usefixtures("own_cache"), pytest.mark.slow]  # uv run pytest -m slow


def test_image_size_is_capped():
    assert normalize_image_size(limits.MAX_IMAGE_SIDE) == (1024, 1024)
    for bad in (100000, (64, 1025)):
        with pytest.raises(ArgumentError, match="at most 1024 pixels per side") as info:
            normalize_image_size(bad)
        assert "image_size" in str(info.value) and "--image-size" in str(info.value)


def test_decoded_dataset_bytes_are_checked_before_allocating(tmp_path, monkeypatch):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 2})
    monkeypatch.setattr(limits, "MAX_DATASET_BYTES", 4 * 8 * 8 * 3 - 1)
    with pytest.raises(DatasetError, match="4x8x8x3 images would need 768 bytes") as info:
        load_folder_arrays(root, (8, 8), use_cache=False)
    assert str(root) in str(info.value) and "MAX_DATASET_BYTES" in str(info.value)
    with pytest.raises(DatasetError, match="4x10x12x3 images"):  # native size: after one decode
        load_folder_arrays(root, None, use_cache=False)
    assert load_folder_arrays(root, (8, 4), use_cache=False)[0].shape == (4, 8, 4, 3)


def _h5(path, x, y=None, classes=(0, 1), split="train", **dataset_kw):
    with h5py.File(path, "w") as f:
        f["list_classes"] = np.array(classes)
        if isinstance(x, tuple):  # a declared shape, never written
            f.create_dataset(f"{split}_set_x", shape=x, dtype=np.uint8, **dataset_kw)
            n = x[0]
        else:
            f[f"{split}_set_x"] = x
            n = len(x)
        f[f"{split}_set_y"] = np.zeros(n, dtype=np.int64) if y is None else y
    return path


def test_h5_declaring_a_huge_shape_is_refused_before_reading(tmp_path):
    path = _h5(tmp_path / "train_big.h5", (200000, 256, 256, 3), chunks=(1, 256, 256, 3))
    assert path.stat().st_size < 5_000_000
    with pytest.raises(DatasetError, match=r"train_set_x declares 200000x256x256x3 uint8") as info:
        load_dataset(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and "36.6 GiB" in msg and "MAX_DATASET_BYTES" in msg


def test_h5_with_no_images_is_refused_naming_the_file(tmp_path):
    path = _h5(tmp_path / "train_none.h5", np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(DatasetError, match="train_set_x holds no images") as info:
        load_dataset(path)
    assert str(path) in str(info.value)
    with pytest.raises(DatasetError, match="holds no images"):
        load_h5(path)
    test = _h5(tmp_path / "test_x.h5", np.zeros((0, 8, 8, 3), np.uint8), split="test")
    with pytest.raises(DatasetError, match="test_set_x holds no images"):
        load_dataset(test)  # alone, an empty test file is nothing to work with
    # an empty test file beside a real train file (as export_h5 writes) is accepted
    _h5(tmp_path / "train_x.h5", np.zeros((6, 8, 8, 3), np.uint8), y=np.arange(6) % 2)
    assert len(load_dataset(tmp_path / "train_x.h5").y_test) == 0


def test_h5_float_images_with_nan_are_refused_naming_file_and_array(tmp_path):
    x = np.full((4, 8, 8, 3), 0.5, dtype=np.float32)
    x[2, 1, 1, 0] = np.nan
    x[3, 0, 0, 2] = np.inf
    path = _h5(tmp_path / "train_nan.h5", x)
    with pytest.raises(DatasetError, match="train_set_x holds 2 NaN or inf values") as info:
        load_dataset(path)
    assert str(path) in str(info.value)


def test_arrays_handed_to_the_loaders_must_be_finite():
    x = np.zeros((4, 2, 2, 1), dtype=np.float32)
    x[1, 0, 1, 0] = np.nan
    y = np.eye(2)[[0, 1, 0, 1]]
    with pytest.raises(
        ArgumentError, match=r"X must hold finite values.*1 NaN .*index \(1, 0, 1, 0\)"
    ):
        random_mini_batches(x, y, 2)
    with pytest.raises(ArgumentError, match="x must hold finite values"):
        to_tf_dataset(x, np.zeros(4, dtype=np.int64))
    good = np.zeros((2, 2, 2, 1), dtype=np.uint8)
    empty = np.zeros((0, 2, 2, 1), dtype=np.uint8)
    for labels in (np.array([0.0, np.nan]), np.array([0.0, 0.5])):
        with pytest.raises(ArgumentError, match="y_train must hold integer labels"):
            Dataset("d", ["a", "b"], good, labels, empty, [], empty, [])
    ds = Dataset("d", ["a", "b"], good, np.array([0.0, 1.0]), empty, [], empty, [])
    assert ds.y_train.tolist() == [0, 1]


# ------------------------------------------------------------------------------- zip bombs


def _bomb(path, mib: int = 24, name: str = "Dataset/0/zeros.png"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Dataset/1/ok.png", b"x" * 10)
        zf.writestr(name, bytes(mib << 20))
    return path


def _patch_declared_size(path, member: str, size: int) -> None:
    """Make the central directory declare ``size`` bytes for ``member`` (a lying header)."""
    data = bytearray(path.read_bytes())
    name = member.encode()
    at = data.rfind(b"PK\x01\x02")
    while at != -1:
        n = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + n] == name:
            data[at + 24 : at + 28] = size.to_bytes(4, "little")
            break
        at = data.rfind(b"PK\x01\x02", 0, at)
    else:
        raise AssertionError(member)
    path.write_bytes(bytes(data))


def test_zip_over_the_declared_size_limit_is_refused_before_writing(tmp_path):
    archive = _bomb(tmp_path / "bomb.zip", mib=2)
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="expands to 2.0 MiB, over the limit of 1.0 MiB") as info:
        safe_extract(archive, target, max_bytes=1 << 20, max_ratio=1e9)
    assert str(archive) in str(info.value) and "MAX_EXTRACT_BYTES" in str(info.value)
    assert not target.exists()
    big = tmp_path / "declared.zip"
    big.write_bytes(archive.read_bytes())
    _patch_declared_size(big, "Dataset/0/zeros.png", 3 << 30)  # says 3 GiB; default limit
    with pytest.raises(DatasetError, match="expands to 3.0 GiB, over the limit of 2.0 GiB"):
        safe_extract(big, target)
    assert not target.exists()


def test_zip_with_an_absurd_ratio_is_refused_and_fetch_leaves_nothing(tmp_path):
    archive = _bomb(tmp_path / "bomb.zip")
    with pytest.raises(DatasetError, match=r"zeros.png' expands [\d,]+ times .* limit of 100"):
        fetch("signs", from_path=archive)
    assert not is_fetched("signs")
    assert list((cache_dir() / "datasets").iterdir()) == []


def test_zip_whose_header_lies_is_stopped_while_extracting_and_cleaned_up(tmp_path):
    archive = _bomb(tmp_path / "liar.zip", mib=2)
    _patch_declared_size(archive, "Dataset/0/zeros.png", 1000)  # under every declared limit
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="zeros.png") as info:
        safe_extract(archive, target)
    assert str(archive) in str(info.value)
    assert not target.exists()  # the partial output is removed
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    with pytest.raises(DatasetError):
        safe_extract(archive, target)
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == ["mine.txt"]


def test_counting_stops_a_member_beyond_its_declared_size(tmp_path, monkeypatch):
    """Even if the zip reader yielded more than the header declared, extraction stops."""
    archive = _bomb(tmp_path / "z.zip", mib=2)
    real_open = zipfile.ZipFile.open

    def lying_open(self, info, *args, **kw):
        src = real_open(self, info, *args, **kw)
        if isinstance(info, zipfile.ZipInfo) and info.filename.endswith("zeros.png"):
            info.file_size = 1000  # the header now declares less than the reader yields
        return src

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="beyond its declared size"):
        safe_extract(archive, target, max_ratio=1e9)
    assert not target.exists()


def test_fetch_failing_offline_suggests_from_path(tmp_path, monkeypatch):
    missing = (tmp_path / "no-such-download.zip").as_uri()
    monkeypatch.setitem(REGISTRY, "signs", dataclasses.replace(REGISTRY["signs"], url=missing))
    with pytest.raises(DatasetError) as info:
        fetch("signs", progress=False)
    msg = str(info.value)
    assert "could not download" in msg and "cnnlab data fetch signs --from PATH" in msg
    with pytest.raises(DatasetError) as info:
        load_dataset("signs")
    assert str(info.value).count("--from PATH") == 1  # the hint once, not twice


# ------------------------------------------------------------------------ non-UTF-8 names


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs bytes file names")
def test_non_utf8_class_and_file_names_round_trip(tmp_path):
    root = tmp_path / "r"
    make_class_folders(root, {"tea": 2})
    bad_class = os.path.join(os.fsencode(root), b"caf\xe9")
    os.mkdir(bad_class)
    write_image(tmp_path / "x.png")
    os.rename(tmp_path / "x.png", os.path.join(bad_class, b"\xff.png"))
    x, y, names = load_folder_arrays(root, (8, 8))
    assert names == ["caf\udce9", "tea"] and len(y) == 3
    x2, _, names2 = load_folder_arrays(root, (8, 8))  # from the cache: the same names
    assert names2 == names and np.array_equal(x, x2)
    assert len(list((cache_dir() / "arrays").glob("*.npz"))) == 1
    text = json.dumps(names)  # as the run's class_names.json is written (ASCII escapes)
    assert text.isascii() and json.loads(text) == names
    ds = load_dataset(root, image_size=8)
    assert "caf\ufffd" in ds.summary()
    ds.summary().encode("utf-8")  # printable


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs bytes file names")
def test_non_utf8_names_survive_export_h5_and_fetch(tmp_path):
    from cnnlab.data import export_h5, verify_fetched

    root = tmp_path / "plain"
    for d in range(10):
        write_image(root / str(d) / "a.png", (8, 8), color=(20 * d, 0, 0))  # one per class
    os.rename(root / "3" / "a.png", os.path.join(os.fsencode(root / "3"), b"\xff.png"))
    fetch("signs", from_path=root)
    assert verify_fetched("signs")["counts"]["3"] == 1
    ds = load_dataset(root, image_size=8)
    ds = Dataset("x", ["caf\udce9"] + ds.class_names[1:], ds.x_train, ds.y_train,
                 ds.x_val, ds.y_val, ds.x_test, ds.y_test)  # fmt: skip
    train, _ = export_h5(ds, tmp_path / "h5")
    assert load_h5(train).class_names == ds.class_names


def test_download_over_the_limit_is_stopped_and_removed(tmp_path):
    from cnnlab.data.registry import download

    source = tmp_path / "big.bin"
    source.write_bytes(bytes(300_000))
    dest = tmp_path / "out" / "big.zip"
    with pytest.raises(DatasetError, match="over the limit of 97.7 KiB") as info:
        download(source.as_uri(), dest, max_bytes=100_000, progress=False)
    assert source.as_uri() in str(info.value)
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []
