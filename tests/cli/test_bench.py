"""``cnnlab bench`` prints the speed ladder as a table; bad options give one error line."""

from __future__ import annotations

import pytest

from cnnlab.cli import app
from cnnlab.cli._common import run_cli

TINY = [
    "--batch",
    "2",
    "--size",
    "6",
    "--channels",
    "2",
    "--filters",
    "3",
    "--kernel",
    "3",
    "--pad",
    "1",
    "--repeats",
    "1",
]


def test_bench_prints_the_ladder(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(app, ["bench", *TINY]) == 0
    out = capsys.readouterr().out
    assert "(2, 6, 6, 2)" in out and "(2, 6, 6, 3)" in out  # input and output shapes
    for rung in ("course loops", "cnnlab fast", "TensorFlow"):
        assert rung in out
    assert "Speed ladder" in out and "CPU core" in out
    assert "BLAS: " in out and "kernel " in out  # the BLAS the timings ran on


def test_bench_without_tensorflow(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(app, ["bench", *TINY, "--no-tensorflow"]) == 0
    out = capsys.readouterr().out
    assert "cnnlab fast" in out and "TensorFlow" not in out
    assert "not installed" not in out


def test_bench_bad_option_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(app, ["bench", *TINY, "--kernel", "0"]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == "error: kernel must be positive. Received: kernel=0"
    assert captured.out == ""
