"""``cnnlab bench --blas`` through the real entry point: the BLAS line, the kernel against the
CPU's best, and the verdict; no speed ladder. The test's environment is the user's own (it
sets no OPENBLAS_* variable), so the verdict is whatever this machine's is."""

from __future__ import annotations

import pytest

from cnnlab import blas

from .conftest import run_cnnlab

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


def test_bench_blas_through_the_real_entry_point():
    result = run_cnnlab("bench", "--blas", timeout=120)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    info = blas.blas_info()
    assert lines[0] == blas.blas_line(info)
    assert lines[1].startswith("kernel ")
    if blas.kernel_finding(info, blas.cpu_flags()) is None:
        assert lines[2] == "ok: the kernel is the best this CPU supports"
    else:
        assert lines[2].startswith("warning: ")
    assert "Speed ladder" not in result.stdout
