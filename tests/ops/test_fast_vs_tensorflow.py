"""The fast ops agree with TensorFlow's (values and GradientTape gradients) in float32."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from cnnlab.ops import conv2d_backward, conv2d_forward, pool2d_backward, pool2d_forward
from cnnlab.ops.padding import resolve_padding

RTOL, ATOL = 1e-4, 1e-4


def _tf_padding(padding):
    """Our padding argument as tf.nn.conv2d's (a string or explicit NHWC pairs)."""
    if isinstance(padding, str):
        return padding.upper()
    if isinstance(padding, int):
        return [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    (top, bottom), (left, right) = padding
    return [[0, 0], [top, bottom], [left, right], [0, 0]]


def _pair(v) -> list[int]:
    return [v, v] if isinstance(v, int) else list(v)


# id -> (x shape, kernel (kh, kw), C_out, stride, padding)
CONV_CASES = {
    "valid-7x7-happy-like": ((2, 12, 12, 3), (7, 7), 4, 1, "valid"),
    "same-4x4-even-kernel": ((2, 9, 9, 3), (4, 4), 5, 1, "same"),
    "same-4x4-s2-odd-input": ((2, 9, 9, 3), (4, 4), 3, 2, "same"),
    "same-3x3-s2-even-input": ((2, 10, 10, 2), (3, 3), 3, 2, "same"),
    "same-2x3-s(2,1)-non-square": ((1, 7, 10, 2), (2, 3), 4, (2, 1), "same"),
    "same-1x1-s2": ((2, 5, 6, 3), (1, 1), 2, 2, "same"),
    "same-5x5-s3": ((1, 11, 8, 2), (5, 5), 2, 3, "same"),
    "valid-3x3-s3-remainder": ((2, 11, 10, 2), (3, 3), 2, 3, "valid"),
    "explicit-int-2": ((1, 6, 7, 3), (3, 3), 2, 1, 2),
    "explicit-((1,2),(0,3))-s2": ((1, 8, 6, 2), (3, 2), 3, 2, ((1, 2), (0, 3))),
    # 16 or more input channels: a strided input gradient is scattered NHWC, not channel-first.
    "many-channels-same-3x3": ((2, 7, 9, 16), (3, 3), 5, 1, "same"),
    "many-channels-valid-4x2-s2": ((3, 9, 8, 20), (4, 2), 6, 2, "valid"),
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_matches_tensorflow(case: tuple) -> None:
    shape, kernel, c_out, stride, padding = case
    rng = np.random.default_rng(21)
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((*kernel, shape[3], c_out)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)

    y, cache = conv2d_forward(x, w, b, stride=stride, padding=padding)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = conv2d_backward(dy, cache)

    tx, tw, tb = tf.constant(x), tf.constant(w), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([tx, tw, tb])
        ty = tf.nn.conv2d(tx, tw, strides=[1, *_pair(stride), 1], padding=_tf_padding(padding))
        ty = ty + tb
    tdx, tdw, tdb = tape.gradient(ty, [tx, tw, tb], output_gradients=tf.constant(dy))

    assert y.dtype == np.float32 and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.numpy(), rtol=RTOL, atol=ATOL, err_msg="forward")
    np.testing.assert_allclose(dx, tdx.numpy(), rtol=RTOL, atol=ATOL, err_msg="dx")
    np.testing.assert_allclose(dw, tdw.numpy(), rtol=RTOL, atol=ATOL, err_msg="dw")
    np.testing.assert_allclose(db, tdb.numpy(), rtol=RTOL, atol=ATOL, err_msg="db")


def test_same_padding_of_a_4x4_kernel_is_1_before_and_2_after() -> None:
    assert resolve_padding("same", (4, 4), (1, 1), (64, 64)) == ((1, 2), (1, 2))
    # With a stride the total padding depends on the input size, as in TensorFlow.
    assert resolve_padding("same", (3, 3), (2, 2), (10, 9)) == ((0, 1), (1, 1))


def _tf_pool(x: np.ndarray, dy: np.ndarray, pool_size, stride, padding: str, mode: str):
    tx = tf.constant(x)
    ksize, strides = _pair(pool_size), _pair(pool_size if stride is None else stride)
    pool = tf.nn.max_pool2d if mode == "max" else tf.nn.avg_pool2d
    with tf.GradientTape() as tape:
        tape.watch(tx)
        ty = pool(tx, ksize=ksize, strides=strides, padding=padding.upper())
    return ty.numpy(), tape.gradient(ty, tx, output_gradients=tf.constant(dy)).numpy()


# id -> (x shape, pool_size, stride, padding)
POOL_CASES = {
    "valid-2x2": ((2, 8, 6, 3), 2, None, "valid"),
    "valid-3x3-s1-overlapping": ((2, 7, 8, 2), 3, 1, "valid"),
    "valid-3x3-s2-remainder": ((1, 10, 9, 2), 3, 2, "valid"),
    "same-3x3-s2": ((2, 7, 8, 2), 3, 2, "same"),
    "same-2x2-s1-even": ((2, 6, 5, 3), 2, 1, "same"),
    "same-4x4-s1-even": ((1, 7, 7, 2), 4, 1, "same"),
    "same-8x8-default-stride": ((1, 20, 13, 2), 8, None, "same"),
    "same-(3,2)-s(1,2)": ((1, 6, 7, 2), (3, 2), (1, 2), "same"),
}


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool2d_matches_tensorflow(case: tuple, mode: str) -> None:
    shape, pool_size, stride, padding = case
    rng = np.random.default_rng(22)
    x = rng.standard_normal(shape).astype(np.float32)
    y, cache = pool2d_forward(x, pool_size, stride=stride, padding=padding, mode=mode)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = pool2d_backward(dy, cache)
    ty, tdx = _tf_pool(x, dy, pool_size, stride, padding, mode)
    assert y.shape == ty.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ty, rtol=RTOL, atol=ATOL, err_msg="forward")
    np.testing.assert_allclose(dx, tdx, rtol=RTOL, atol=ATOL, err_msg="dx")


def test_average_same_divides_by_the_real_element_count() -> None:
    x = np.ones((1, 3, 3, 1), dtype=np.float32)
    y, cache = pool2d_forward(x, 2, stride=1, padding="same", mode="average")
    # Padding is added after (bottom, right) only; every average of ones is 1, not 1/2 or 1/4.
    np.testing.assert_array_equal(y, np.ones((1, 3, 3, 1), dtype=np.float32))
    dx = pool2d_backward(np.ones_like(y), cache)
    # The corner (2, 2) sits in one window of one real element: it gets the whole gradient.
    assert dx[0, 2, 2, 0] == pytest.approx(1.0 + 0.5 + 0.5 + 0.25)
    assert dx.sum() == pytest.approx(y.size)  # each output's gradient is conserved


# id -> (x shape, pool_size, stride, padding)
TIE_CASES = {
    "valid-2x2-s2": ((2, 6, 6, 2), 2, 2, "valid"),
    "valid-3x3-s1": ((1, 6, 5, 2), 3, 1, "valid"),
    "same-3x3-s1": ((1, 5, 6, 2), 3, 1, "same"),
    "same-3x3-s2": ((2, 7, 7, 1), 3, 2, "same"),
    "same-4x4-s2": ((1, 8, 9, 2), 4, 2, "same"),
    "same-3x3-s3-padded-tiles": ((2, 7, 8, 2), 3, 3, "same"),
    "valid-2x2-s2-remainder": ((1, 7, 9, 2), 2, 2, "valid"),
}


@pytest.mark.parametrize("case", TIE_CASES.values(), ids=TIE_CASES.keys())
def test_max_pool_ties_send_each_gradient_to_the_first_maximum_like_tensorflow(
    case: tuple,
) -> None:
    """All-zero input (ReLU output): one element per window gets the gradient, as in TF."""
    shape, pool_size, stride, padding = case
    x = np.zeros(shape, dtype=np.float32)
    y, cache = pool2d_forward(x, pool_size, stride=stride, padding=padding, mode="max")
    dy = np.random.default_rng(23).uniform(1.0, 2.0, y.shape).astype(np.float32)
    dx = pool2d_backward(dy, cache)
    ty, tdx = _tf_pool(x, dy, pool_size, stride, padding, "max")
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tdx, rtol=RTOL, atol=ATOL)
    # Exactly one receiver per window: the total gradient equals the total upstream gradient.
    assert dx.sum() == pytest.approx(float(dy.sum()), rel=1e-5)


def test_max_pool_same_never_picks_the_padding_for_negative_inputs() -> None:
    x = -1.0 - np.random.default_rng(24).uniform(size=(1, 5, 5, 2)).astype(np.float32)
    y, cache = pool2d_forward(x, 3, stride=2, padding="same", mode="max")
    ty, tdx = _tf_pool(x, np.ones(y.shape, np.float32), 3, 2, "same", "max")
    assert (y < -1.0).all()
    np.testing.assert_allclose(y, ty, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pool2d_backward(np.ones_like(y), cache), tdx, rtol=RTOL, atol=ATOL)
