"""Fast 2-D convolution (cross-correlation, as in every deep-learning library), NHWC.

Within one kernel row, a window covers ``kw * C_in`` consecutive values of the
contiguous (N, H, W, C) input. The forward pass copies those values out once for
every window position (:func:`kernel_rows`, ``kh`` times less copying than the
full window matrix of ``im2col``) and runs one matrix product per kernel row,
summing the ``kh`` results. When there are few filters each row of the product
computes 2 or 4 neighbouring pixels (a product with fewer than 16 columns uses
BLAS poorly). When a kernel row is long enough (``kh * kw * C_in`` of at least
64 values) the kernel rows of each window are laid side by side instead
(:func:`window_matrix`, the full ``im2col``) and one product replaces the
``kh`` (:func:`_one_product`).

The backward pass builds the same rows again for the kernel gradient (a second
product per kernel row). The input gradient of a stride-1 convolution is itself
a convolution: of ``dy`` with the kernel flipped, run by the forward code.
Otherwise (strides, or many filters on few channels, where that would copy
more) each window offset's share of the gradient is added back onto the input
(``col2im``).

Both passes work through the batch in chunks of a few images, small enough for
the window values to stay in the CPU's cache, on every core
(:mod:`cnnlab.ops.parallel`); an image too large for one chunk is cut into
bands of output rows (:func:`_row_bands`). Nothing larger than the input is kept
between the two passes.

Shapes:
    x:  (N, H, W, C_in)       input
    w:  (kh, kw, C_in, C_out) kernel, as Keras stores it
    b:  (C_out,)              bias
    y:  (N, H_out, W_out, C_out)

Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    >>> w = rng.standard_normal((3, 3, 4, 8)).astype(np.float32)
    >>> y, cache = conv2d_forward(x, w, np.zeros(8, np.float32), stride=2, padding=1)
    >>> y.shape
    (2, 3, 4, 8)
    >>> dx, dw, db = conv2d_backward(np.ones_like(y), cache)
    >>> dx.shape, dw.shape, db.shape
    ((2, 5, 7, 4), (3, 3, 4, 8), (8,))
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnlab.errors import ArgumentError
from cnnlab.ops._arrays import add_per_channel
from cnnlab.ops.padding import pad_nhwc, unpad_nhwc
from cnnlab.ops.parallel import chunks_for, parallel_map
from cnnlab.ops.windows import Windows, check_cache, check_dy, check_nhwc, check_real, make_windows


class Conv2DCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    xp: np.ndarray  # (N, Hp, Wp, C_in) the padded input, C-contiguous
    x_shape: tuple[int, int, int, int]
    w: np.ndarray  # (kh, kw, C_in, C_out)
    windows: Windows


# Below this many input channels the input gradient is scattered channel-first.
_FEW_CHANNELS = 16


def kernel_rows(xp: np.ndarray, windows: Windows, group: int = 1) -> np.ndarray:
    """One kernel row of every window position: (N, Hp, W_out / group, span * C), C-contiguous.

    Kernel row ``i`` of the windows of output row ``r`` is ``rows[:, i + r * sh]``, so
    the windows' values for row ``i`` are a plain slice, ready for BLAS.
    With ``group`` > 1 each entry covers ``group`` neighbouring windows at once, the
    ``span = (group - 1) * sw + kw`` input columns under them (see :func:`_grouped_kernel`).
    """
    xp = np.ascontiguousarray(xp)
    n, hp, wp, c = xp.shape
    kw, sw, ow = windows.kernel[1], windows.stride[1], windows.out_hw[1]
    span = (group - 1) * sw + kw
    s_c = xp.itemsize
    view = as_strided(
        xp,
        shape=(n, hp, ow // group, span * c),
        strides=(hp * wp * c * s_c, wp * c * s_c, group * sw * c * s_c, s_c),
        writeable=False,
    )
    return np.ascontiguousarray(view)


def window_matrix(xp: np.ndarray, windows: Windows, group: int = 1) -> np.ndarray:
    """Every window as one row (``im2col``): (N, H_out * W_out / group, kh * span * C),
    C-contiguous, the kernel rows of a window side by side.

    With ``group`` > 1 each row covers ``group`` neighbouring windows, as in
    :func:`kernel_rows`. ``kh`` times the copying of :func:`kernel_rows`, but one product
    with ``kh`` times the inner dimension in place of ``kh`` products summed (see
    :func:`_one_product`).
    """
    xp = np.ascontiguousarray(xp)
    n, hp, wp, c = xp.shape
    kh, kw = windows.kernel
    (sh, sw), (oh, ow) = windows.stride, windows.out_hw
    span = (group - 1) * sw + kw
    s_c = xp.itemsize
    view = as_strided(
        xp,
        shape=(n, oh, ow // group, kh, span * c),
        strides=(hp * wp * c * s_c, sh * wp * c * s_c, group * sw * c * s_c, wp * c * s_c, s_c),
        writeable=False,
    )
    return np.ascontiguousarray(view).reshape(n, oh * (ow // group), kh * span * c)


def _kernel_row(rows: np.ndarray, windows: Windows, i: int) -> np.ndarray:
    """(N, H_out * W_out / group, span * C): kernel row ``i`` of every window, from
    :func:`kernel_rows`."""
    sh, oh = windows.stride[0], windows.out_hw[0]
    n, _, q, k = rows.shape
    return rows[:, i : i + sh * (oh - 1) + 1 : sh].reshape(n, oh * q, k)


def _group_size(c_out: int, ow: int) -> int:
    """How many neighbouring output pixels one product row computes (see :func:`_grouped_kernel`).

    A product with fewer than 16 output columns uses BLAS poorly; grouping ``g`` pixels
    gives it ``g * C_out`` columns for a little more arithmetic. ``g`` is a power of two
    (at most 4) that divides the output width.
    """
    g = 1
    while g < 4 and g * c_out < 16 and ow % (2 * g) == 0:
        g *= 2
    return g


def _grouped_kernel(w: np.ndarray, group: int, sw: int) -> np.ndarray:
    """(kh, span * C_in, group * C_out): each kernel row, laid out for ``group`` neighbouring
    windows at once (a block-banded matrix): window ``s`` of the group sees input columns
    ``s * sw`` to ``s * sw + kw - 1`` of the span."""
    kh, kw, c_in, c_out = w.shape
    span = (group - 1) * sw + kw
    banded = np.zeros((kh, span, c_in, group, c_out), dtype=w.dtype)
    for s in range(group):
        banded[:, s * sw : s * sw + kw, :, s, :] = w
    return banded.reshape(kh, span * c_in, group * c_out)


def _chunks(xp_shape, windows: Windows, itemsize: int) -> list[tuple[int, int]]:
    """Chunks of images with about 4 MB of kernel rows each.

    Measured on the benchmark shapes: smaller chunks stay in cache better, but each
    one costs a little time of its own, and below about 4 MB that cost wins.
    """
    n, hp, _, c = xp_shape
    kw, ow = windows.kernel[1], windows.out_hw[1]
    return chunks_for(n, hp * ow * kw * c * itemsize, target_bytes=4 << 20)


def _common_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def conv2d_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride=1, padding="valid"
) -> tuple[np.ndarray, Conv2DCache]:
    """Convolve ``x`` with ``w`` and add ``b``.

    Args:
        x: input, (N, H, W, C_in).
        w: kernel, (kh, kw, C_in, C_out).
        b: bias, (C_out,), or None for no bias.
        stride: an int or ``(sh, sw)``.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule), an int, ``(ph, pw)`` or
            ``((top, bottom), (left, right))``.

    Returns:
        ``(y, cache)``: y of shape (N, H_out, W_out, C_out) in the inputs' common
        float dtype, and the cache for :func:`conv2d_backward`.

    Raises:
        ArgumentError (a ValueError): wrong number of dimensions, a zero height, width,
            channel or filter count, channel mismatch, bias of the wrong shape, values
            that are not real numbers, a stride of 0, an unknown padding, or a kernel
            larger than the padded input.
    """
    x = check_nhwc(x, "x")
    w = check_real(w, "w")
    if w.ndim != 4:
        raise ArgumentError(
            f"`w` must be a 4-D array (kh, kw, C_in, C_out). Received: w.shape={w.shape}"
        )
    if w.shape[3] == 0:
        raise ArgumentError(
            f"`w` must have at least one filter (C_out > 0). Received: w.shape={w.shape}"
        )
    if w.shape[2] != x.shape[3]:
        raise ArgumentError(
            f"The input has {x.shape[3]} channels but the kernel expects {w.shape[2]}. "
            f"Received: x.shape={x.shape}, w.shape={w.shape}"
        )
    if b is not None:
        b = check_real(b, "b")
        if b.shape != (w.shape[3],):
            raise ArgumentError(
                f"`b` must have shape ({w.shape[3]},), one value per filter. "
                f"Received: b.shape={b.shape}"
            )
    windows = make_windows(x.shape, w.shape[:2], stride, padding, kernel_name="w.shape[:2]")
    dtype = _common_dtype(x, w) if b is None else _common_dtype(x, w, b)
    x, w = x.astype(dtype, copy=False), w.astype(dtype, copy=False)
    bias = None if b is None else b.astype(dtype, copy=False)

    xp = np.ascontiguousarray(pad_nhwc(x, windows.pads))
    y = np.empty((x.shape[0], *windows.out_hw, w.shape[3]), dtype=dtype)
    _correlate(xp, w, windows, y, bias)
    return y, Conv2DCache(xp, x.shape, w, windows)


def _correlate(
    xp: np.ndarray, w: np.ndarray, windows: Windows, out: np.ndarray, bias: np.ndarray | None
) -> None:
    """``out[:] =`` every window of the padded input ``xp`` times ``w`` (plus ``bias``).

    The forward pass, and (with the kernel flipped) the input gradient of a
    stride-1 convolution.
    """
    kh, c_out = w.shape[0], w.shape[3]
    oh, ow = windows.out_hw
    group = _group_size(c_out, ow)
    w_rows = _grouped_kernel(w, group, windows.stride[1])
    if _one_product(w_rows.shape[1], kh):
        _correlate_one_product(xp, w_rows, windows, group, out, bias)
        return

    # The kh products are summed a few images (about 1 MB of output) at a time, so the
    # running sum stays in cache: 10% faster on the Happy model's 7x7 convolution.
    images_per_sum = max(1, (1 << 20) // (oh * ow * c_out * out.itemsize))

    def chunk_product(chunk: tuple[int, int]) -> None:
        a, z = chunk
        rows = kernel_rows(xp[a:z], windows, group)
        dest = out[a:z].reshape(z - a, oh * ow // group, group * c_out)
        product = np.empty_like(dest[:images_per_sum]) if kh > 1 else None
        for s in range(0, z - a, images_per_sum):
            part, sum_ = rows[s : s + images_per_sum], dest[s : s + images_per_sum]
            np.matmul(_kernel_row(part, windows, 0), w_rows[0], out=sum_)
            for i in range(1, kh):
                sum_ += np.matmul(
                    _kernel_row(part, windows, i), w_rows[i], out=product[: len(sum_)]
                )
        if bias is not None:
            add_per_channel(out[a:z], bias)

    parallel_map(chunk_product, _chunks(xp.shape, windows, out.itemsize))


def _one_product(k_row: int, kh: int) -> bool:
    """Whether one product over whole windows (:func:`window_matrix`) beats ``kh`` products
    over kernel rows summed (:func:`kernel_rows`).

    The ``kh`` products each write (and re-read) the whole output; the one product copies
    ``kh`` times more input but writes once, and its single 2-D BLAS call replaces one
    small call per image. Measured in interleaved rounds on 2 cores (one product / ``kh``
    products): the Happy 7x7 (inner dimension 147) 0.74-0.94, 3x3x64 (576) 0.64-0.95,
    the recommended model's 16x16x32 (288) 0.85 and 4x4x128 (1152) 0.84; with a short
    inner dimension (the SIGNS 4x4 on 3 channels, 60; a 3x3 on 3 channels, 27) 0.84-1.12,
    no gain, so those keep the kernel-row products.
    """
    return kh > 1 and kh * k_row >= _ONE_PRODUCT_MIN_INNER


_ONE_PRODUCT_MIN_INNER = 64


def _correlate_one_product(
    xp: np.ndarray,
    w_rows: np.ndarray,
    windows: Windows,
    group: int,
    out: np.ndarray,
    bias: np.ndarray | None,
) -> None:
    """:func:`_correlate` as one product per chunk: the chunk's window matrix times the
    whole (grouped) kernel. A chunk is a few images, or a band of output rows of one image
    when one image's window matrix alone is larger than the chunk size (see
    :func:`_row_bands`)."""
    kh, k_row, columns = w_rows.shape
    w_flat = w_rows.reshape(kh * k_row, columns)
    n, oh, ow = xp.shape[0], *windows.out_hw
    sh = windows.stride[0]
    per_row = (ow // group) * kh * k_row * out.itemsize

    def chunk_product(chunk: tuple[int, int, int, int]) -> None:
        a, z, r0, r1 = chunk
        band = xp[a:z, r0 * sh : (r1 - 1) * sh + kh]
        cols = window_matrix(band, windows._replace(out_hw=(r1 - r0, ow)), group)
        dest = out[a:z, r0:r1]
        np.matmul(cols.reshape(-1, kh * k_row), w_flat, out=dest.reshape(-1, columns))
        if bias is not None:
            add_per_channel(dest, bias)

    parallel_map(chunk_product, _row_bands(n, oh, per_row, _IM2COL_CHUNK))


def _row_bands(n: int, oh: int, per_row: int, target: int) -> list[tuple[int, int, int, int]]:
    """``(first image, last image + 1, first row, last row + 1)`` chunks of about ``target``
    bytes of window matrix: several whole images each, or, when one image's rows alone
    exceed ``target``, bands of rows of one image.

    Measured reason: with whole images only, a 128x128 or 224x224 image with 64 channels
    made one 37 or 116 MB window matrix per chunk, far out of cache, and the 3x3x64
    convolution went from 0.7x TensorFlow's time at 32x32 to 1.1x at 128x128 (its forward
    pass feeds the input gradient too). Bands of rows, measured against whole images in
    interleaved rounds (2 cores): forward 0.57-1.17 (median 0.8) and forward+backward
    0.75-0.99 at 64x64, 128x128 and 224x224.
    """
    if oh * per_row <= target:
        return [(a, z, 0, oh) for a, z in chunks_for(n, oh * per_row, target_bytes=target)]
    rows = max(1, target // per_row)
    return [(i, i + 1, r, min(oh, r + rows)) for i in range(n) for r in range(0, oh, rows)]


_IM2COL_CHUNK = 4 << 20
# Kernel rows per chunk of the kernel gradient (as :func:`_chunks`, in bands of rows for
# large images).
_KERNEL_ROWS_CHUNK = 4 << 20


def conv2d_backward(
    dy: np.ndarray, cache: Conv2DCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of a convolution with respect to its input, kernel and bias.

    Args:
        dy: gradient of the loss with respect to ``y``, (N, H_out, W_out, C_out).
        cache: from :func:`conv2d_forward`.
        need_dx: False skips the input gradient (a network's first layer has no use
            for it) and returns None in its place.

    Returns:
        ``(dx, dw, db)`` of shapes (N, H, W, C_in), (kh, kw, C_in, C_out), (C_out,).

    Raises:
        ArgumentError (a ValueError): ``cache`` is not a :class:`Conv2DCache` (None,
            a tuple, a pooling's cache), or ``dy`` is not real numbers of the
            forward output's shape.
    """
    xp, x_shape, w, windows = check_cache(cache, Conv2DCache, "conv2d_forward")
    kh, kw, c_in, c_out = w.shape
    oh, ow = windows.out_hw
    dy = check_dy(dy, (x_shape[0], oh, ow, c_out)).astype(w.dtype, copy=False)

    sh = windows.stride[0]

    def kernel_grad_chunk(chunk: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
        a, z, r0, r1 = chunk  # images a..z-1, output rows r0..r1-1 (see _row_bands)
        band = windows._replace(out_hw=(r1 - r0, ow))
        rows = kernel_rows(xp[a:z, r0 * sh : (r1 - 1) * sh + kh], band)
        dy3 = dy[a:z, r0:r1].reshape(z - a, (r1 - r0) * ow, c_out)
        dw = np.concatenate(
            [
                np.matmul(_kernel_row(rows, band, i).transpose(0, 2, 1), dy3).sum(axis=0)
                for i in range(kh)
            ]
        )
        dy2 = dy3.reshape(-1, c_out)
        db = np.ones(dy2.shape[0], dtype=dy2.dtype) @ dy2  # a column sum, as a fast BLAS call
        return dw, db

    if _kernel_grad_in_one_product(windows):
        partial = _kernel_grad_one_product(xp, dy, windows, w.shape)
    else:
        per_row = sh * ow * kw * c_in * w.itemsize  # kernel rows per output row
        partial = parallel_map(
            kernel_grad_chunk, _row_bands(x_shape[0], oh, per_row, _KERNEL_ROWS_CHUNK)
        )
    dw = np.add.reduce([dw for dw, _ in partial]).reshape(w.shape)
    db = np.add.reduce([db for _, db in partial])
    if not need_dx:
        return None, dw, db
    if windows.stride == (1, 1) and _correlation_is_cheaper(w.shape):
        return _input_grad_stride1(dy, w, windows, x_shape), dw, db
    return _input_grad_scatter(dy, w, windows, xp.shape, x_shape), dw, db


def _kernel_grad_in_one_product(windows: Windows) -> bool:
    """Whether :func:`_kernel_grad_one_product` beats the per-image products of kernel rows.

    On small feature maps each image's product has only ``H_out * W_out`` pixels as its
    inner dimension and writes a whole (kw * C_in, C_out) block to be summed over the batch;
    one product over the chunk's window matrix has the chunk's pixels as inner dimension.
    Measured (one product / per image, interleaved rounds, 2 cores): 4x4 maps with 128
    channels 0.34-0.48, 8x8 with 64 0.84, 16x16 with 32 0.99-1.01; on large maps with few
    channels (64x64x3) 1.77, so only maps of at most 64 pixels use it.
    """
    oh, ow = windows.out_hw
    return oh * ow <= _DW_ONE_PRODUCT_MAX_PIXELS


_DW_ONE_PRODUCT_MAX_PIXELS = 64


def _kernel_grad_one_product(
    xp: np.ndarray, dy: np.ndarray, windows: Windows, w_shape
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(dw, db)]`` per chunk: the chunk's window matrix (transposed) times its ``dy``, one
    product with the whole batch's pixels as the inner dimension."""
    kh, kw, c_in, c_out = w_shape
    oh, ow = windows.out_hw
    per_image = oh * ow * kh * kw * c_in * xp.itemsize

    def chunk_grad(chunk: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        a, z = chunk
        cols = window_matrix(xp[a:z], windows).reshape(-1, kh * kw * c_in)
        dy2 = dy[a:z].reshape(-1, c_out)
        dw = cols.T @ dy2
        db = np.ones(dy2.shape[0], dtype=dy2.dtype) @ dy2  # a column sum, as a fast BLAS call
        return dw, db

    return parallel_map(chunk_grad, chunks_for(xp.shape[0], per_image, target_bytes=_IM2COL_CHUNK))


def _correlation_is_cheaper(w_shape) -> bool:
    """Whether :func:`_input_grad_stride1` moves less data than :func:`_input_grad_scatter`.

    Per output pixel, the correlation copies ``dy``'s ``C_out`` values once per kernel
    row, ``kw * C_out`` in all; the scatter writes ``kh * kw * C_in`` values and adds
    them back. The correlation's products have only ``C_in`` columns, so it wins
    when it copies no more than the scatter writes: with 64 channels in and out, or
    8 filters on 3 channels (the SIGNS model), not with 32 7x7 filters on 3 channels
    (the Happy model).
    """
    kh, kw, c_in, c_out = w_shape
    return kw * c_out <= kh * kw * c_in


def _input_grad_stride1(dy: np.ndarray, w: np.ndarray, windows: Windows, x_shape) -> np.ndarray:
    """The input gradient of a stride-1 convolution: ``dy`` correlated with the flipped kernel.

    Input pixel ``h`` (padded coordinates) received ``w[i]`` times output ``h - i``,
    so its gradient is the sum over ``i`` of ``dy[h - i] @ w[i].T``: a 'valid'
    correlation of ``dy``, padded by ``kh - 1 - top`` above (cropped where that is
    negative), with the kernel flipped in both directions and its channels swapped.
    """
    n, h, wd, c_in = x_shape
    kh, kw = w.shape[:2]
    (oh, ow), ((top, _), (left, _)) = windows.out_hw, windows.pads
    pads = ((kh - 1 - top, h + top - oh), (kw - 1 - left, wd + left - ow))
    dyp = np.ascontiguousarray(_pad_or_crop(dy, pads))
    w_flipped = np.ascontiguousarray(w[::-1, ::-1].transpose(0, 1, 3, 2))
    dx = np.empty(x_shape, dtype=w.dtype)
    _correlate(dyp, w_flipped, make_windows(dyp.shape, (kh, kw), 1, "valid"), dx, None)
    return dx


def _pad_or_crop(x: np.ndarray, pads) -> np.ndarray:
    """:func:`pad_nhwc` that crops where a pad is negative."""
    (top, bottom), (left, right) = pads
    h, w = x.shape[1:3]
    x = x[:, max(0, -top) : h - max(0, -bottom), max(0, -left) : w - max(0, -right)]
    return pad_nhwc(x, ((max(0, top), max(0, bottom)), (max(0, left), max(0, right))))


def _input_grad_scatter(
    dy: np.ndarray, w: np.ndarray, windows: Windows, xp_shape, x_shape
) -> np.ndarray:
    """The input gradient as each window's gradient added back onto the input.

    One product gives every window offset's share of the gradient; each offset's
    share is then added onto the input (``col2im``), channel-first when there are
    few input channels, so that every addition covers whole rows. The chunks are
    sized by those shares, ``kh * kw * C_in`` values per output pixel.
    """
    kh, kw, c_in, c_out = w.shape
    oh, ow = windows.out_hw
    few = c_in < _FEW_CHANNELS
    if few:
        w2 = w.reshape(kh * kw * c_in, c_out)
        dxp = np.zeros((c_in, *xp_shape[:3]), dtype=w.dtype)
    else:
        w_per_offset = w.reshape(kh * kw, c_in, c_out).transpose(0, 2, 1)
        dxp = np.zeros(xp_shape, dtype=w.dtype)

    def scatter_chunk(chunk: tuple[int, int]) -> None:
        a, z = chunk
        dy2 = dy[a:z].reshape(-1, c_out)
        if few:
            per_offset = (w2 @ np.ascontiguousarray(dy2.T)).reshape(kh * kw, c_in, z - a, oh, ow)
            target = dxp[:, a:z]
            for k, (_, _, index) in enumerate(windows.offsets()):
                target[(slice(None), *index[:3])] += per_offset[k]
        else:
            per_offset = np.matmul(dy2, w_per_offset).reshape(kh * kw, z - a, oh, ow, c_in)
            target = dxp[a:z]
            for k, (_, _, index) in enumerate(windows.offsets()):
                target[index] += per_offset[k]

    shares = kh * kw * c_in * oh * ow * w.itemsize
    parallel_map(scatter_chunk, chunks_for(xp_shape[0], shares, target_bytes=4 << 20))
    if few:
        dxp = dxp.transpose(1, 2, 3, 0)
    return np.ascontiguousarray(unpad_nhwc(dxp, windows.pads, x_shape[1:3]))
