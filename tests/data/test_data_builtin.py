"""Built-in digits and synthetic sets."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import digits_arrays, load_dataset, make_synthetic


def test_digits_are_sklearns_real_images_scaled_to_uint8():
    from sklearn.datasets import load_digits

    x, y, names = digits_arrays()
    ref = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.uint8
    assert names == [str(d) for d in range(10)]
    np.testing.assert_array_equal(y, ref.target)
    np.testing.assert_array_equal(x[..., 0], np.rint(ref.images * 255 / 16).astype(np.uint8))
    assert x.max() == 255 and x.min() == 0


def test_load_digits_native_rgb_and_grayscale():
    ds = load_dataset("digits", image_size=None)
    assert ds.image_shape == (8, 8, 3)
    assert len(ds) == 1797 and ds.n_classes == 10
    # RGB made by repeating the gray channel
    np.testing.assert_array_equal(ds.x_train[..., 0], ds.x_train[..., 2])
    gray = load_dataset("digits", image_size=None, grayscale=True)
    assert gray.image_shape == (8, 8, 1)
    np.testing.assert_array_equal(gray.y_train, ds.y_train)  # same seed, same split
    np.testing.assert_array_equal(gray.x_train[..., 0], ds.x_train[..., 0])


def test_load_digits_resized():
    ds = load_dataset("digits", image_size=(16, 24), seed=1)
    assert ds.image_shape == (16, 24, 3)
    # counts per class in the whole set are the digits' own
    total = {c: sum(ds.class_counts()[s][c] for s in ("train", "val", "test")) for c in "0123"}
    assert total == {"0": 178, "1": 182, "2": 177, "3": 183}


@pytest.mark.slow
def test_synthetic_is_deterministic_and_learnable():
    from sklearn.linear_model import LogisticRegression

    a = make_synthetic(n_per_class=40, image_size=(12, 12), n_classes=4, seed=5)
    b = make_synthetic(n_per_class=40, image_size=(12, 12), n_classes=4, seed=5)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert a.image_shape == (12, 12, 3) and a.n_classes == 4 and len(a) == 160
    x_tr = np.concatenate([a.x_train, a.x_val]).reshape(-1, 12 * 12 * 3) / 255.0
    y_tr = np.concatenate([a.y_train, a.y_val])
    clf = LogisticRegression(max_iter=500).fit(x_tr, y_tr)
    acc = clf.score(a.x_test.reshape(len(a.x_test), -1) / 255.0, a.y_test)
    assert acc >= 0.9


def test_synthetic_grayscale_patterns_differ_by_class():
    ds = make_synthetic(n_per_class=30, image_size=(16, 16), n_classes=2, seed=0, grayscale=True)
    assert ds.image_shape == (16, 16, 1)
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test]).astype(float)[..., 0]
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    # class 0: vertical stripes (vary along width); class 1: horizontal (vary along height)
    var_w = x.std(axis=2).mean(axis=1)
    var_h = x.std(axis=1).mean(axis=1)
    assert np.all(var_w[y == 0] > var_h[y == 0])
    assert np.all(var_h[y == 1] > var_w[y == 1])


def test_synthetic_bad_arguments():
    with pytest.raises(ValueError, match="n_classes must be at least 2"):
        make_synthetic(n_classes=1)
    with pytest.raises(ValueError, match="`n_per_class` must be a positive int"):
        make_synthetic(n_per_class=0)
    with pytest.raises(ValueError, match="image_size"):
        make_synthetic(image_size=(0, 4))


def test_load_dataset_bad_arguments():
    with pytest.raises(ValueError, match="image_size must be"):
        load_dataset("digits", image_size=(1, 2, 3))
    with pytest.raises(ValueError, match="seed must be an integer"):
        load_dataset("digits", seed=1.5)
