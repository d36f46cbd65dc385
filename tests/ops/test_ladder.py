"""The speed ladder times real computations that agree with the course loops."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cnnlab.ops.ladder import LadderRow, speed_ladder, time_call, time_calls


def test_time_call_runs_warmup_plus_repeats_and_reports_median_and_best() -> None:
    calls = []
    timing = time_call(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6
    assert timing.repeats == 4
    assert 0.0 <= timing.best <= timing.median


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"repeats": 0}, r"repeats must be at least 1. Received: repeats=0"),
        ({"warmup": -1}, r"warmup must be non-negative. Received: warmup=-1"),
    ],
    ids=["repeats-0", "warmup-negative"],
)
def test_time_call_rejects_bad_counts(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        time_call(lambda: None, **kwargs)


def test_time_calls_interleaves_the_functions_round_by_round() -> None:
    order = []
    timings = time_calls(
        {
            "slow": lambda: (order.append("slow"), time.sleep(0.002)),
            "fast": lambda: order.append("fast"),
        },
        repeats=3,
        warmup=1,
    )
    # warmups first (one call each), then rounds that call each function once, in order
    assert order == ["slow", "fast"] + ["slow", "fast"] * 3
    assert list(timings) == ["slow", "fast"]
    assert timings["slow"].best >= 0.002 > timings["fast"].median


@pytest.mark.slow
def test_speed_ladder_on_a_tiny_convolution_with_tensorflow() -> None:
    rows = speed_ladder(
        batch=3,
        size=6,
        channels=2,
        filters=3,
        kernel=3,
        pad=1,
        stride=2,
        repeats=2,
        loop_images=2,
    )
    assert [row.name for row in rows] == ["course loops", "cnnlab fast", "TensorFlow"]
    assert all(isinstance(row, LadderRow) for row in rows)
    loops, fast, tf_row = rows
    assert loops.measured_images == 2 and fast.measured_images == 3
    # float32 results of the same convolution agree with the loops'.
    assert fast.max_abs_diff < 1e-5 and tf_row.max_abs_diff < 1e-5
    for row in rows:
        assert row.seconds > 0
        assert row.seconds_per_image == pytest.approx(row.seconds / 3)


def test_speed_ladder_measures_each_rung_against_the_loops(monkeypatch) -> None:
    """max_abs_diff is a measured difference: a fast op that is off by 0.25 on one output
    of the looped images shows 0.25, one off only on images the loops skipped shows 0."""
    import cnnlab.ops.ladder

    real = cnnlab.ops.ladder.conv2d_forward  # where the ladder looks it up

    def off_by(image: int):
        def conv(*args, **kwargs):
            out, cache = real(*args, **kwargs)
            out = out.copy()
            out[image, 0, 0, 0] += 0.25
            return out, cache

        return conv

    kw = dict(batch=3, size=5, channels=2, filters=2, kernel=3, pad=1, repeats=1)
    monkeypatch.setattr(cnnlab.ops.ladder, "conv2d_forward", off_by(1))
    loops, fast = speed_ladder(**kw, loop_images=2, include_tensorflow=False)
    assert fast.max_abs_diff == pytest.approx(0.25, abs=1e-5)
    monkeypatch.setattr(cnnlab.ops.ladder, "conv2d_forward", off_by(2))
    loops, fast = speed_ladder(**kw, loop_images=2, include_tensorflow=False)
    assert fast.max_abs_diff < 1e-5
    assert loops.measured_images == 2 and fast.measured_images == 3


def test_speed_ladder_without_tensorflow_and_loop_images_capped_at_batch() -> None:
    rows = speed_ladder(
        batch=2,
        size=5,
        channels=1,
        filters=2,
        kernel=2,
        pad=0,
        repeats=1,
        loop_images=9,
        include_tensorflow=False,
    )
    assert [row.name for row in rows] == ["course loops", "cnnlab fast"]
    assert rows[0].measured_images == 2
    assert np.isfinite(rows[1].max_abs_diff) and rows[1].max_abs_diff < 1e-5


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"filters": 0}, r"filters must be positive. Received: filters=0"),
        ({"pad": -1}, r"pad must be non-negative. Received: pad=-1"),
        ({"kernel": 9, "size": 4, "pad": 1}, r"kernel must fit the padded input.*kernel=9"),
        ({"repeats": 0}, r"repeats must be positive. Received: repeats=0"),
    ],
    ids=["filters-0", "pad-negative", "kernel-too-large", "repeats-0"],
)
def test_speed_ladder_rejects_bad_arguments(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        speed_ladder(**{"batch": 1, "size": 4, "kernel": 3, "pad": 0, **kwargs})
