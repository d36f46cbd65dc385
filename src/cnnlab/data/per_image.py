"""One image function over a batch, on several threads: what the face and hand steps share
for images in memory (:func:`cnnlab.data.faces.crop_faces`,
:func:`cnnlab.data.hands.hand_poses`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.ops import get_num_threads

__all__ = ["map_images"]


def map_images(
    one: Callable[[np.ndarray, tuple[int, int]], tuple[np.ndarray, bool]],
    images,
    size,
    workers: int | None = None,
    *,
    check_size: Callable[[object], tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """``one(image, size) -> (uint8 (h, w, 3), found)`` of every image, in chunks of at most
    32 on ``workers`` threads (default :func:`cnnlab.ops.get_num_threads`; 1 runs in the
    calling thread). ``size`` is checked by ``check_size``, after the images.

    Returns:
        ``(uint8 (N, h, w, 3), found bool (N,))``.

    Raises:
        ArgumentError: images that are not uint8 ``(N, H, W, C)`` with C 1 or 3 and a positive
            height and width, or bad ``workers``.
    """
    arr = np.asarray(images) if not isinstance(images, np.ndarray) else images
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] not in (1, 3):
        raise ArgumentError(
            "images must be uint8 (N, H, W, C) with C = 1 or 3. "
            f"Received: shape={tuple(arr.shape)}, dtype={arr.dtype}"
        )
    size = check_size(size)
    if workers is None:
        workers = get_num_threads()
    workers = _validate.positive_int(workers, "workers")
    n = len(arr)
    if n and (arr.shape[1] < 1 or arr.shape[2] < 1):
        raise ArgumentError(
            f"images must have positive height and width. Received: shape={tuple(arr.shape)}"
        )
    out = np.empty((n, *size, 3), np.uint8)
    found = np.zeros(n, bool)

    def work(chunk: range) -> None:
        for i in chunk:
            out[i], found[i] = one(arr[i], size)

    step = max(1, min(32, math.ceil(n / workers)))
    chunks = [range(i, min(i + step, n)) for i in range(0, n, step)]
    if workers == 1 or len(chunks) <= 1:
        for chunk in chunks:
            work(chunk)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
            list(pool.map(work, chunks))
    return out, found
