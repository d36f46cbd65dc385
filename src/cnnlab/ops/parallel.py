"""Run an op's independent chunks on every core.

NumPy runs element-wise work and copies on one core; only BLAS (matrix
products) uses several, and on small products it uses them badly. The fast
ops therefore split the batch into chunks small enough to stay in the CPU's
cache and hand the chunks to a pool of threads (NumPy releases the GIL while
it copies and multiplies), with BLAS held to one thread for the duration so the
two levels of threading don't fight over the cores.

:func:`set_num_threads` changes the number of threads; 1 runs every chunk in
the calling thread and leaves BLAS alone. With more than one, BLAS runs on one thread
inside every op, also for work too small to split (see :func:`_inline`).
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cnnlab import _validate

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_num_threads: int = max(
    1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
)
_blas = None


def get_num_threads() -> int:
    """How many threads the fast ops use."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads in the fast ops (default: the cores this process may use).

    Raises:
        ValueError: if ``n`` is not a positive int.
    """
    global _num_threads, _pool
    n = _validate.positive_int(n, "n")
    with _lock:
        if _pool is not None and n != _num_threads:
            _pool.shutdown(wait=True)
            _pool = None
        _num_threads = n


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_num_threads, thread_name_prefix="cnnlab-ops")
        return _pool


def _one_blas_thread():
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


def split(n: int, parts: int, min_size: int = 1) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``parts`` contiguous ``(start, stop)`` chunks.

    Chunks hold at least ``min_size`` items where ``n`` allows, and their sizes differ
    by at most one.

    Example:
        >>> split(10, 3)
        [(0, 3), (3, 6), (6, 10)]
    """
    parts = max(1, min(parts, n // max(1, min_size), n))
    bounds = [n * k // parts for k in range(parts + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(parts)]


def chunks_for(
    n: int, bytes_per_item: int, target_bytes: int = 2 << 20, min_bytes: int = 256 << 10
) -> list[tuple[int, int]]:
    """Chunks of a batch of ``n`` items sized to about ``target_bytes`` of work each.

    The number of chunks is a multiple of the number of threads (when ``n`` allows),
    so every core gets the same share of the work; but no chunk is smaller than
    ``min_bytes``, below which handing it to another thread costs more than it saves.
    """
    bytes_per_item = max(1, bytes_per_item)
    per_chunk = max(1, target_bytes // bytes_per_item)
    parts = -(-n // per_chunk)
    parts = -(-parts // _num_threads) * _num_threads
    parts = min(n, parts, max(1, n * bytes_per_item // min_bytes))
    return split(n, parts)


def parallel_map(fn: Callable[[T], R], items: Sequence[T] | Iterable[T]) -> list[R]:
    """``[fn(item) for item in items]``, on the op threads when there is more than one item.

    Each call runs in a copy of the caller's context, so the caller's ``np.errstate``
    (a context variable) holds on the op threads too.
    """
    items = list(items)
    if _num_threads == 1:
        return [fn(item) for item in items]
    if len(items) < 2:
        return _inline(fn, items)
    context = contextvars.copy_context()
    with _one_blas_thread():
        return list(_executor().map(lambda item: context.copy().run(fn, item), items))


def _inline(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """``[fn(item) for item in items]`` in the calling thread, BLAS on one thread too.

    Measured reason: work too small to split is too small for BLAS's threads as well. On a
    busy 2-core machine a (16, 1152) x (1152, 128) product (the recommended model's last
    convolution, one image) took 40 ms with OpenBLAS's 2 threads and 0.09 ms with one, and
    predicting one image with the recommended signs model took 100 ms instead of 3.
    """
    with _one_blas_thread():
        return [fn(item) for item in items]
