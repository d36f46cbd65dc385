"""Pooling cases the course's loops cannot check (they know neither padding nor non-square
windows), against expectations written out here window by window."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.ops import pool2d_backward, pool2d_forward


def _windows(h, w, size, stride, pads):
    """``(out_row, out_col, rows, cols)`` of each window, clipped to the real input."""
    (ph, pw), (sh, sw), ((top, bottom), (left, right)) = size, stride, pads
    oh = (h + top + bottom - ph) // sh + 1
    ow = (w + left + right - pw) // sw + 1
    for r in range(oh):
        for c in range(ow):
            r0, c0 = r * sh - top, c * sw - left
            rows = slice(max(r0, 0), min(r0 + ph, h))
            cols = slice(max(c0, 0), min(c0 + pw, w))
            yield r, c, rows, cols


@pytest.mark.parametrize(
    ("size", "stride", "padding", "pads"),
    [
        ((2, 3), (2, 3), "valid", ((0, 0), (0, 0))),
        ((3, 2), (1, 2), "valid", ((0, 0), (0, 0))),
        ((2, 2), (2, 2), "same", ((0, 1), (0, 1))),  # 5x5: TF pads the bottom and right
        ((3, 3), (2, 2), 1, ((1, 1), (1, 1))),
    ],
    ids=["2x3", "3x2-s(1,2)", "same-2x2", "pad1-3x3-s2"],
)
@pytest.mark.parametrize("mode", ["average", "max"])
def test_pooling_of_each_window(size, stride, padding, pads, mode):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 5, 5, 3))
    y, cache = pool2d_forward(x, size, stride, padding=padding, mode=mode)
    dy = rng.standard_normal(y.shape)
    dx = pool2d_backward(dy, cache)
    expected_dx = np.zeros_like(x)
    windows = list(_windows(5, 5, size, stride, pads))
    assert y.shape[1:3] == (windows[-1][0] + 1, windows[-1][1] + 1)
    for r, c, rows, cols in windows:
        part = x[:, rows, cols]  # only real elements: padding never counts
        if mode == "average":
            np.testing.assert_allclose(y[:, r, c], part.mean(axis=(1, 2)), rtol=1e-12)
            expected_dx[:, rows, cols] += dy[:, None, None, r, c] / (part.shape[1] * part.shape[2])
        else:
            np.testing.assert_allclose(y[:, r, c], part.max(axis=(1, 2)), rtol=1e-12)
            flat = part.reshape(2, -1, 3).argmax(axis=1)  # first maximum, row-major
            for n in range(2):
                for ch in range(3):
                    i, j = divmod(int(flat[n, ch]), part.shape[2])
                    expected_dx[n, rows.start + i, cols.start + j, ch] += dy[n, r, c, ch]
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride", [2, 1])
def test_max_pooling_sends_a_tied_windows_gradient_to_one_element(stride):
    """All zeros (as after a ReLU): every window is a tie. Each window's gradient goes to
    its first element only, so the gradient keeps its total and no element of a window
    gets more than one share."""
    x = np.zeros((1, 4, 4, 2))
    y, cache = pool2d_forward(x, 2, stride, mode="max")
    dy = np.ones(y.shape)
    dx = pool2d_backward(dy, cache)
    assert dx.sum() == pytest.approx(dy.sum())
    expected = np.zeros_like(x)
    oh, ow = y.shape[1:3]
    for r in range(oh):
        for c in range(ow):
            expected[0, r * stride, c * stride] += 1
    np.testing.assert_array_equal(dx, expected)
