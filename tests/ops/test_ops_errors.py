"""Bad arguments raise one ValueError that names the argument and the value received."""

from __future__ import annotations

import re

import numpy as np
import pytest

from cnnlab.ops import conv2d_backward, conv2d_forward, pool2d_backward, pool2d_forward

X = np.zeros((2, 5, 5, 3), dtype=np.float32)
W = np.zeros((3, 3, 3, 4), dtype=np.float32)
B = np.zeros(4, dtype=np.float32)

# id -> (call, argument name, received value as it must appear)
CASES = {
    "conv-x-ndim": (lambda: conv2d_forward(X[0], W, B), "x", "(5, 5, 3)"),
    "conv-w-ndim": (lambda: conv2d_forward(X, W[..., 0], B), "w", "(3, 3, 3)"),
    "conv-channel-mismatch": (lambda: conv2d_forward(X, W[:, :, :2], B), "w", "(3, 3, 2, 4)"),
    "conv-bias-shape": (lambda: conv2d_forward(X, W, B[:3]), "b", "(3,)"),
    "conv-stride-0": (lambda: conv2d_forward(X, W, B, stride=0), "stride", "0"),
    "conv-stride-pair-0": (lambda: conv2d_forward(X, W, B, stride=(1, 0)), "stride", "(1, 0)"),
    "conv-kernel-size-0": (lambda: conv2d_forward(X, np.zeros((0, 3, 3, 4)), B), "w", "(0, 3)"),
    "conv-kernel-larger-than-input": (
        lambda: conv2d_forward(X, np.zeros((6, 6, 3, 4)), B),
        "window",
        "6",
    ),
    "conv-unknown-padding": (lambda: conv2d_forward(X, W, B, padding="full"), "padding", "'full'"),
    "conv-negative-padding": (lambda: conv2d_forward(X, W, B, padding=-1), "padding", "-1"),
    "conv-dy-shape": (
        lambda: conv2d_backward(np.zeros((2, 3, 3, 5)), conv2d_forward(X, W, B)[1]),
        "dy",
        "(2, 3, 3, 5)",
    ),
    "pool-x-ndim": (lambda: pool2d_forward(X[0], 2), "x", "(5, 5, 3)"),
    "pool-size-0": (lambda: pool2d_forward(X, 0), "pool_size", "0"),
    "pool-stride-0": (lambda: pool2d_forward(X, 2, stride=0), "stride", "0"),
    "pool-window-larger-than-input": (lambda: pool2d_forward(X, 6), "window", "6"),
    "pool-unknown-mode": (lambda: pool2d_forward(X, 2, mode="min"), "mode", "'min'"),
    "pool-unknown-padding": (lambda: pool2d_forward(X, 2, padding="full"), "padding", "'full'"),
    # A window lying wholly in the padding has no real element: its max would be -inf and
    # its average 0 / 0. Like PyTorch, refuse such paddings instead of returning inf / NaN.
    "pool-window-wholly-in-padding": (
        lambda: pool2d_forward(X, 2, stride=2, padding=2),
        "padding",
        "2",
    ),
    "pool-window-wholly-in-padding-pairs": (
        lambda: pool2d_forward(X, 2, padding=((0, 0), (3, 0)), mode="average"),
        "padding",
        "((0, 0), (3, 0))",
    ),
    "pool-dy-shape": (
        lambda: pool2d_backward(np.zeros((2, 3, 3, 3)), pool2d_forward(X, 2)[1]),
        "dy",
        "(2, 3, 3, 3)",
    ),
}


@pytest.mark.parametrize(("call", "name", "value"), CASES.values(), ids=CASES.keys())
def test_bad_argument_raises_value_error_naming_it(call, name: str, value: str) -> None:
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert re.search(rf"\b{re.escape(name)}\b", message), message
    assert value in message, message
    assert "Received" in message, message


def test_a_window_larger_than_the_input_is_fine_once_padded() -> None:
    y, _ = conv2d_forward(X, np.zeros((6, 6, 3, 4), np.float32), B, padding="same")
    assert y.shape == (2, 5, 5, 4)
    y, _ = pool2d_forward(X, 6, stride=1, padding="same")
    assert y.shape == (2, 5, 5, 3)


# ---- misuse of the backward passes and zero-size inputs (issue #10) -----------------------
_CONV_Y, _CONV_CACHE = conv2d_forward(X, W, B)
_POOL_Y, _POOL_CACHE = pool2d_forward(X, 2)

MISUSE = {
    "conv-cache-none": (lambda: conv2d_backward(_CONV_Y, None), "cache", "NoneType"),
    "conv-cache-from-pooling": (
        lambda: conv2d_backward(_CONV_Y, _POOL_CACHE),
        "cache",
        "Pool2DCache",
    ),
    "conv-cache-tuple": (lambda: conv2d_backward(_CONV_Y, tuple(_CONV_CACHE)), "cache", "tuple"),
    "pool-cache-none": (lambda: pool2d_backward(_POOL_Y, None), "cache", "NoneType"),
    "pool-cache-from-conv": (
        lambda: pool2d_backward(_POOL_Y, _CONV_CACHE),
        "cache",
        "Conv2DCache",
    ),
    "conv-dy-none": (lambda: conv2d_backward(None, _CONV_CACHE), "dy", "object"),
    "conv-dy-strings": (
        lambda: conv2d_backward(np.full(_CONV_Y.shape, "a"), _CONV_CACHE),
        "dy",
        "<U1",
    ),
    "pool-dy-strings": (
        lambda: pool2d_backward(np.full(_POOL_Y.shape, "a"), _POOL_CACHE),
        "dy",
        "<U1",
    ),
    "conv-zero-filters": (lambda: conv2d_forward(X, np.zeros((3, 3, 3, 0)), None), "w", "0)"),
    "conv-zero-channels": (
        lambda: conv2d_forward(X[..., :0], W[:, :, :0], B),
        "x",
        "(2, 5, 5, 0)",
    ),
    "conv-zero-height": (
        lambda: conv2d_forward(X[:, :0], W, B, padding="same"),
        "x",
        "(2, 0, 5, 3)",
    ),
    "conv-complex-kernel": (lambda: conv2d_forward(X, W.astype(complex), B), "w", "complex"),
    "conv-string-bias": (lambda: conv2d_forward(X, W, np.array(["a"] * 4)), "b", "<U1"),
    "pool-zero-channels": (lambda: pool2d_forward(X[..., :0], 2), "x", "(2, 5, 5, 0)"),
    "pool-zero-width": (
        lambda: pool2d_forward(X[:, :, :0], 2, padding="same"),
        "x",
        "(2, 5, 0, 3)",
    ),
}


@pytest.mark.parametrize(("call", "name", "value"), MISUSE.values(), ids=MISUSE.keys())
def test_misuse_raises_argument_error_naming_it(call, name: str, value: str) -> None:
    from cnnlab.errors import ArgumentError

    with pytest.raises(ArgumentError) as info:
        call()
    message = str(info.value)
    assert re.search(rf"\b{re.escape(name)}\b", message), message
    assert value in message, message
    assert "Received" in message, message


def test_an_empty_batch_is_allowed_as_in_keras() -> None:
    y, cache = conv2d_forward(X[:0], W, B)
    dx, dw, db = conv2d_backward(y, cache)
    assert y.shape == (0, 3, 3, 4) and dx.shape == (0, 5, 5, 3)
    assert not dw.any() and not db.any()
    y, cache = pool2d_forward(X[:0], 2)
    assert pool2d_backward(y, cache).shape == (0, 5, 5, 3)


def _reference_cases():
    from cnnlab.ops import reference as R

    x = np.zeros((2, 5, 5, 3))
    z, conv_cache = R.conv_forward(
        x, np.zeros((3, 3, 3, 4)), np.zeros((1, 1, 1, 4)), {"stride": 1, "pad": 0}
    )
    a, pool_cache = R.pool_forward(x, {"f": 2, "stride": 1})
    return {
        "ref-conv-cache-none": (lambda: R.conv_backward(z, None), "cache", "NoneType"),
        "ref-conv-cache-from-pooling": (
            lambda: R.conv_backward(z, pool_cache),
            "cache",
            "tuple of 2",
        ),
        "ref-pool-cache-none": (lambda: R.pool_backward(a, None), "cache", "NoneType"),
        "ref-pool-cache-from-conv": (lambda: R.pool_backward(a, conv_cache), "cache", "tuple of 4"),
        "ref-conv-dz-3d": (lambda: R.conv_backward(z[..., 0], conv_cache), "dZ", "(2, 3, 3)"),
        "ref-pool-da-none": (lambda: R.pool_backward(None, pool_cache), "dA", "()"),
        "ref-conv-zero-filters": (
            lambda: R.conv_forward(
                x, np.zeros((3, 3, 3, 0)), np.zeros((1, 1, 1, 0)), {"stride": 1, "pad": 0}
            ),
            "W",
            "(3, 3, 3, 0)",
        ),
    }


@pytest.mark.parametrize("case", list(_reference_cases()))
def test_reference_misuse_raises_argument_error(case: str) -> None:
    from cnnlab.errors import ArgumentError

    call, name, value = _reference_cases()[case]
    with pytest.raises(ArgumentError) as info:
        call()
    message = str(info.value)
    assert re.search(rf"\b{re.escape(name)}\b", message), message
    assert value in message and "Received" in message, message
