"""The fast ops agree with the course's loops to 1e-10 in float64, forward and backward."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from cnnlab.ops import conv2d_backward, conv2d_forward, pool2d_backward, pool2d_forward
from cnnlab.ops import reference as ref

# (x shape, f, C_out, pad, stride)
CONV_CASES = [
    ((2, 5, 7, 3), 3, 4, 0, 1),  # pad 0, non-square input
    ((2, 5, 7, 3), 3, 4, 1, 2),  # the course's forward example geometry
    ((1, 6, 4, 2), 2, 3, 0, 2),  # non-overlapping windows
    ((3, 8, 8, 1), 1, 2, 0, 1),  # 1x1 kernel
    ((2, 9, 6, 4), 4, 1, 2, 3),  # even kernel, stride 3, single filter
    ((1, 4, 4, 3), 4, 2, 0, 1),  # kernel as large as the input
    ((2, 8, 7, 2), 3, 3, 0, 2),  # stride leaves a remainder row and column
    ((2, 7, 7, 2), 5, 2, 3, 2),  # padding wider than half the kernel
    ((10, 4, 4, 3), 2, 8, 2, 2),  # the course's backward example geometry
    ((2, 8, 9, 2), 2, 3, 0, 3),  # stride larger than the kernel: gaps between windows
    ((1, 7, 7, 2), 1, 2, 1, 2),  # 1x1 kernel with padding and stride
    ((2, 6, 5, 3), 2, 3, 3, 1),  # stride 1, padding wider than the kernel
    ((2, 6, 6, 17), 3, 5, 1, 1),  # many channels, stride 1
    ((1, 5, 6, 18), 2, 4, 2, 1),  # many channels, stride 1, padding wider than the kernel
    ((2, 6, 5, 1), 3, 20, 1, 1),  # stride 1, many filters on one channel: dx by scatter
    ((2, 6, 8, 3), 3, 4, 1, 1),  # even output width, few filters: 4 pixels per product row
    ((1, 7, 16, 2), 3, 6, 1, 2),  # the same with stride 2
    ((2, 5, 7, 3), 2, 8, 0, 1),  # 8 filters: 2 pixels per product row
]


def _seed(case: object) -> int:
    """A seed that is the same in every process (``hash`` of a str is not)."""
    return zlib.crc32(repr(case).encode())


def _case_id(case: tuple) -> str:
    shape, f, c_out, pad, stride = case
    return f"x{'x'.join(map(str, shape))}-f{f}-c{c_out}-pad{pad}-s{stride}"


@pytest.mark.parametrize("case", CONV_CASES, ids=[_case_id(c) for c in CONV_CASES])
def test_conv_fast_equals_reference(case: tuple) -> None:
    shape, f, c_out, pad, stride = case
    rng = np.random.default_rng(_seed(case))
    x = rng.standard_normal(shape)
    w = rng.standard_normal((f, f, shape[3], c_out))
    b = rng.standard_normal(c_out)

    z_ref, cache_ref = ref.conv_forward(
        x, w, b.reshape(1, 1, 1, c_out), {"pad": pad, "stride": stride}
    )
    y, cache = conv2d_forward(x, w, b, stride=stride, padding=pad)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, z_ref, rtol=0, atol=1e-10)

    dy = rng.standard_normal(y.shape)
    dx_ref, dw_ref, db_ref = ref.conv_backward(dy, cache_ref)
    dx, dw, db = conv2d_backward(dy, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(dw, dw_ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(db, db_ref.reshape(c_out), rtol=0, atol=1e-10)


# (x shape, f, stride)
POOL_CASES = [
    ((2, 5, 7, 3), 2, 1),  # overlapping, non-square input
    ((2, 6, 4, 2), 2, 2),  # non-overlapping
    ((1, 7, 9, 1), 3, 2),  # overlapping with stride 2 and a remainder
    ((2, 8, 8, 3), 3, 3),  # non-overlapping, remainder dropped
    ((1, 5, 5, 2), 5, 1),  # window as large as the input
    ((2, 9, 6, 2), 4, 1),  # even window, overlapping
    ((5, 5, 3, 2), 2, 1),  # the course's example geometry
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    "case", POOL_CASES, ids=[f"x{'x'.join(map(str, s))}-f{f}-s{st}" for s, f, st in POOL_CASES]
)
def test_pool_fast_equals_reference(case: tuple, mode: str) -> None:
    shape, f, stride = case
    rng = np.random.default_rng(_seed((case, mode)))
    x = rng.standard_normal(shape)
    a_ref, cache_ref = ref.pool_forward(x, {"f": f, "stride": stride}, mode=mode)
    y, cache = pool2d_forward(x, f, stride=stride, padding="valid", mode=mode)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, a_ref, rtol=0, atol=1e-10)

    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        pool2d_backward(dy, cache), ref.pool_backward(dy, cache_ref, mode=mode), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize(("f", "stride"), [(2, 1), (3, 2), (2, 2)], ids=["f2-s1", "f3-s2", "f2-s2"])
def test_max_pool_ties_go_to_the_same_element_as_the_reference(f: int, stride: int) -> None:
    """Inputs full of ties: both send each gradient to the first maximum only."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, size=(2, 7, 6, 2)).astype(np.float64)
    a_ref, cache_ref = ref.pool_forward(x, {"f": f, "stride": stride}, mode="max")
    y, cache = pool2d_forward(x, f, stride=stride, mode="max")
    np.testing.assert_array_equal(y, a_ref)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        pool2d_backward(dy, cache), ref.pool_backward(dy, cache_ref, mode="max"), rtol=0, atol=1e-12
    )


def test_fast_ops_accept_non_contiguous_inputs() -> None:
    """Views (a transposed or reversed array) give the same numbers as contiguous copies."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((6, 5, 2, 3)).transpose(2, 0, 1, 3)[:, ::-1]  # (2, 6, 5, 3) view
    w = rng.standard_normal((3, 4, 2, 3)).transpose(1, 0, 3, 2)  # (4, 3, 3, 2) view
    b = rng.standard_normal(4)[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    xc, wc, bc = (np.ascontiguousarray(a) for a in (x, w, b))
    y, cache = conv2d_forward(x, w, b, stride=(2, 1), padding="same")
    yc, cache_c = conv2d_forward(xc, wc, bc, stride=(2, 1), padding="same")
    np.testing.assert_allclose(y, yc, rtol=0, atol=1e-12)
    dy = rng.standard_normal(y.shape[::-1]).T  # a non-contiguous upstream gradient
    for got, want in zip(
        conv2d_backward(dy, cache), conv2d_backward(np.ascontiguousarray(dy), cache_c), strict=True
    ):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    for mode in ("max", "average"):
        p, pcache = pool2d_forward(x, 2, stride=1, padding="same", mode=mode)
        pc, pcache_c = pool2d_forward(xc, 2, stride=1, padding="same", mode=mode)
        np.testing.assert_array_equal(p, pc)
        dp = rng.standard_normal(p.shape[::-1]).T
        np.testing.assert_allclose(
            pool2d_backward(dp, pcache), pool2d_backward(np.ascontiguousarray(dp), pcache_c)
        )


def test_views_with_unusual_strides_on_size_one_axes():
    """`x[None, :, :, None]` may carry any stride on its size-1 axes; results must not care."""
    rng = np.random.default_rng(7)
    image = rng.standard_normal((6, 7))
    edge = np.array([[1.0, 0.0, -1.0]] * 3)
    x, w = image[None, :, :, None], edge[:, :, None, None]
    fast, _ = conv2d_forward(x, w, np.zeros(1), stride=1, padding=1)
    slow, _ = ref.conv_forward(
        np.ascontiguousarray(x),
        np.ascontiguousarray(w),
        np.zeros((1, 1, 1, 1)),
        {"pad": 1, "stride": 1},
    )
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_max_pool_backward_sends_ties_to_the_first_maximum_like_the_loops(seed):
    """Small integers make ties in most windows; both tiled and overlapping paths are checked."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(3, 6, 8, 2)).astype(np.float64)
    for stride in (2, 1):
        hp = {"f": 2, "stride": stride}
        expected_y, cache = ref.pool_forward(x, hp, mode="max")
        dy = rng.standard_normal(expected_y.shape)
        y, fast_cache = pool2d_forward(x, 2, stride=stride, mode="max")
        np.testing.assert_array_equal(y, expected_y)
        np.testing.assert_allclose(
            pool2d_backward(dy, fast_cache), ref.pool_backward(dy, cache, mode="max"), atol=1e-12
        )


@pytest.mark.parametrize(
    ("shape", "kernel", "c_out", "padding"),
    [
        ((2, 9, 8, 3), (4, 4), 8, "same"),
        ((2, 9, 8, 3), (3, 2), 32, "valid"),
        ((1, 7, 6, 18), (3, 3), 17, "same"),
        ((1, 6, 7, 2), (2, 3), 3, ((3, 0), (1, 4))),
    ],
)
def test_both_stride1_input_gradients_agree(shape, kernel, c_out, padding) -> None:
    """The correlation with the flipped kernel and the scatter give the same dx."""
    from cnnlab.ops.conv import _input_grad_scatter, _input_grad_stride1

    rng = np.random.default_rng(_seed((shape, kernel, c_out)))
    x = rng.standard_normal(shape)
    y, cache = conv2d_forward(x, rng.standard_normal((*kernel, shape[3], c_out)), padding=padding)
    dy = rng.standard_normal(y.shape)
    by_correlation = _input_grad_stride1(dy, cache.w, cache.windows, cache.x_shape)
    by_scatter = _input_grad_scatter(dy, cache.w, cache.windows, cache.xp.shape, cache.x_shape)
    np.testing.assert_allclose(by_correlation, by_scatter, rtol=0, atol=1e-10)
