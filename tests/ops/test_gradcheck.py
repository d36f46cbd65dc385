"""The numerical gradient checker finds right gradients right and wrong ones wrong."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.ops.gradcheck import check_gradient, numerical_gradient, relative_error


def test_numerical_gradient_of_known_functions() -> None:
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    dy = np.array([[1.0, 2.0], [-1.0, 0.5]])
    np.testing.assert_allclose(numerical_gradient(lambda v: v**3, x, dy), 3 * x**2 * dy, rtol=1e-8)
    np.testing.assert_allclose(
        numerical_gradient(lambda v: np.sin(v).sum(), x, np.array(2.0)),
        2 * np.cos(x),
        rtol=1e-8,
    )


def test_numerical_gradient_works_in_float64_and_leaves_x_alone() -> None:
    x = np.array([1.0, 2.0], dtype=np.float32)
    seen = []

    def f(v: np.ndarray) -> np.ndarray:
        seen.append(v.dtype)
        return v * 1.0

    grad = numerical_gradient(f, x, np.ones(2))
    assert grad.dtype == np.float64 and set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x, np.array([1.0, 2.0], dtype=np.float32))


def test_relative_error() -> None:
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(
        np.sqrt(2) / 2
    )
    with pytest.raises(ValueError, match=r"same shape. Received: \(2,\) and \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))


def _matmul_forward(a: np.ndarray, b: np.ndarray):
    return a @ b, (a, b)


def _matmul_backward(dy: np.ndarray, cache):
    a, b = cache
    return dy @ b.T, a.T @ dy


def test_check_gradient_accepts_a_right_backward_and_names_each_input() -> None:
    rng = np.random.default_rng(0)
    inputs = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((4, 2))}
    original = {k: v.copy() for k, v in inputs.items()}
    errors = check_gradient(_matmul_forward, _matmul_backward, inputs)
    assert list(errors) == ["a", "b"]
    assert max(errors.values()) < 1e-9
    for key in inputs:
        np.testing.assert_array_equal(inputs[key], original[key])


def test_check_gradient_catches_a_wrong_backward() -> None:
    rng = np.random.default_rng(1)
    inputs = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((4, 2))}

    def wrong_backward(dy, cache):  # forgets to transpose-accumulate correctly for b
        da, db = _matmul_backward(dy, cache)
        return da, 2.0 * db

    errors = check_gradient(_matmul_forward, wrong_backward, inputs)
    assert errors["a"] < 1e-9
    assert errors["b"] > 0.1


def test_check_gradient_accepts_a_single_array_and_a_given_dy() -> None:
    x = np.random.default_rng(2).standard_normal((2, 3))
    errors = check_gradient(
        lambda x: (np.tanh(x), x),
        lambda dy, x: dy * (1 - np.tanh(x) ** 2),
        {"x": x},
        dy=np.ones((2, 3)),
    )
    assert errors["x"] < 1e-8


@pytest.mark.parametrize(
    ("backward", "dy", "pattern"),
    [
        (lambda dy, c: (dy,), None, r"one gradient per input \(2: \['a', 'b'\]\). Received: 1"),
        (lambda dy, c: (dy, np.zeros(3)), None, r"gradient of a must have shape \(3, 4\)"),
        (_matmul_backward, np.zeros((2, 2)), r"dy must have the shape .*\(3, 2\)"),
    ],
    ids=["count", "shape", "dy-shape"],
)
def test_check_gradient_rejects_malformed_backward(backward, dy, pattern: str) -> None:
    rng = np.random.default_rng(3)
    inputs = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal((4, 2))}
    with pytest.raises(ValueError, match=pattern):
        check_gradient(_matmul_forward, backward, inputs, dy=dy)
