"""The thread pool behind the fast ops: how a batch is split, and that threads change nothing."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.ops import conv2d_backward, conv2d_forward, parallel, pool2d_backward, pool2d_forward


def _covers(chunks: list[tuple[int, int]], n: int) -> bool:
    """Whether the chunks are non-empty and tile ``range(n)`` in order."""
    bounds = [a for a, _ in chunks] + [chunks[-1][1]]
    return bounds[0] == 0 and bounds[-1] == n and all(np.diff(bounds) > 0)


@pytest.mark.parametrize(("n", "parts"), [(10, 3), (7, 7), (3, 8), (1, 2), (100, 6)])
def test_split_covers_the_range_with_chunks_that_differ_by_at_most_one(n, parts):
    chunks = parallel.split(n, parts)
    sizes = [z - a for a, z in chunks]
    assert _covers(chunks, n)
    assert len(chunks) == min(n, parts)
    assert max(sizes) - min(sizes) <= 1


def test_chunks_are_a_multiple_of_the_threads_and_never_tiny(threads):
    threads(2)
    # 64 items of 300 kB: 2 MB chunks hold 6 items, 11 chunks, rounded up to 12 for 2 threads
    chunks = parallel.chunks_for(64, 300_000)
    assert _covers(chunks, 64) and len(chunks) == 12
    # 64 items of 1 kB: 64 kB of work in all is not worth a second thread
    assert parallel.chunks_for(64, 1_000) == [(0, 64)]
    # at most one chunk per item
    assert len(parallel.chunks_for(3, 50_000_000)) == 3
    threads(1)
    assert len(parallel.chunks_for(64, 300_000)) == 11


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_what_is_not_a_positive_int(bad, threads):
    with pytest.raises(ValueError, match="positive int"):
        threads(bad)


@pytest.mark.slow
def test_one_thread_and_two_threads_give_the_same_results(threads):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 20, 20, 3))
    w = rng.standard_normal((4, 4, 3, 5))
    results = []
    for n in (1, 2):
        threads(n)
        y, cache = conv2d_forward(x, w, padding="same")
        dy = np.cos(y)
        p, pool_cache = pool2d_forward(y, 3, stride=2, padding="same")
        results.append((y, *conv2d_backward(dy, cache), p, pool2d_backward(np.sin(p), pool_cache)))
    for one, two in zip(*results, strict=True):
        np.testing.assert_allclose(one, two, rtol=1e-12, atol=1e-12)


def test_the_callers_errstate_holds_on_the_op_threads():
    import warnings

    from cnnlab.ops import parallel

    def overflow(_):
        return np.float32(3e38) * np.float32(10)

    old = parallel.get_num_threads()
    parallel.set_num_threads(2)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(over="ignore"):
                assert all(np.isinf(v) for v in parallel.parallel_map(overflow, range(4)))
            with np.errstate(over="raise"), pytest.raises(FloatingPointError):
                parallel.parallel_map(overflow, range(4))
    finally:
        parallel.set_num_threads(old)


def _blas_threads() -> int | None:
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return blas[0]["num_threads"] if blas else None


@pytest.mark.parametrize("items", [[(0, 1)], [(0, 1), (1, 2), (2, 3)]], ids=["one", "several"])
@pytest.mark.slow
def test_blas_runs_on_one_thread_inside_the_ops_and_is_put_back(threads, items):
    """With several op threads BLAS is held to one inside every op, also for a single item
    (small work, where BLAS's own threads cost far more than they save); with one op thread
    BLAS is left alone."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(2, user_api="blas"):
        if _blas_threads() is None:
            pytest.skip("no BLAS seen by threadpoolctl")
        threads(2)
        assert set(parallel.parallel_map(lambda _: _blas_threads(), items)) == {1}
        assert _blas_threads() == 2
        threads(1)
        assert set(parallel.parallel_map(lambda _: _blas_threads(), items)) == {2}
