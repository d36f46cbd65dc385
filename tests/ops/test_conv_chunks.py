"""Convolution gradients of batches large enough to be split into several chunks (and
threads): every chunk's share of ``dw`` and ``db`` is summed, and ``dx`` covers every image.

The expectation is computed here with one ``einsum`` per kernel offset, independently of
the ops' windows, chunks and threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.ops import conv2d_backward, conv2d_forward, parallel
from cnnlab.ops.conv import _chunks, _correlation_is_cheaper
from cnnlab.ops.windows import make_windows


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("c_out", [4, 32], ids=["dx-by-correlation", "dx-by-scatter"])
def test_conv_gradients_of_a_chunked_batch(threads, c_out):
    rng = np.random.default_rng(7)
    n, h, w, c_in, k = 32, 40, 40, 8, 3
    x = rng.standard_normal((n, h, w, c_in))
    kernel = rng.standard_normal((k, k, c_in, c_out))
    b = rng.standard_normal(c_out)
    before = parallel.get_num_threads()
    parallel.set_num_threads(threads)
    try:
        windows = make_windows(x.shape, k, 1, "valid")
        assert len(_chunks(x.shape, windows, 8)) >= 3, "the batch must span several chunks"
        assert _correlation_is_cheaper(kernel.shape) == (c_out == 4)
        y, cache = conv2d_forward(x, kernel, b)
        dy = rng.standard_normal(y.shape)
        dx, dw, db = conv2d_backward(dy, cache)
    finally:
        parallel.set_num_threads(before)
    oh, ow = h - k + 1, w - k + 1
    expected_y = np.broadcast_to(b, y.shape).copy()
    expected_dx = np.zeros_like(x)
    expected_dw = np.zeros_like(kernel)
    for i in range(k):
        for j in range(k):
            patch = x[:, i : i + oh, j : j + ow]
            expected_y += np.einsum("nhwc,ck->nhwk", patch, kernel[i, j])
            expected_dw[i, j] = np.einsum("nhwc,nhwk->ck", patch, dy)
            expected_dx[:, i : i + oh, j : j + ow] += np.einsum("nhwk,ck->nhwc", dy, kernel[i, j])
    np.testing.assert_allclose(y, expected_y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-10)


def _expected(x, kernel, b, dy, stride):
    """y, dx, dw of a 'valid' convolution with ``stride``, one einsum per kernel offset."""
    k, s = kernel.shape[0], stride
    oh, ow = dy.shape[1:3]
    y = np.broadcast_to(b, dy.shape).copy()
    dx, dw = np.zeros_like(x), np.zeros_like(kernel)
    for i in range(k):
        for j in range(k):
            rows, cols = slice(i, i + s * (oh - 1) + 1, s), slice(j, j + s * (ow - 1) + 1, s)
            patch = x[:, rows, cols]
            y += np.einsum("nhwc,ck->nhwk", patch, kernel[i, j])
            dw[i, j] = np.einsum("nhwc,nhwk->ck", patch, dy)
            dx[:, rows, cols] += np.einsum("nhwk,ck->nhwc", dy, kernel[i, j])
    return y, dx, dw


@pytest.mark.parametrize("one_product", [False, True], ids=["kernel-rows", "window-matrix"])
@pytest.mark.parametrize(
    ("shape", "k", "c_out", "stride"),
    [
        ((5, 12, 12, 3), 3, 16, 1),  # 3 channels, a short kernel row
        ((5, 9, 9, 8), 3, 4, 1),  # few filters: neighbouring pixels grouped
        ((4, 11, 11, 6), 3, 2, 2),  # grouped, with a stride
        ((6, 6, 6, 16), 2, 32, 1),  # a small map, many channels
    ],
)
def test_both_product_layouts_give_the_same_convolution(
    monkeypatch, shape, k, c_out, stride, one_product
):
    """The forward (and the stride-1 input gradient that reuses it) and the kernel gradient
    each have two layouts, chosen by size; both are exact on the same shapes."""
    from cnnlab.ops import conv

    monkeypatch.setattr(conv, "_one_product", lambda k_row, kh: one_product)
    monkeypatch.setattr(conv, "_kernel_grad_in_one_product", lambda windows: one_product)
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal((k, k, shape[3], c_out))
    b = rng.standard_normal(c_out)
    y, cache = conv2d_forward(x, kernel, b, stride=stride)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv2d_backward(dy, cache)
    expected_y, expected_dx, expected_dw = _expected(x, kernel, b, dy, stride)
    np.testing.assert_allclose(y, expected_y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride", [1, 2])
def test_bands_of_rows_of_one_image_give_the_same_convolution(monkeypatch, stride):
    """Images too large for one chunk are cut into bands of output rows."""
    from cnnlab.ops import conv

    monkeypatch.setattr(conv, "_IM2COL_CHUNK", 3000)  # a few rows of window matrix
    monkeypatch.setattr(conv, "_KERNEL_ROWS_CHUNK", 3000)  # and of kernel rows
    monkeypatch.setattr(conv, "_kernel_grad_in_one_product", lambda windows: False)
    assert len(conv._row_bands(2, 9, 1000, 3000)) == 2 * 3
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 19, 17, 8))
    kernel = rng.standard_normal((3, 3, 8, 16))
    b = rng.standard_normal(16)
    y, cache = conv2d_forward(x, kernel, b, stride=stride)
    dy = rng.standard_normal(y.shape)
    dx, dw, _ = conv2d_backward(dy, cache)
    expected_y, expected_dx, expected_dw = _expected(x, kernel, b, dy, stride)
    np.testing.assert_allclose(y, expected_y, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dw, expected_dw, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-10, atol=1e-10)
