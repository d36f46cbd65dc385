"""Numerical gradient checks for any forward/backward pair.

A backward pass is correct when it agrees with the slope one can measure by
nudging each input a little. For a scalar loss ``L = sum(f(x) * dy)`` the
gradient with respect to ``x`` is exactly what ``backward(dy, cache)`` must
return, and each of its entries can be estimated with a *central difference*::

    dL/dx[i] ~ (L(x + eps * e_i) - L(x - eps * e_i)) / (2 * eps)

whose error shrinks like ``eps**2``. Everything here runs in float64: in
float32 the rounding error of the difference would swamp the check.

Two functions:

* :func:`numerical_gradient` estimates one gradient of any function ``f(x)``;
* :func:`check_gradient` compares *every* gradient returned by a ``backward``
  with its estimate and reports one relative error per input.

Example:
    >>> import numpy as np
    >>> from cnnlab.ops import conv2d_forward, conv2d_backward
    >>> rng = np.random.default_rng(0)
    >>> inputs = {
    ...     "x": rng.standard_normal((2, 6, 5, 3)),
    ...     "w": rng.standard_normal((3, 3, 3, 4)),
    ...     "b": rng.standard_normal(4),
    ... }
    >>> errors = check_gradient(
    ...     lambda x, w, b: conv2d_forward(x, w, b, stride=2, padding="same"),
    ...     conv2d_backward,
    ...     inputs,
    ... )
    >>> sorted(errors)
    ['b', 'w', 'x']
    >>> max(errors.values()) < 1e-7
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError

__all__ = ["check_gradient", "numerical_gradient", "relative_error"]


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    dy: np.ndarray,
    eps: float = 1e-6,
) -> np.ndarray:
    """Estimate the gradient of ``sum(f(x) * dy)`` with respect to ``x`` by central differences.

    Args:
        f: any function of one array; its output must have the shape of ``dy``.
        x: the point at which to differentiate, any shape. It is copied to float64
            and never modified.
        dy: the upstream gradient (weights of the output entries), shape of ``f(x)``.
        eps: the step. 1e-6 balances truncation and rounding error in float64.

    Returns:
        The estimated gradient, float64, shape of ``x``. It costs ``2 * x.size``
        calls of ``f``, so keep ``x`` small.

    Example:
        >>> g = numerical_gradient(lambda v: v**2, np.array([1.0, 2.0]), np.ones(2))
        >>> np.allclose(g, [2.0, 4.0])
        True
    """
    if not eps > 0:
        raise ArgumentError(f"eps must be positive. Received: eps={eps}")
    x = np.array(x, dtype=np.float64)  # a private copy that we nudge in place
    dy = np.asarray(dy, dtype=np.float64)
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + eps
        plus = _weighted_sum(f(x), dy)
        flat_x[i] = original - eps
        minus = _weighted_sum(f(x), dy)
        flat_x[i] = original
        flat_grad[i] = (plus - minus) / (2.0 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``||a - b|| / (||a|| + ||b||)``, the course's measure; 0.0 when both are zero.

    Below about 1e-7 two float64 gradients agree; around 1e-3 or above, one is wrong.

    Args:
        a, b: arrays of the same shape.

    Example:
        >>> relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
        0.0
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ArgumentError(f"a and b must have the same shape. Received: {a.shape} and {b.shape}")
    denominator = np.linalg.norm(a) + np.linalg.norm(b)
    if denominator == 0.0:
        return 0.0
    return float(np.linalg.norm(a - b) / denominator)


def check_gradient(
    forward: Callable[..., tuple[np.ndarray, Any]],
    backward: Callable[[np.ndarray, Any], np.ndarray | tuple[np.ndarray, ...]],
    inputs: Mapping[str, np.ndarray],
    dy: np.ndarray | None = None,
    *,
    eps: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Compare a backward pass with numerical gradients, input by input, in float64.

    Args:
        forward: called as ``forward(**inputs)``; returns ``(y, cache)``.
        backward: called as ``backward(dy, cache)``; returns one gradient per input,
            in the order of ``inputs`` (a single array when there is one input).
        inputs: name -> array. Each is converted to float64; the caller's arrays are
            not modified.
        dy: upstream gradient of the shape of ``y``; drawn from a standard normal
            (with ``seed``) when None, so that every output entry matters.
        eps: central-difference step.
        seed: seed of the generator that draws ``dy``.

    Returns:
        ``{name: relative_error(analytic, numerical)}`` for every input. Values
        below 1e-7 mean the backward pass is right.

    Raises:
        ValueError: when ``backward`` returns the wrong number of gradients, or a
            gradient of the wrong shape.

    Example:
        >>> from cnnlab.ops import pool2d_forward, pool2d_backward
        >>> x = np.random.default_rng(1).standard_normal((1, 4, 4, 2))
        >>> errors = check_gradient(
        ...     lambda x: pool2d_forward(x, 2, mode="average"), pool2d_backward, {"x": x}
        ... )
        >>> errors["x"] < 1e-7
        True
    """
    if not inputs:
        raise ArgumentError("inputs must name at least one array. Received: inputs={}")
    values = {name: np.array(value, dtype=np.float64) for name, value in inputs.items()}
    y, cache = forward(**{name: value.copy() for name, value in values.items()})
    y = np.asarray(y)
    if dy is None:
        dy = np.random.default_rng(seed).standard_normal(y.shape)
    dy = np.asarray(dy, dtype=np.float64)
    if dy.shape != y.shape:
        raise ArgumentError(
            f"dy must have the shape of the forward output {y.shape}. Received: dy.shape={dy.shape}"
        )

    grads = backward(dy.copy(), cache)
    if isinstance(grads, np.ndarray):
        grads = (grads,)
    grads = tuple(grads)
    if len(grads) != len(values):
        raise ArgumentError(
            f"backward must return one gradient per input ({len(values)}: {list(values)}). "
            f"Received: {len(grads)} gradients"
        )

    errors: dict[str, float] = {}
    for (name, value), analytic in zip(values.items(), grads, strict=True):
        analytic = np.asarray(analytic)
        if analytic.shape != value.shape:
            raise ArgumentError(
                f"The gradient of {name} must have shape {value.shape}. "
                f"Received: shape {analytic.shape}"
            )

        def f_of_one(v: np.ndarray, name: str = name) -> np.ndarray:
            out, _ = forward(**{**values, name: v})
            return np.asarray(out)

        numerical = numerical_gradient(f_of_one, value, dy, eps=eps)
        errors[name] = relative_error(analytic, numerical)
    return errors


def _weighted_sum(y: np.ndarray, dy: np.ndarray) -> float:
    y = np.asarray(y, dtype=np.float64)
    if y.shape != dy.shape:
        raise ArgumentError(
            f"f(x) must have the shape of dy {dy.shape}. Received: f(x) with shape {y.shape}"
        )
    return float(np.sum(y * dy))
