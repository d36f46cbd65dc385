"""Timing and table helpers shared by the scripts in benchmarks/.

``time_calls`` is the library's (:func:`cnnlab.ops.ladder.time_calls`): warmup calls,
then ``repeats`` interleaved rounds that call each function once, with the garbage
collector paused; the median and best time of each function.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence

from cnnlab.ops.ladder import Timing, time_calls

__all__ = [
    "Timing",
    "format_ms",
    "geomean",
    "machine_line",
    "print_table",
    "time_calls",
]


def geomean(values: Sequence[float]) -> float:
    """Geometric mean of positive numbers (the fair average of ratios)."""
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"values must be positive and non-empty. Received: values={values}")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def format_ms(seconds: float | None) -> str:
    """Seconds as milliseconds with two decimals; '-' when missing."""
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def machine_line() -> str:
    """This machine, the library versions and the BLAS kernel, in one line; plus a second
    line (a warning) when the BLAS kernel is older than the CPU supports, with how much
    faster the native kernel ran a GEMM here (:func:`cnnlab.blas.check_kernel`, which runs
    it in subprocesses and never changes this process's environment)."""
    import numpy as np

    from cnnlab import blas

    info = blas.blas_info()
    line = (
        f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, NumPy {np.__version__}; "
        f"{blas.blas_line(info)}"
    )
    warning = blas.check_kernel(info)
    return line if warning is None else f"{line}\n{warning}"


def blas_line() -> str:
    """The BLAS NumPy runs on, its kernel (what OpenBLAS chose, or OPENBLAS_CORETYPE forced)
    and threads, from threadpoolctl; the speed figures depend on it."""
    from cnnlab import blas

    return blas.blas_line()


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a plain-text table: first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        first = str(cells[0]).ljust(widths[0])
        rest = [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))
