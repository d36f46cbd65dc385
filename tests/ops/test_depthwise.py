"""The fast depthwise convolution agrees with the course-style loops (1e-10, float64), with
numerical gradients (relative error < 1e-7) and with TensorFlow (values and GradientTape
gradients, float32)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import tensorflow as tf

from cnnlab.ops import depthwise_conv2d_backward, depthwise_conv2d_forward
from cnnlab.ops import reference as ref
from cnnlab.ops.gradcheck import check_gradient


def _seed(case: object) -> int:
    return zlib.crc32(repr(case).encode())


# (x shape, f, multiplier, pad, stride)
LOOP_CASES = [
    ((2, 5, 7, 3), 3, 1, 0, 1),  # valid, non-square input
    ((2, 5, 7, 3), 3, 2, 1, 2),  # multiplier 2, padding and stride
    ((1, 6, 4, 2), 2, 3, 0, 2),  # non-overlapping windows, multiplier 3
    ((3, 8, 8, 1), 1, 1, 0, 1),  # 1x1 kernel on one channel
    ((2, 9, 6, 4), 4, 1, 2, 3),  # even kernel, stride 3
    ((1, 4, 4, 3), 4, 2, 0, 1),  # kernel as large as the input
    ((2, 8, 7, 2), 3, 1, 0, 2),  # stride leaves a remainder
    ((2, 7, 7, 2), 5, 2, 3, 2),  # padding wider than half the kernel
    ((2, 6, 6, 17), 3, 1, 1, 1),  # many channels
    ((2, 8, 9, 2), 2, 4, 0, 3),  # stride larger than the kernel
]


@pytest.mark.parametrize("case", LOOP_CASES, ids=[repr(c) for c in LOOP_CASES])
def test_depthwise_fast_equals_loops(case: tuple) -> None:
    shape, f, mult, pad, stride = case
    rng = np.random.default_rng(_seed(case))
    x = rng.standard_normal(shape)
    w = rng.standard_normal((f, f, shape[3], mult))
    b = rng.standard_normal(shape[3] * mult)

    z_ref, cache_ref = ref.depthwise_conv_forward(
        x, w, b.reshape(1, 1, 1, -1), {"pad": pad, "stride": stride}
    )
    y, cache = depthwise_conv2d_forward(x, w, b, stride=stride, padding=pad)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, z_ref, rtol=0, atol=1e-10)

    dy = rng.standard_normal(y.shape)
    dx_ref, dw_ref, db_ref = ref.depthwise_conv_backward(dy, cache_ref)
    dx, dw, db = depthwise_conv2d_backward(dy, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dw, dw_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(db, db_ref.reshape(-1), rtol=0, atol=1e-10)


def test_depthwise_with_multiplier_1_is_a_conv2d_per_channel() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 5, 3))
    w = rng.standard_normal((3, 3, 3, 1))
    y, _ = depthwise_conv2d_forward(x, w, padding="same")
    for c in range(3):
        z, _ = ref.conv_forward(
            x[..., c : c + 1], w[:, :, c : c + 1], np.zeros((1, 1, 1, 1)), {"pad": 1, "stride": 1}
        )
        np.testing.assert_allclose(y[..., c], z[..., 0], rtol=0, atol=1e-12)


# id -> (x shape, kernel (kh, kw), multiplier, stride, padding)
GRAD_CASES = {
    "valid-3x3-s1": ((2, 6, 5, 3), (3, 3), 1, 1, "valid"),
    "valid-3x3-s2-m2": ((2, 7, 6, 2), (3, 3), 2, 2, "valid"),
    "same-4x4-s1-even-kernel": ((1, 6, 5, 2), (4, 4), 1, 1, "same"),
    "same-3x3-s2-m3": ((1, 7, 6, 2), (3, 3), 3, 2, "same"),
    "same-2x3-s2x1-non-square": ((1, 5, 6, 2), (2, 3), 2, (2, 1), "same"),
    "explicit-((1,2),(0,3))": ((1, 4, 5, 2), (3, 2), 1, 1, ((1, 2), (0, 3))),
}


@pytest.mark.parametrize("case", GRAD_CASES.values(), ids=GRAD_CASES.keys())
def test_depthwise_backward_matches_numerical_gradients(case: tuple) -> None:
    shape, kernel, mult, stride, padding = case
    rng = np.random.default_rng(12)
    inputs = {
        "x": rng.standard_normal(shape),
        "w": rng.standard_normal((*kernel, shape[3], mult)),
        "b": rng.standard_normal(shape[3] * mult),
    }
    errors = check_gradient(
        lambda x, w, b: depthwise_conv2d_forward(x, w, b, stride=stride, padding=padding),
        depthwise_conv2d_backward,
        inputs,
    )
    assert max(errors.values()) < 1e-7, errors


def _tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    if isinstance(padding, int):
        return [[0, 0], [padding, padding], [padding, padding], [0, 0]]
    (top, bottom), (left, right) = padding
    return [[0, 0], [top, bottom], [left, right], [0, 0]]


# id -> (x shape, kernel (kh, kw), multiplier, stride, padding); tf.nn.depthwise_conv2d
# takes equal strides only.
TF_CASES = {
    "valid-3x3": ((2, 9, 8, 3), (3, 3), 1, 1, "valid"),
    "same-3x3-mini-xception": ((2, 10, 10, 8), (3, 3), 1, 1, "same"),
    "same-4x4-even-kernel": ((2, 9, 9, 3), (4, 4), 1, 1, "same"),
    "same-2x2-even-kernel-m2": ((2, 7, 8, 3), (2, 2), 2, 1, "same"),
    "same-4x4-s2-odd-input": ((2, 9, 9, 3), (4, 4), 2, 2, "same"),
    "same-3x3-s2-even-input": ((2, 10, 10, 2), (3, 3), 3, 2, "same"),
    "valid-5x3-s3-remainder": ((1, 11, 10, 4), (5, 3), 1, 3, "valid"),
    "explicit-((1,2),(0,3))": ((1, 8, 6, 2), (3, 2), 2, 1, ((1, 2), (0, 3))),
    "many-channels-same": ((2, 7, 9, 32), (3, 3), 1, 1, "same"),
}


@pytest.mark.parametrize("case", TF_CASES.values(), ids=TF_CASES.keys())
def test_depthwise_matches_tensorflow(case: tuple) -> None:
    shape, kernel, mult, stride, padding = case
    rng = np.random.default_rng(_seed(case))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((*kernel, shape[3], mult)).astype(np.float32)
    b = rng.standard_normal(shape[3] * mult).astype(np.float32)

    y, cache = depthwise_conv2d_forward(x, w, b, stride=stride, padding=padding)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, db = depthwise_conv2d_backward(dy, cache)

    tx, tw, tb = tf.constant(x), tf.constant(w), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([tx, tw, tb])
        ty = tf.nn.depthwise_conv2d(
            tx, tw, strides=[1, stride, stride, 1], padding=_tf_padding(padding)
        )
        ty = ty + tb
    tdx, tdw, tdb = tape.gradient(ty, [tx, tw, tb], output_gradients=tf.constant(dy))

    assert y.dtype == np.float32 and y.shape == tuple(ty.shape)
    for name, ours, theirs in (
        ("forward", y, ty),
        ("dx", dx, tdx),
        ("dw", dw, tdw),
        ("db", db, tdb),
    ):
        theirs = theirs.numpy()
        scale = max(1.0, float(np.abs(theirs).max()))
        # 1e-5 relative to the largest value: float32 sums of up to ~500 terms.
        assert np.abs(ours - theirs).max() <= 1e-5 * scale, name


def test_depthwise_need_dx_false_and_errors() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    y, cache = depthwise_conv2d_forward(x, w)
    dx, dw, db = depthwise_conv2d_backward(np.ones_like(y), cache, need_dx=False)
    assert dx is None and dw.shape == w.shape and db.shape == (6,)
    with pytest.raises(ValueError, match="channels"):
        depthwise_conv2d_forward(x, w[:, :, :2])
    with pytest.raises(ValueError, match=r"`b` must have shape \(6,\)"):
        depthwise_conv2d_forward(x, w, np.zeros(3))
    with pytest.raises(ValueError, match="DepthwiseConv2DCache"):
        depthwise_conv2d_backward(np.ones_like(y), (x, w))
    with pytest.raises(ValueError, match="must have shape"):
        depthwise_conv2d_backward(np.ones((2, 3, 3, 3)), cache)
    y0, cache0 = depthwise_conv2d_forward(x[:0], w)
    assert y0.shape == (0, 3, 3, 6)
    dx0, _, _ = depthwise_conv2d_backward(y0, cache0)
    assert dx0.shape == (0, 5, 5, 3)
