"""The course's HDF5 layout: loading, exporting, and broken files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cnnlab.data import DatasetError, export_h5, load_dataset, load_h5, make_synthetic


def _course_pair(folder, name="happy", n_train=30, n_test=10, classes=(0, 1), seed=0):
    """Write train_<name>.h5 / test_<name>.h5 like the course's files."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8)
        y = np.arange(n) % len(classes)
        with h5py.File(folder / f"{split}_{name}.h5", "w") as f:
            f["list_classes"] = np.array(classes)
            f[f"{split}_set_x"] = x
            f[f"{split}_set_y"] = y
        arrays[split] = (x, y)
    return folder / f"train_{name}.h5", folder / f"test_{name}.h5", arrays


@pytest.mark.slow
def test_load_h5_reads_the_course_layout(tmp_path):
    train, test, arrays = _course_pair(tmp_path, classes=(0, 1, 2))
    ds = load_h5(train, test)
    np.testing.assert_array_equal(ds.x_train, arrays["train"][0])
    np.testing.assert_array_equal(ds.y_train, arrays["train"][1])
    np.testing.assert_array_equal(ds.x_test, arrays["test"][0])
    assert ds.class_names == ["0", "1", "2"]
    assert ds.name == "happy" and len(ds.y_val) == 0
    only_test = load_h5(test_path=test)
    assert len(only_test.y_train) == 0 and len(only_test.y_test) == 10
    with pytest.raises(ValueError, match="neither"):
        load_h5()


def test_export_then_load_h5_round_trip_is_identical(tmp_path):
    ds = make_synthetic(n_per_class=10, image_size=(9, 7), n_classes=3, seed=2)
    train_file, test_file = export_h5(ds, tmp_path / "out")
    assert train_file.name == "train_synthetic.h5" and test_file.name == "test_synthetic.h5"
    back = load_h5(train_file, test_file)
    np.testing.assert_array_equal(back.x_train, np.concatenate([ds.x_train, ds.x_val]))
    np.testing.assert_array_equal(back.y_train, np.concatenate([ds.y_train, ds.y_val]))
    np.testing.assert_array_equal(back.x_test, ds.x_test)
    np.testing.assert_array_equal(back.y_test, ds.y_test)
    assert back.class_names == ds.class_names
    with h5py.File(train_file) as f:  # the course's keys and dtypes
        assert set(f.keys()) == {"train_set_x", "train_set_y", "list_classes"}
        assert f["train_set_x"].dtype == np.uint8
        assert f["list_classes"][0] == b"class_0"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "test_synthetic.h5",
        "train_synthetic.h5",
    ]  # fmt: skip  (no temporary files left)


@pytest.mark.slow
def test_load_dataset_on_course_file_keeps_its_test_split(tmp_path):
    train, test, arrays = _course_pair(tmp_path, n_train=40, n_test=12)
    for source in (train, test, tmp_path):
        ds = load_dataset(source, image_size=None, val_fraction=0.25)
        np.testing.assert_array_equal(ds.x_test, arrays["test"][0])
        assert len(ds.y_val) == 10 and len(ds.y_train) == 30
        assert ds.meta["kind"] == "h5"
    resized = load_dataset(train, image_size=(4, 4), grayscale=True)
    assert resized.image_shape == (4, 4, 1)


def test_load_dataset_on_lone_train_file_splits_it(tmp_path):
    train, test, _ = _course_pair(tmp_path, n_train=40)
    test.unlink()
    ds = load_dataset(train, image_size=None, val_fraction=0.25, test_fraction=0.25)
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (20, 10, 10)


def test_float_images_in_unit_range_are_scaled(tmp_path):
    path = tmp_path / "train_f.h5"
    x = np.full((2, 3, 3, 3), 0.5, dtype=np.float32)
    with h5py.File(path, "w") as f:
        f["train_set_x"], f["train_set_y"], f["list_classes"] = x, np.array([0, 1]), [b"a", b"b"]
    ds = load_h5(path)
    assert ds.x_train.dtype == np.uint8 and np.all(ds.x_train == 128)
    assert ds.class_names == ["a", "b"]


def _write(path, **arrays):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v


GOOD = dict(
    train_set_x=np.zeros((3, 4, 4, 3), np.uint8),
    train_set_y=np.array([0, 1, 0]),
    list_classes=np.array([0, 1]),
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"train_set_y": None}, "missing key(s) train_set_y"),
        ({"list_classes": None}, "missing key(s) list_classes"),
        ({"train_set_y": np.array([0, 1, 2])}, "labels outside list_classes"),
        ({"train_set_y": np.array([0, 1])}, "has 2 labels but the images have 3"),
        ({"train_set_x": np.full((3, 4, 4, 3), np.nan, np.float32)}, "NaN or inf"),
        ({"train_set_x": np.full((3, 4, 4, 3), np.inf)}, "NaN or inf"),
        ({"train_set_y": np.array([0.0, np.nan, 1.0])}, "NaN or inf labels"),
        ({"train_set_x": np.zeros((3, 4, 4, 2), np.uint8)}, "must have shape (N, H, W, 3)"),
        ({"train_set_x": np.full((3, 4, 4, 3), 300, np.int32)}, "values must lie in 0..255"),
    ],
)
def test_broken_h5_contents_raise_dataset_error_naming_the_file(tmp_path, change, message):
    arrays = {k: v for k, v in (GOOD | change).items() if v is not None}
    path = tmp_path / "train_bad.h5"
    _write(path, **arrays)
    with pytest.raises(DatasetError) as info:
        load_h5(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_not_hdf5_and_truncated_files(tmp_path):
    text = tmp_path / "train_text.h5"
    text.write_text("this is not HDF5")
    with pytest.raises(DatasetError, match="not an HDF5 file") as info:
        load_dataset(text)
    assert str(text) in str(info.value)
    good = tmp_path / "good.h5"
    _write(good, **(GOOD | {"train_set_x": np.zeros((300, 32, 32, 3), np.uint8)}))
    cut = tmp_path / "train_cut.h5"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError) as info:
        load_h5(cut)
    assert str(cut) in str(info.value)
    with pytest.raises(DatasetError, match="no such file"):
        load_h5(tmp_path / "train_missing.h5")


@pytest.mark.slow
def test_mismatched_pair_is_reported(tmp_path):
    train, test, _ = _course_pair(tmp_path, classes=(0, 1))
    _write(test, test_set_x=np.zeros((2, 8, 8, 3), np.uint8), test_set_y=np.array([0, 1]),
           list_classes=np.array([0, 1, 2]))  # fmt: skip
    with pytest.raises(DatasetError, match="list_classes .* differs"):
        load_h5(train, test)
    with pytest.raises(DatasetError, match="list_classes .* differs"):
        load_dataset(train)


def test_export_rejects_bad_name(tmp_path):
    ds = make_synthetic(n_per_class=4, image_size=(4, 4), n_classes=2)
    with pytest.raises(ValueError, match="name must be a plain file name part"):
        export_h5(ds, tmp_path, name="../evil")
