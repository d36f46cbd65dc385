"""The speed ladder: one convolution, three ways, timed on this machine.

Rungs, slowest first:

1. the course's loops (:func:`cnnlab.ops.reference.conv_forward`), one
   ``conv_single_step`` per output value. They are so slow that only a few
   images are timed and the time is scaled to the whole batch;
2. cnnlab's vectorized NumPy (:func:`cnnlab.ops.conv2d_forward`): every window
   laid out as a row, then one matrix product;
3. TensorFlow's ``tf.nn.conv2d`` inside a ``tf.function`` (skipped when
   TensorFlow is not installed).

Every rung computes the same output; each row also reports its largest
difference from the loops' output on the images the loops computed.

Example:
    >>> rows = speed_ladder(batch=2, size=8, channels=1, filters=2, kernel=3,
    ...                     repeats=1, include_tensorflow=False)   # doctest: +SKIP
    >>> [row.name for row in rows]                                    # doctest: +SKIP
    ['course loops', 'cnnlab fast']
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from cnnlab.errors import ArgumentError
from cnnlab.ops import conv2d_forward
from cnnlab.ops.reference import conv_forward

__all__ = ["LadderRow", "Timing", "speed_ladder", "time_call", "time_calls"]


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of repeated calls of one function."""

    median: float
    best: float
    repeats: int


def time_call(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls.

    The garbage collector is paused while timing, as :mod:`timeit` does.

    Args:
        fn: a function of no arguments.
        repeats: timed calls (at least 1).
        warmup: untimed calls first (caches, lazy compilation, thread pools).

    Returns:
        The median and the best time, in seconds. The median is the robust figure on
        a busy machine; the best is the machine's capability.

    Example:
        >>> time_call(lambda: sum(range(1000)), repeats=3).repeats
        3
    """
    return time_calls({"fn": fn}, repeats, warmup)["fn"]


def time_calls(
    fns: Mapping[str, Callable[[], object]], repeats: int = 5, warmup: int = 1
) -> dict[str, Timing]:
    """Time several functions in interleaved rounds: each round calls each one once.

    Functions compared with each other should be timed this way: a slow spell of a
    shared machine then slows every one of them alike, so their ratios hold even
    when the absolute times don't.

    Args:
        fns: ``{name: function of no arguments}``.
        repeats: rounds of timed calls (at least 1).
        warmup: untimed calls of each function first.

    Returns:
        ``{name: Timing}``, in the order of ``fns``.

    Example:
        >>> sorted(time_calls({"a": lambda: None, "b": lambda: None}, repeats=2))
        ['a', 'b']
    """
    if repeats < 1:
        raise ArgumentError(f"repeats must be at least 1. Received: repeats={repeats}")
    if warmup < 0:
        raise ArgumentError(f"warmup must be non-negative. Received: warmup={warmup}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, fn in fns.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    finally:
        if was_enabled:
            gc.enable()
    return {
        name: Timing(median=statistics.median(t), best=min(t), repeats=repeats)
        for name, t in times.items()
    }


@dataclass(frozen=True)
class LadderRow:
    """One rung of the ladder.

    Attributes:
        name: the implementation.
        seconds: median seconds for the whole batch (for the loops: measured on
            ``measured_images`` images and scaled to the batch).
        seconds_per_image: ``seconds / batch``.
        measured_images: how many images the timed calls processed.
        max_abs_diff: largest difference from the loops' output (0 for the loops).
        detail: how it was run.
    """

    name: str
    seconds: float
    seconds_per_image: float
    measured_images: int
    max_abs_diff: float
    detail: str


def speed_ladder(
    batch: int = 16,
    size: int = 64,
    channels: int = 3,
    filters: int = 32,
    kernel: int = 7,
    pad: int = 3,
    stride: int = 1,
    *,
    repeats: int = 5,
    loop_images: int = 1,
    include_tensorflow: bool = True,
    seed: int = 0,
) -> list[LadderRow]:
    """Time one float32 convolution with the course loops, the fast ops and TensorFlow.

    The defaults are the Happy model's convolution: a (16, 64, 64, 3) batch, zero
    padded by 3, then 32 filters of 7x7 with stride 1 (output (16, 64, 64, 32)).

    Args:
        batch, size, channels: the input x, shape ``(batch, size, size, channels)``.
        filters, kernel: the weights, shape ``(kernel, kernel, channels, filters)``.
        pad, stride: zero padding on every side and step, as the course's hparameters.
        repeats: timed calls of the fast rungs (the loops run once).
        loop_images: images given to the loops (at most ``batch``).
        include_tensorflow: add the TensorFlow rung when TensorFlow can be imported.
        seed: seed of the random input and weights.

    Returns:
        The rungs, slowest (loops) first. TensorFlow is absent when not installed.

    Raises:
        ValueError: for a non-positive size, or a kernel larger than the padded input.
    """

    for name, value in (
        ("batch", batch),
        ("size", size),
        ("channels", channels),
        ("filters", filters),
        ("kernel", kernel),
        ("stride", stride),
        ("loop_images", loop_images),
        ("repeats", repeats),
    ):
        if value < 1:
            raise ArgumentError(f"{name} must be positive. Received: {name}={value}")
    if pad < 0:
        raise ArgumentError(f"pad must be non-negative. Received: pad={pad}")
    if kernel > size + 2 * pad:
        raise ArgumentError(
            f"kernel must fit the padded input ({size} + 2 * {pad}). Received: kernel={kernel}"
        )
    loop_images = min(loop_images, batch)

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, size, size, channels)).astype(np.float32)
    w = (rng.standard_normal((kernel, kernel, channels, filters)) * 0.1).astype(np.float32)
    b = rng.standard_normal(filters).astype(np.float32)

    rows: list[LadderRow] = []

    # 1. The course's loops, on a few images (one call: they take seconds).
    x_loop = x[:loop_images]
    hparameters = {"pad": pad, "stride": stride}
    start = time.perf_counter()
    z_loop, _ = conv_forward(x_loop, w, b.reshape(1, 1, 1, filters), hparameters)
    loop_seconds = (time.perf_counter() - start) / loop_images * batch
    rows.append(
        LadderRow(
            "course loops",
            loop_seconds,
            loop_seconds / batch,
            loop_images,
            0.0,
            f"reference.conv_forward on {loop_images} image(s), scaled to {batch}",
        )
    )

    def diff(y: np.ndarray) -> float:
        return float(np.max(np.abs(np.asarray(y)[:loop_images] - z_loop)))

    # 2. The fast NumPy ops and 3. TensorFlow (compiled with tf.function, as Keras runs
    # it), timed in interleaved rounds so that both see the machine in the same state.
    fns = {"fast": lambda: conv2d_forward(x, w, b, stride=stride, padding=pad)}
    outputs = {"fast": conv2d_forward(x, w, b, stride=stride, padding=pad)[0]}
    tf = _import_tensorflow() if include_tensorflow else None
    if tf is not None:
        tx, tw, tb = tf.constant(x), tf.constant(w), tf.constant(b)
        paddings = [[0, 0], [pad, pad], [pad, pad], [0, 0]]

        @tf.function
        def tf_conv(x, w, b):
            return tf.nn.conv2d(x, w, strides=stride, padding=paddings) + b

        outputs["tf"] = tf_conv(tx, tw, tb).numpy()
        fns["tf"] = lambda: tf_conv(tx, tw, tb)
    timings = time_calls(fns, repeats=repeats)
    names = {
        "fast": ("cnnlab fast", "ops.conv2d_forward"),
        "tf": ("TensorFlow", "tf.nn.conv2d in tf.function"),
    }
    for key, t in timings.items():
        name, how = names[key]
        rows.append(
            LadderRow(
                name,
                t.median,
                t.median / batch,
                batch,
                diff(outputs[key]),
                f"{how}, median of {repeats} (rounds interleaved with the other rungs)",
            )
        )
    return rows


def _import_tensorflow():
    """TensorFlow, or None when it is not installed (imported lazily: it takes seconds)."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf
