"""The course's loops reproduce the course's published numbers and avoid its known traps.

The course draws with ``np.random.seed(1)`` then ``np.random.randn``; ``RandomState(1).randn``
gives the same numbers without touching NumPy's global state.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from cnnlab.ops import reference as ref
from cnnlab.ops.gradcheck import check_gradient


def test_zero_pad_adds_zeros_around_height_and_width_only() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 3, 2))
    x_pad = ref.zero_pad(x, 3)
    assert x_pad.shape == (4, 9, 9, 2)
    np.testing.assert_array_equal(x_pad[:, 3:6, 3:6, :], x)
    assert np.count_nonzero(x_pad) == np.count_nonzero(x)
    np.testing.assert_array_equal(ref.zero_pad(x, 0), x)


def test_conv_single_step_course_number() -> None:
    course = np.random.RandomState(1)
    a_slice_prev = course.randn(4, 4, 3)
    W = course.randn(4, 4, 3)
    b = course.randn(1, 1, 1)
    Z = ref.conv_single_step(a_slice_prev, W, b)
    assert isinstance(Z, np.float64)
    assert Z == pytest.approx(-6.999089450680221, rel=1e-12)


def test_conv_forward_course_numbers() -> None:
    course = np.random.RandomState(1)
    A_prev = course.randn(2, 5, 7, 4)
    W = course.randn(3, 3, 4, 8)
    b = course.randn(1, 1, 1, 8)
    hparameters = {"pad": 1, "stride": 2}
    Z, cache = ref.conv_forward(A_prev, W, b, hparameters)
    assert Z.shape == (2, 3, 4, 8)
    assert np.mean(Z) == pytest.approx(0.5511276474566768, rel=1e-12)
    np.testing.assert_allclose(
        Z[0, 2, 1],
        [
            -2.17796037,
            8.07171329,
            -0.5772704,
            3.36286738,
            4.48113645,
            -2.89198428,
            10.99288867,
            3.03171932,
        ],
        atol=1e-8,
    )
    assert cache[0] is A_prev and cache[1] is W and cache[2] is b
    assert cache[3] == {"pad": 1, "stride": 2}


@pytest.mark.slow
def test_conv_backward_course_numbers() -> None:
    course = np.random.RandomState(1)
    A_prev = course.randn(10, 4, 4, 3)
    W = course.randn(2, 2, 3, 8)
    b = course.randn(1, 1, 1, 8)
    Z, cache = ref.conv_forward(A_prev, W, b, {"pad": 2, "stride": 2})
    dA, dW, db = ref.conv_backward(Z, cache)
    assert (dA.shape, dW.shape, db.shape) == ((10, 4, 4, 3), (2, 2, 3, 8), (1, 1, 1, 8))
    assert np.mean(dA) == pytest.approx(1.4524377775388075, rel=1e-12)
    assert np.mean(dW) == pytest.approx(1.7269914583139097, rel=1e-12)
    assert np.mean(db) == pytest.approx(7.839232564616838, rel=1e-12)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("max", [[0.0, 0.0], [5.05844394, -1.68282702], [0.0, 0.0]]),
        (
            "average",
            [[0.08485462, 0.2787552], [1.26461098, -0.25749373], [1.17975636, -0.53624893]],
        ),
    ],
)
def test_pool_backward_course_numbers(mode: str, expected: list) -> None:
    course = np.random.RandomState(1)
    A_prev = course.randn(5, 5, 3, 2)
    hparameters = {"stride": 1, "f": 2}
    A, cache = ref.pool_forward(A_prev, hparameters, mode=mode)
    assert A.shape == (5, 4, 2, 2)
    dA = course.randn(5, 4, 2, 2)
    dA_prev = ref.pool_backward(dA, cache, mode=mode)
    assert dA_prev.shape == A_prev.shape
    np.testing.assert_allclose(dA_prev[1, 1], expected, atol=1e-8)


def test_pool_forward_matches_a_hand_computed_example() -> None:
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    A_max, _ = ref.pool_forward(x, {"f": 2, "stride": 2}, mode="max")
    A_avg, _ = ref.pool_forward(x, {"f": 2, "stride": 2}, mode="average")
    np.testing.assert_array_equal(A_max[0, :, :, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(A_avg[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_conv_backward_works_with_pad_zero() -> None:
    """The course's ``da_prev_pad[pad:-pad]`` is empty for pad 0; ours is not."""
    rng = np.random.default_rng(3)
    A_prev = rng.standard_normal((2, 4, 5, 3))
    W = rng.standard_normal((2, 2, 3, 4))
    b = rng.standard_normal((1, 1, 1, 4))
    Z, cache = ref.conv_forward(A_prev, W, b, {"pad": 0, "stride": 1})
    dA, dW, db = ref.conv_backward(np.ones_like(Z), cache)
    assert dA.shape == A_prev.shape
    # With dZ = 1 every input pixel receives the sum of the filter taps that touch it;
    # the top-left pixel is touched only by tap (0, 0) of every filter.
    np.testing.assert_allclose(dA[:, 0, 0, :], np.broadcast_to(W[0, 0].sum(axis=1), (2, 3)))
    np.testing.assert_allclose(db.ravel(), np.full(4, Z[..., 0].size))
    assert np.abs(dA).sum() > 0


def test_pool_backward_honours_the_stride() -> None:
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 1, 0] = 1.0  # max of window (0, 0)
    x[0, 3, 2, 0] = 2.0  # max of window (1, 1)
    A, cache = ref.pool_forward(x, {"f": 2, "stride": 2}, mode="max")
    dA = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)
    dx = ref.pool_backward(dA, cache, mode="max")
    expected = np.zeros((4, 4))
    expected[0, 1] = 1.0  # window (0, 0)
    expected[0, 2] = 2.0  # window (0, 1): all zeros, first element of the window
    expected[2, 0] = 3.0  # window (1, 0): all zeros
    expected[3, 2] = 4.0  # window (1, 1)
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)
    dx_avg = ref.pool_backward(
        dA, ref.pool_forward(x, {"f": 2, "stride": 2}, "average")[1], mode="average"
    )
    np.testing.assert_array_equal(
        dx_avg[0, :, :, 0], np.kron([[1, 2], [3, 4]], np.ones((2, 2))) / 4
    )


def test_create_mask_marks_only_the_first_of_tied_maxima() -> None:
    mask = ref.create_mask_from_window(np.array([[1.0, 3.0], [3.0, -1.0]]))
    np.testing.assert_array_equal(mask, [[False, True], [False, False]])
    mask = ref.create_mask_from_window(np.zeros((3, 3)))
    assert mask.sum() == 1 and mask[0, 0]


def test_distribute_value_spreads_evenly() -> None:
    a = ref.distribute_value(2.0, (2, 2))
    np.testing.assert_array_equal(a, np.full((2, 2), 0.5))
    assert ref.distribute_value(3.0, (1, 3)).sum() == pytest.approx(3.0)


def test_no_function_mutates_its_arguments() -> None:
    rng = np.random.default_rng(4)
    A_prev = rng.standard_normal((2, 5, 5, 3))
    W = rng.standard_normal((3, 3, 3, 2))
    b = rng.standard_normal((1, 1, 1, 2))
    conv_h = {"pad": 1, "stride": 2}
    pool_h = {"f": 2, "stride": 1}
    before = copy.deepcopy((A_prev, W, b, conv_h, pool_h))
    Z, cache = ref.conv_forward(A_prev, W, b, conv_h)
    dZ = rng.standard_normal(Z.shape)
    dZ_before = dZ.copy()
    ref.conv_backward(dZ, cache)
    for mode in ("max", "average"):
        A, pcache = ref.pool_forward(A_prev, pool_h, mode=mode)
        ref.pool_backward(np.ones_like(A), pcache, mode=mode)
    assert conv_h == before[3] and pool_h == before[4]
    for now, then in zip((A_prev, W, b, dZ), (*before[:3], dZ_before), strict=True):
        np.testing.assert_array_equal(now, then)


@pytest.mark.parametrize(("pad", "stride"), [(0, 1), (1, 2), (2, 1)], ids=lambda v: str(v))
@pytest.mark.slow
def test_conv_backward_passes_a_gradient_check(pad: int, stride: int) -> None:
    rng = np.random.default_rng(5)
    inputs = {
        "A_prev": rng.standard_normal((1, 4, 3, 2)),
        "W": rng.standard_normal((2, 2, 2, 2)),
        "b": rng.standard_normal((1, 1, 1, 2)),
    }
    hparameters = {"pad": pad, "stride": stride}
    errors = check_gradient(
        lambda A_prev, W, b: ref.conv_forward(A_prev, W, b, hparameters),
        ref.conv_backward,
        inputs,
    )
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(("f", "stride"), [(2, 1), (2, 2), (3, 2)], ids=lambda v: str(v))
@pytest.mark.slow
def test_pool_backward_passes_a_gradient_check(mode: str, f: int, stride: int) -> None:
    A_prev = np.random.default_rng(6).standard_normal((1, 5, 6, 2))
    hparameters = {"f": f, "stride": stride}
    errors = check_gradient(
        lambda A_prev: ref.pool_forward(A_prev, hparameters, mode=mode),
        lambda dA, cache: ref.pool_backward(dA, cache, mode=mode),
        {"A_prev": A_prev},
    )
    assert errors["A_prev"] < 1e-7, errors


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: ref.zero_pad(np.zeros((2, 3, 3)), 1), r"X must have 4 dimensions.*\(2, 3, 3\)"),
        (lambda: ref.zero_pad(np.zeros((1, 3, 3, 1)), -1), r"pad.*Received: pad=-1"),
        (
            lambda: ref.conv_forward(
                np.zeros((1, 5, 5, 3)),
                np.zeros((3, 3, 2, 4)),
                np.zeros((1, 1, 1, 4)),
                {"pad": 0, "stride": 1},
            ),
            r"channels.*\(1, 5, 5, 3\).*\(3, 3, 2, 4\)",
        ),
        (
            lambda: ref.conv_forward(
                np.zeros((1, 5, 5, 3)),
                np.zeros((3, 3, 3, 4)),
                np.zeros((1, 1, 1, 4)),
                {"pad": 0, "stride": 0},
            ),
            r"stride must be positive. Received: stride=0",
        ),
        (
            lambda: ref.conv_forward(
                np.zeros((1, 2, 2, 3)),
                np.zeros((3, 3, 3, 4)),
                np.zeros((1, 1, 1, 4)),
                {"pad": 0, "stride": 1},
            ),
            r"larger than the padded input",
        ),
        (
            lambda: ref.conv_forward(
                np.zeros((1, 5, 5, 3)),
                np.zeros((3, 3, 3, 4)),
                np.zeros((1, 1, 1, 4)),
                {"stride": 1},
            ),
            r"hparameters must contain 'pad'",
        ),
        (
            lambda: ref.pool_forward(np.zeros((1, 4, 4, 1)), {"f": 2, "stride": 2}, mode="min"),
            r"mode must be 'max' or 'average'. Received: mode='min'",
        ),
        (
            lambda: ref.pool_forward(np.zeros((1, 4, 4, 1)), {"f": 0, "stride": 2}),
            r"f must be positive. Received: f=0",
        ),
        (
            lambda: ref.pool_forward(np.zeros((1, 4, 4, 1)), {"f": 5, "stride": 1}),
            r"window is larger than the input",
        ),
    ],
    ids=[
        "ndim",
        "negative-pad",
        "channel-mismatch",
        "stride-0",
        "filter-too-large",
        "missing-pad",
        "unknown-mode",
        "f-0",
        "window-too-large",
    ],
)
def test_bad_arguments_raise_a_clear_value_error(call, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        call()


@pytest.mark.parametrize("alias", ["avg", "mean", "AVERAGE"])
def test_reference_pooling_accepts_the_fast_ops_average_names(alias):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 4, 3))
    hp = {"f": 2, "stride": 2}
    y, cache = ref.pool_forward(x, hp, mode=alias)
    y_avg, cache_avg = ref.pool_forward(x, hp, mode="average")
    np.testing.assert_array_equal(y, y_avg)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(
        ref.pool_backward(dy, cache, mode=alias), ref.pool_backward(dy, cache_avg, mode="average")
    )
