"""Batch normalization as an op: the fast pair agrees with the course-style loops (float64,
1e-10), with numerical gradients (< 1e-7) and with TensorFlow (float32), on every chunking
and thread count; misuse is refused with an ArgumentError that says what was received."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import tensorflow as tf

from cnnlab.errors import ArgumentError
from cnnlab.ops import (
    BatchNormCache,
    batchnorm_backward,
    batchnorm_forward,
    batchnorm_inference,
    pool2d_forward,
)
from cnnlab.ops import reference as ref
from cnnlab.ops._arrays import side_by_side
from cnnlab.ops.batchnorm import _row_chunks
from cnnlab.ops.gradcheck import check_gradient

SHAPES = {
    "one-image": (1, 3, 4, 2),
    "images": (4, 5, 3, 3),
    "one-pixel-per-image": (6, 1, 1, 5),
    "dense": (8, 6),
    "dense-one-example-two-values": (2, 3),
    "odd-count": (3, 7, 5, 4),  # M = 105: no rows side by side
    "wide-channels": (2, 3, 3, 70),
}


def _seed(case: object) -> int:
    return zlib.crc32(repr(case).encode())


def _inputs(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, c) + rng.uniform(-2, 2, c)
    gamma = rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c)
    beta = rng.standard_normal(c)
    dy = rng.standard_normal(shape)
    return [a.astype(dtype) for a in (x, gamma, beta, dy)]


def _assert_matches_reference(x, gamma, beta, dy, eps=1e-3):
    y, cache = batchnorm_forward(x, gamma, beta, eps)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)
    y_ref, cache_ref = ref.batchnorm_forward(x, gamma, beta, eps)
    dx_ref, dgamma_ref, dbeta_ref = ref.batchnorm_backward(dy, cache_ref)
    for name, got, want in [
        ("y", y, y_ref),
        ("mean", cache.mean, cache_ref[3]),
        ("variance", cache.variance, cache_ref[4]),
        ("dx", dx, dx_ref),
        ("dgamma", dgamma, dgamma_ref),
        ("dbeta", dbeta, dbeta_ref),
    ]:
        assert got.dtype == np.float64, name
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_batchnorm_matches_the_loops(shape) -> None:
    _assert_matches_reference(*_inputs(shape, seed=_seed(shape)))


@pytest.mark.parametrize("n_threads", [1, 3])
@pytest.mark.slow
def test_batchnorm_over_several_chunks_matches_the_loops(threads, n_threads) -> None:
    threads(n_threads)
    x, gamma, beta, dy = _inputs((64, 16, 16, 8), seed=n_threads)
    assert len(_row_chunks(side_by_side(x.reshape(-1, 8))[0])) == n_threads
    _assert_matches_reference(x, gamma, beta, dy)


def test_chunk_statistics_merge_is_as_exact_as_two_passes(threads) -> None:
    """float32 values far from zero: the merged variance equals float64's two-pass one."""
    threads(3)
    rng = np.random.default_rng(3)
    x = (1000 + rng.standard_normal((64, 32, 32, 4))).astype(np.float32)
    _, cache = batchnorm_forward(x, None, None)
    x64 = x.astype(np.float64).reshape(-1, 4)
    np.testing.assert_allclose(cache.mean, x64.mean(0), rtol=1e-7)
    np.testing.assert_allclose(cache.variance, x64.var(0), rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 4, 3), (5, 4), (1, 2, 2, 2)])
def test_batchnorm_gradients_match_numerical_ones(shape) -> None:
    x, gamma, beta, _ = _inputs(shape, seed=_seed(shape))
    errors = check_gradient(
        lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, 1e-3),
        batchnorm_backward,
        {"x": x, "gamma": gamma, "beta": beta},
    )
    assert max(errors.values()) < 1e-7, errors


def test_batchnorm_with_given_statistics_gradients_match_numerical_ones() -> None:
    x, gamma, beta, _ = _inputs((2, 3, 3, 4), seed=5)
    mean, variance = np.array([0.1, -1, 2, 0]), np.array([1.0, 0.5, 4, 2])
    errors = check_gradient(
        lambda x, gamma, beta: batchnorm_forward(x, gamma, beta, mean=mean, variance=variance),
        batchnorm_backward,
        {"x": x, "gamma": gamma, "beta": beta},
    )
    assert max(errors.values()) < 1e-7, errors


def test_batchnorm_along_another_axis_is_the_channels_last_one_moved() -> None:
    x, gamma, beta, dy = _inputs((3, 4, 5, 6), seed=9)
    y, cache = batchnorm_forward(np.moveaxis(x, -1, 1), gamma, beta, axis=1)
    dx, dgamma, dbeta = batchnorm_backward(np.moveaxis(dy, -1, 1), cache)
    y_last, cache_last = batchnorm_forward(x, gamma, beta)
    grads_last = batchnorm_backward(dy, cache_last)
    np.testing.assert_allclose(np.moveaxis(y, 1, -1), y_last, atol=1e-12)
    np.testing.assert_allclose(np.moveaxis(dx, 1, -1), grads_last[0], atol=1e-12)
    np.testing.assert_allclose(dgamma, grads_last[1], atol=1e-12)
    np.testing.assert_allclose(dbeta, grads_last[2], atol=1e-12)


def test_no_gamma_or_beta_means_scale_one_and_offset_zero() -> None:
    x, _, _, dy = _inputs((4, 3, 3, 2), seed=1)
    ones, zeros = np.ones(2), np.zeros(2)
    y, cache = batchnorm_forward(x, None, None)
    y1, cache1 = batchnorm_forward(x, ones, zeros)
    np.testing.assert_array_equal(y, y1)
    for a, b in zip(batchnorm_backward(dy, cache), batchnorm_backward(dy, cache1), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)


def test_inference_is_the_forward_with_given_statistics() -> None:
    x, gamma, beta, _ = _inputs((3, 2, 2, 3), seed=2)
    mean, variance = np.array([0.5, 0, -1]), np.array([2.0, 1, 0.25])
    y = batchnorm_inference(x, mean, variance, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, gamma * (x - mean) / np.sqrt(variance + 1e-3) + beta)
    _, cache = batchnorm_forward(x, gamma, beta, mean=mean, variance=variance)
    assert not cache.batch_statistics
    np.testing.assert_array_equal(cache.mean, mean)


TF_CASES = {
    "images": ((8, 6, 5, 4), -1),
    "dense": ((16, 10), -1),
    "channels-first": ((4, 3, 5, 6), 1),
    "big-batch": ((32, 16, 16, 16), -1),
}


@pytest.mark.parametrize("case", TF_CASES.values(), ids=TF_CASES.keys())
def test_batchnorm_matches_tensorflow(case) -> None:
    shape, axis = case
    c = shape[axis]
    rng = np.random.default_rng(_seed(case))
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    gamma = rng.uniform(0.5, 2, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)

    y, cache = batchnorm_forward(x, gamma, beta, 1e-3, axis=axis)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)

    axes = [a for a in range(len(shape)) if a != axis % len(shape)]
    bshape = [c if a == axis % len(shape) else 1 for a in range(len(shape))]
    tx, tg, tb = tf.constant(x), tf.constant(gamma), tf.constant(beta)
    with tf.GradientTape() as tape:
        tape.watch([tx, tg, tb])
        mean, var = tf.nn.moments(tx, axes=axes, keepdims=True)
        ty = tf.nn.batch_normalization(
            tx, mean, var, tf.reshape(tb, bshape), tf.reshape(tg, bshape), 1e-3
        )
    tdx, tdg, tdb = tape.gradient(ty, [tx, tg, tb], output_gradients=tf.constant(dy))

    assert y.dtype == dx.dtype == dgamma.dtype == np.float32
    tol = {"rtol": 1e-4, "atol": 1e-4}
    np.testing.assert_allclose(y, ty.numpy(), **tol, err_msg="y")
    np.testing.assert_allclose(cache.mean, tf.reshape(mean, [-1]).numpy(), **tol)
    np.testing.assert_allclose(cache.variance, tf.reshape(var, [-1]).numpy(), **tol)
    np.testing.assert_allclose(dx, tdx.numpy(), **tol, err_msg="dx")
    np.testing.assert_allclose(dgamma, tdg.numpy(), rtol=1e-4, atol=1e-3, err_msg="dgamma")
    np.testing.assert_allclose(dbeta, tdb.numpy(), rtol=1e-4, atol=1e-3, err_msg="dbeta")


def test_batchnorm_with_given_statistics_matches_tensorflow() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 5, 5, 3)).astype(np.float32)
    mean = rng.standard_normal(3).astype(np.float32)
    var = rng.uniform(0.5, 2, 3).astype(np.float32)
    gamma, beta = (
        rng.standard_normal(3).astype(np.float32),
        rng.standard_normal(3).astype(np.float32),
    )
    dy = rng.standard_normal(x.shape).astype(np.float32)

    y, cache = batchnorm_forward(x, gamma, beta, 1e-3, mean=mean, variance=var)
    dx, dgamma, dbeta = batchnorm_backward(dy, cache)

    tx, tg, tb = tf.constant(x), tf.constant(gamma), tf.constant(beta)
    with tf.GradientTape() as tape:
        tape.watch([tx, tg, tb])
        ty = tf.nn.batch_normalization(tx, mean, var, tb, tg, 1e-3)
    tdx, tdg, tdb = tape.gradient(ty, [tx, tg, tb], output_gradients=tf.constant(dy))
    for got, want in [(y, ty), (dx, tdx), (dgamma, tdg), (dbeta, tdb)]:
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-4, atol=1e-4)


# --- misuse ---------------------------------------------------------------------------


def _ok():
    x, gamma, beta, dy = _inputs((2, 3, 3, 4))
    return x, gamma, beta, dy


@pytest.mark.parametrize(
    "cache", [None, (1, 2), "cache", pool2d_forward(np.zeros((1, 2, 2, 1)), 2)[1]]
)
def test_backward_refuses_a_cache_that_is_not_a_batchnorm_cache(cache) -> None:
    _, _, _, dy = _ok()
    with pytest.raises(ArgumentError, match=r"BatchNormCache returned by batchnorm_forward"):
        batchnorm_backward(dy, cache)


def test_backward_refuses_dy_of_another_shape() -> None:
    x, gamma, beta, dy = _ok()
    _, cache = batchnorm_forward(x, gamma, beta)
    with pytest.raises(ArgumentError, match=r"Received: dy.shape=\(2, 3, 3, 3\)"):
        batchnorm_backward(dy[..., :3], cache)
    with pytest.raises(ArgumentError, match="real numbers"):
        batchnorm_backward(np.full(dy.shape, "a"), cache)


@pytest.mark.parametrize("name", ["gamma", "beta", "mean", "variance"])
def test_forward_refuses_per_channel_vectors_of_another_shape(name) -> None:
    x, gamma, beta, _ = _ok()
    args = {"gamma": gamma, "beta": beta, "mean": np.zeros(4), "variance": np.ones(4)}
    args[name] = np.ones((1, 4)) if name != "beta" else np.ones(3)
    with pytest.raises(ArgumentError, match=rf"`{name}` must have shape \(4,\).*Received"):
        batchnorm_forward(x, **args)


@pytest.mark.parametrize("eps", [0, -1e-3, float("nan"), float("inf"), True, "0.001", None])
def test_forward_refuses_an_eps_that_is_not_positive(eps) -> None:
    x, gamma, beta, _ = _ok()
    with pytest.raises(ArgumentError, match=r"`eps` must be a positive number. Received: eps="):
        batchnorm_forward(x, gamma, beta, eps)
    if eps in (0, -1e-3):
        with pytest.raises(ArgumentError, match="eps must be positive"):
            ref.batchnorm_forward(x, gamma, beta, eps)


@pytest.mark.parametrize("axis", [0, 4, -5, 1.0, True])
def test_forward_refuses_the_batch_axis_or_an_axis_out_of_range(axis) -> None:
    x, _, _, _ = _ok()
    with pytest.raises(ArgumentError, match="Received: axis="):
        batchnorm_forward(x, None, None, axis=axis)


def test_forward_refuses_a_vector_strings_and_half_the_statistics() -> None:
    with pytest.raises(ArgumentError, match=r"Received: axis=-1, x.shape=\(5,\)"):
        batchnorm_forward(np.ones(5), None, None)
    with pytest.raises(ArgumentError, match="real numbers"):
        batchnorm_forward(np.full((2, 3), "a"), None, None)
    x, gamma, beta, _ = _ok()
    with pytest.raises(ArgumentError, match="both `mean` and `variance`"):
        batchnorm_forward(x, gamma, beta, mean=np.zeros(4))


def test_the_loops_refuse_a_wrong_cache_and_dout_shape() -> None:
    x, gamma, beta, dy = _ok()
    _, cache = ref.batchnorm_forward(x, gamma, beta)
    with pytest.raises(ArgumentError, match=r"cache must be the tuple \(x, gamma"):
        ref.batchnorm_backward(dy, cache[:5])
    with pytest.raises(ArgumentError, match="dout must have the shape of x"):
        ref.batchnorm_backward(dy[:1], cache)
    with pytest.raises(ArgumentError, match="gamma must have shape"):
        ref.batchnorm_forward(x, gamma[:2], beta)


def test_cache_is_a_named_tuple_with_the_statistics() -> None:
    x, gamma, beta, _ = _ok()
    _, cache = batchnorm_forward(x, gamma, beta)
    assert isinstance(cache, BatchNormCache) and cache.batch_statistics
    assert cache.mean.shape == cache.variance.shape == (4,)
