"""The course's helpers keep the course's semantics; the tf.data helper batches and shuffles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnlab.data import convert_to_one_hot, random_mini_batches, to_tf_dataset


def _course_random_mini_batches(X, Y, mini_batch_size=64, seed=0):  # noqa: N803
    """The course's cnn_utils.random_mini_batches, verbatim in substance."""
    m = X.shape[0]
    mini_batches = []
    np.random.seed(seed)  # noqa: NPY002
    permutation = list(np.random.permutation(m))  # noqa: NPY002
    shuffled_X = X[permutation, :, :, :]  # noqa: N806
    shuffled_Y = Y[permutation, :]  # noqa: N806
    num_complete_minibatches = math.floor(m / mini_batch_size)
    for k in range(0, num_complete_minibatches):
        a, b = k * mini_batch_size, k * mini_batch_size + mini_batch_size
        mini_batches.append((shuffled_X[a:b, :, :, :], shuffled_Y[a:b, :]))
    if m % mini_batch_size != 0:
        a = num_complete_minibatches * mini_batch_size
        mini_batches.append((shuffled_X[a:m, :, :, :], shuffled_Y[a:m, :]))
    return mini_batches


def test_convert_to_one_hot_has_the_course_shape_c_by_m():
    y = np.array([[1, 0, 3, 1]])  # the course passes labels as (1, m)
    out = convert_to_one_hot(y, 4)
    assert out.shape == (4, 4)
    np.testing.assert_array_equal(out, np.eye(4)[y.reshape(-1)].T)
    np.testing.assert_array_equal(out[:, 2], [0, 0, 0, 1])
    np.testing.assert_array_equal(convert_to_one_hot(np.array([2, 0]), 3).T, [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match="labels in 0..2"):
        convert_to_one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="`C` must be a positive int"):
        convert_to_one_hot(np.array([0]), 0)


@pytest.mark.parametrize(("m", "size", "seed"), [(130, 64, 0), (128, 64, 1), (5, 2, 3), (7, 10, 2)])
def test_random_mini_batches_matches_the_course(m, size, seed):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(m, 3, 2, 2))  # noqa: N806
    Y = convert_to_one_hot(rng.integers(0, 6, size=m), 6).T  # noqa: N806
    state = np.random.get_state()  # noqa: NPY002
    ours = random_mini_batches(X, Y, size, seed)
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == state[0] and np.array_equal(after[1], state[1])  # global state untouched
    ref = _course_random_mini_batches(X, Y, size, seed)
    assert len(ours) == len(ref) == math.ceil(m / size)
    for (xa, ya), (xb, yb) in zip(ours, ref, strict=True):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert ours[-1][0].shape[0] == (m % size or size)


def test_random_mini_batches_bad_arguments():
    with pytest.raises(ValueError, match="same number of examples"):
        random_mini_batches(np.zeros((4, 1, 1, 1)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="`mini_batch_size` must be a positive int"):
        random_mini_batches(np.zeros((4, 1, 1, 1)), np.zeros((4, 2)), 0)


@pytest.mark.slow
def test_to_tf_dataset_batches_shuffles_scales_and_one_hots():
    x = np.arange(10 * 2 * 2 * 1, dtype=np.uint8).reshape(10, 2, 2, 1) * 6
    y = np.arange(10) % 3
    ds = to_tf_dataset(x, y, batch_size=4, shuffle=True, seed=1)
    batches = [(xb.numpy(), yb.numpy()) for xb, yb in ds]
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    xs = np.concatenate([b[0] for b in batches])
    ys = np.concatenate([b[1] for b in batches])
    assert xs.dtype == np.float32 and xs.max() <= 1.0
    order = np.argsort(xs[:, 0, 0, 0])
    np.testing.assert_allclose(xs[order], x / 255.0, rtol=1e-6)  # every example once
    np.testing.assert_array_equal(ys[order], y)  # labels stay with their images
    assert not np.array_equal(ys, y)  # shuffled
    again = np.concatenate([yb.numpy() for _, yb in to_tf_dataset(x, y, 4, True, seed=1)])
    np.testing.assert_array_equal(again, ys)  # same seed, same first-epoch order
    plain = to_tf_dataset(x, y, batch_size=10, shuffle=False, scale=False, num_classes=3)
    ((xb, yb),) = list(plain)
    np.testing.assert_array_equal(xb.numpy(), x)
    np.testing.assert_array_equal(yb.numpy(), np.eye(3)[y])
    with pytest.raises(ValueError, match="same length"):
        to_tf_dataset(x, y[:3])
