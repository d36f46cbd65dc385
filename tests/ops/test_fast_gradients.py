"""Every fast backward passes a float64 numerical gradient check (relative error < 1e-7)."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.ops import conv2d_backward, conv2d_forward, pool2d_backward, pool2d_forward
from cnnlab.ops.gradcheck import check_gradient

TOLERANCE = 1e-7

# id -> (x shape, kernel (kh, kw), C_out, stride, padding)
CONV_CASES = {
    "valid-3x3-s1": ((2, 6, 5, 3), (3, 3), 2, 1, "valid"),
    "valid-3x3-s2": ((2, 7, 6, 2), (3, 3), 3, 2, "valid"),
    "same-4x4-s1-even-kernel": ((1, 6, 5, 2), (4, 4), 2, 1, "same"),
    "same-3x3-s2": ((2, 7, 6, 2), (3, 3), 2, 2, "same"),
    "same-2x3-s2x1-non-square": ((1, 5, 6, 2), (2, 3), 3, (2, 1), "same"),
    "explicit-((1,2),(0,3))": ((1, 4, 5, 2), (3, 2), 2, 1, ((1, 2), (0, 3))),
    "non-overlapping-2x2-s2": ((2, 6, 4, 3), (2, 2), 2, 2, "valid"),
    "many-channels-same-3x3-s2": ((1, 5, 4, 16), (3, 3), 2, 2, "same"),
    "many-channels-same-3x3-s1": ((2, 5, 4, 17), (3, 3), 3, 1, "same"),
    "padding-wider-than-kernel-s1": ((1, 4, 5, 2), (2, 3), 2, 1, ((3, 0), (1, 4))),
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_backward_matches_numerical_gradients(case: tuple) -> None:
    shape, kernel, c_out, stride, padding = case
    rng = np.random.default_rng(11)
    inputs = {
        "x": rng.standard_normal(shape),
        "w": rng.standard_normal((*kernel, shape[3], c_out)),
        "b": rng.standard_normal(c_out),
    }
    errors = check_gradient(
        lambda x, w, b: conv2d_forward(x, w, b, stride=stride, padding=padding),
        conv2d_backward,
        inputs,
    )
    assert max(errors.values()) < TOLERANCE, errors


# id -> (x shape, pool_size, stride, padding)
POOL_CASES = {
    "valid-2x2-default-stride": ((2, 6, 4, 2), 2, None, "valid"),
    "valid-3x3-s1-overlapping": ((1, 5, 6, 2), 3, 1, "valid"),
    "valid-3x3-s2": ((2, 7, 7, 2), 3, 2, "valid"),
    "same-3x3-s2": ((2, 7, 6, 2), 3, 2, "same"),
    "same-2x2-s1-even": ((1, 5, 5, 3), 2, 1, "same"),
    "same-4x3-s(2,1)": ((1, 6, 5, 2), (4, 3), (2, 1), "same"),
}


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool2d_backward_matches_numerical_gradients(case: tuple, mode: str) -> None:
    shape, pool_size, stride, padding = case
    # Distinct values, far apart compared with eps, so no max changes under a nudge.
    rng = np.random.default_rng(12)
    x = rng.permutation(np.prod(shape)).reshape(shape) * 0.01 + rng.uniform(0, 1e-3, shape)
    errors = check_gradient(
        lambda x: pool2d_forward(x, pool_size, stride=stride, padding=padding, mode=mode),
        pool2d_backward,
        {"x": x},
    )
    assert errors["x"] < TOLERANCE, errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_ops_keep_the_input_dtype(dtype: type) -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 5, 5, 3)).astype(dtype)
    w = rng.standard_normal((3, 3, 3, 2)).astype(dtype)
    b = np.zeros(2, dtype=dtype)
    y, cache = conv2d_forward(x, w, b, padding="same")
    assert y.dtype == dtype
    assert all(g.dtype == dtype for g in conv2d_backward(np.ones_like(y), cache))
    for mode in ("max", "average"):
        p, pcache = pool2d_forward(x, 2, padding="same", mode=mode)
        assert p.dtype == dtype
        assert pool2d_backward(np.ones_like(p), pcache).dtype == dtype


@pytest.mark.parametrize("c_in", [3, 20], ids=["few-channels", "many-channels"])
def test_conv_backward_without_dx_gives_the_same_kernel_and_bias_gradients(c_in):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 8, c_in))
    w = rng.standard_normal((3, 3, c_in, 4))
    y, cache = conv2d_forward(x, w, rng.standard_normal(4), stride=2, padding="same")
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv2d_backward(dy, cache)
    none, dw_only, db_only = conv2d_backward(dy, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dw_only, dw)
    np.testing.assert_array_equal(db_only, db)
