"""The Dataset value and its stratified, seeded split."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.data import Dataset, split_dataset, stratified_indices


def _arrays(counts=(40, 20, 10), hw=(4, 4)):
    y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)]).astype(np.int64)
    x = np.zeros((len(y), *hw, 3), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(len(y)) % 256  # make images identifiable
    x[:, 0, 0, 1] = np.arange(len(y)) // 256
    return x, y


def _ids(x):
    return x[:, 0, 0, 0].astype(int) + 256 * x[:, 0, 0, 1].astype(int)


def test_split_is_a_stratified_partition():
    x, y = _arrays((40, 20, 10))
    ds = split_dataset("t", ["a", "b", "c"], x, y, seed=3, val_fraction=0.2, test_fraction=0.1)
    ids = np.concatenate([_ids(ds.x_train), _ids(ds.x_val), _ids(ds.x_test)])
    assert sorted(ids.tolist()) == list(range(70))  # every image exactly once
    counts = ds.class_counts()
    assert counts["val"] == {"a": 8, "b": 4, "c": 2}
    assert counts["test"] == {"a": 4, "b": 2, "c": 1}
    assert counts["train"] == {"a": 28, "b": 14, "c": 7}
    # labels travel with their images
    for split in ("train", "val", "test"):
        xs, ys = ds.split(split)
        np.testing.assert_array_equal(ys, y[_ids(xs)])


def test_split_is_deterministic_by_seed():
    x, y = _arrays()
    a = split_dataset("t", ["a", "b", "c"], x, y, seed=1)
    b = split_dataset("t", ["a", "b", "c"], x, y, seed=1)
    c = split_dataset("t", ["a", "b", "c"], x, y, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(_ids(a.x_test), _ids(c.x_test))


def test_split_mixes_classes_within_a_split():
    x, y = _arrays((50, 50, 50))
    ds = split_dataset("t", ["a", "b", "c"], x, y, seed=0)
    assert not np.all(np.diff(ds.y_train) >= 0)  # not sorted by class


def test_given_test_split_is_kept_and_validation_comes_from_train():
    x, y = _arrays((30, 30))
    xt, yt = x[:6].copy(), y[:6].copy()
    ds = split_dataset(
        "t", ["a", "b"], x, y, x_test=xt, y_test=yt, seed=0, val_fraction=0.2, test_fraction=0.5
    )
    np.testing.assert_array_equal(ds.x_test, xt)
    np.testing.assert_array_equal(ds.y_test, yt)
    assert ds.class_counts()["val"] == {"a": 6, "b": 6}
    assert len(ds.y_train) == 48


def test_class_weights_are_balanced_on_train():
    x, y = _arrays((60, 20))
    ds = split_dataset("t", ["a", "b"], x, y, seed=0, val_fraction=0.0, test_fraction=0.0)
    w = ds.class_weights()
    assert w == pytest.approx({0: 80 / (2 * 60), 1: 80 / (2 * 20)})
    counts = np.bincount(ds.y_train)
    assert counts[0] * w[0] == pytest.approx(counts[1] * w[1])


def test_properties_and_summary():
    x, y = _arrays((5, 5), hw=(6, 7))
    ds = split_dataset("toy", ["cat", "dog"], x, y, seed=0)
    assert ds.image_shape == (6, 7, 3)
    assert ds.n_classes == 2
    assert len(ds) == 10
    assert ds.y_train.dtype == np.int64 and ds.x_train.dtype == np.uint8
    text = ds.summary()
    assert "toy: 10 images of 6x7x3, 2 classes" in text
    assert "cat" in text and "dog" in text


@pytest.mark.parametrize(
    ("val", "test", "match"),
    [(-0.1, 0.1, "val_fraction"), (0.1, 1.0, "test_fraction"), (0.6, 0.5, "below 1")],
)
def test_bad_fractions_raise_value_error(val, test, match):
    x, y = _arrays()
    with pytest.raises(ValueError, match=match):
        split_dataset("t", ["a", "b", "c"], x, y, val_fraction=val, test_fraction=test)


def test_dataset_rejects_bad_arrays():
    x = np.zeros((4, 2, 2, 3), dtype=np.uint8)
    good = dict(
        name="t", class_names=["a", "b"], x_train=x, y_train=np.array([0, 1, 0, 1]),
        x_val=x[:0], y_val=np.zeros(0), x_test=x[:0], y_test=np.zeros(0),
    )  # fmt: skip
    Dataset(**good)
    with pytest.raises(ValueError, match="x_train must be uint8"):
        Dataset(**(good | {"x_train": x.astype(np.float32)}))
    with pytest.raises(ValueError, match="y_train must have shape"):
        Dataset(**(good | {"y_train": np.array([0, 1])}))
    with pytest.raises(ValueError, match="labels outside"):
        Dataset(**(good | {"y_train": np.array([0, 1, 2, 0])}))


def test_stratified_indices_rounding_per_class():
    y = np.array([0] * 7 + [1] * 3)
    val, test, train = stratified_indices(y, (0.3, 0.3), seed=0)
    assert np.bincount(y[val], minlength=2).tolist() == [2, 1]
    assert np.bincount(y[test], minlength=2).tolist() == [2, 1]
    assert np.bincount(y[train], minlength=2).tolist() == [3, 1]


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(0, 40), min_size=1, max_size=5),
    val=st.floats(0.0, 0.45),
    test=st.floats(0.0, 0.45),
    seed=st.integers(0, 2**31 - 1),
)
@pytest.mark.slow
def test_split_properties(counts, val, test, seed):
    y = np.concatenate([np.full(n, k) for k, n in enumerate(counts)] + [np.zeros(0)]).astype(int)
    val_idx, test_idx, train_idx = stratified_indices(y, (val, test), seed)
    all_idx = np.concatenate([val_idx, test_idx, train_idx])
    assert sorted(all_idx.tolist()) == list(range(len(y)))  # a partition
    for k, n in enumerate(counts):
        n_val = int(np.sum(y[val_idx] == k))
        n_test = int(np.sum(y[test_idx] == k))
        assert abs(n_val - n * val) <= 0.5 + 1e-9  # per class, rounded
        assert n_test <= round(n * test) and n_val + n_test <= n
