"""Property tests: output shapes follow the padding rules for any geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlab.ops import (
    conv2d_backward,
    conv2d_forward,
    output_size,
    pool2d_backward,
    pool2d_forward,
    resolve_padding,
)

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


@st.composite
def geometries(draw):
    """A small input, a window that fits it, a stride and a padding."""
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["valid", "same", "int", "pairs"]))
    if padding == "int":
        padding = draw(st.integers(0, 2))
    elif padding == "pairs":
        padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    pads = resolve_padding(padding, (1, 1), (1, 1), (h, w)) if padding != "same" else None
    limit_h = h if pads is None else h + sum(pads[0])
    limit_w = w if pads is None else w + sum(pads[1])
    kh, kw = draw(st.integers(1, min(limit_h, 5))), draw(st.integers(1, min(limit_w, 5)))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, h, w, c), (kh, kw), (sh, sw), padding


def _expected_hw(shape, kernel, stride, padding) -> tuple[int, int]:
    _, h, w, _ = shape
    if padding == "valid":
        return (h - kernel[0]) // stride[0] + 1, (w - kernel[1]) // stride[1] + 1
    if padding == "same":
        return math.ceil(h / stride[0]), math.ceil(w / stride[1])
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    (t, b), (l, r) = padding
    return (
        (h + t + b - kernel[0]) // stride[0] + 1,
        (w + l + r - kernel[1]) // stride[1] + 1,
    )


@settings(max_examples=60, deadline=None)
@given(geometry=geometries(), c_out=st.integers(1, 3))
def test_conv2d_output_and_gradient_shapes(geometry, c_out: int) -> None:
    shape, kernel, stride, padding = geometry
    x = np.ones(shape, dtype=np.float32)
    w = np.ones((*kernel, shape[3], c_out), dtype=np.float32)
    y, cache = conv2d_forward(x, w, np.zeros(c_out, np.float32), stride=stride, padding=padding)
    assert y.shape == (shape[0], *_expected_hw(shape, kernel, stride, padding), c_out)
    dx, dw, db = conv2d_backward(np.ones_like(y), cache)
    assert (dx.shape, dw.shape, db.shape) == (shape, w.shape, (c_out,))


@settings(max_examples=60, deadline=None)
@given(geometry=geometries(), mode=st.sampled_from(["max", "average"]))
def test_pool2d_output_and_gradient_shapes(geometry, mode: str) -> None:
    shape, kernel, stride, padding = geometry
    if padding not in ("valid", "same"):
        # Pooling is tested with the paddings TensorFlow allows; the window was drawn
        # to fit the padded input, and 'same' always pads enough for it.
        padding = "same"
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y, cache = pool2d_forward(x, kernel, stride=stride, padding=padding, mode=mode)
    assert y.shape == (shape[0], *_expected_hw(shape, kernel, stride, padding), shape[3])
    assert np.isfinite(y).all()
    assert pool2d_backward(np.ones_like(y), cache).shape == shape


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 200),
    f=st.integers(1, 12),
    stride=st.integers(1, 6),
)
def test_same_padding_gives_ceil_n_over_s_and_splits_smaller_half_first(
    n: int, f: int, stride: int
) -> None:
    (before, after), _ = resolve_padding("same", (f, 1), (stride, 1), (n, 1))
    assert 0 <= after - before <= 1
    assert output_size(n, f, before, after, stride) == math.ceil(n / stride)
