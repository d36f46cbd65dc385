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
