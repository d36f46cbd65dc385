"""The learner's code runs apart: it cannot change the expected values, runs in an empty
folder without TensorFlow, and a loop, an exception, a flood of prints, a bad cache or a
modified input each get the right report, with no process left behind."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from _procs import live_processes

from cnnlab.check import CheckError, check_module, sandbox
from cnnlab.check.starter import __file__ as STARTER

SOLUTIONS = Path(__file__).parent / "solutions"


def marked_processes(mark: str) -> list[int]:
    """The live processes whose environment carries a check's ``mark`` (zombies aside)."""
    needle = f"{sandbox.MARK_VARIABLE}={mark}".encode()
    return live_processes(lambda environ: needle in environ)


def test_the_file_cannot_change_the_expected_values():
    report = check_module(SOLUTIONS / "tampers.py", functions=["zero_pad"], n_random=1)
    result = report["zero_pad"]
    assert result.status == "failed"
    assert result.failure.kind == "shape"
    assert "X_pad has shape (4, 3, 3, 2), expected (4, 9, 9, 2)" in result.failure.message
    assert result.diagnosis.id == "padding-not-applied"


def test_the_child_runs_in_an_empty_folder_without_tensorflow_or_cnnlab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = check_module(SOLUTIONS / "isolation_probe.py", n_random=1)
    assert report["zero_pad"].status == "passed", str(report)
    assert not any(tmp_path.iterdir())


def test_an_endless_loop_times_out_and_the_other_functions_still_run(monkeypatch):
    # every child carries the check's mark in its environment; none may be left after
    mark = f"test-{os.getpid()}-{time.time_ns()}"
    monkeypatch.setattr(sandbox, "new_mark", lambda: mark)
    t0 = time.perf_counter()
    report = check_module(SOLUTIONS / "endless_loop.py", timeout=1.0, n_random=1)
    assert time.perf_counter() - t0 < 20
    assert report["pool_forward"].status == "timed out"
    assert report["pool_forward"].failure.kind == "timeout"
    others = [f.status for f in report.functions if f.name != "pool_forward"]
    assert others == ["passed"] * 7, str(report)
    assert report.exit_code == 1
    assert marked_processes(mark) == []


def test_an_exception_is_reported_with_its_line():
    report = check_module(SOLUTIONS / "raises_one.py", n_random=1)
    result = report["conv_single_step"]
    assert result.status == "failed" and result.failure.kind == "error"
    assert "ValueError: I am stuck here" in result.failure.message
    assert "at line 10" in result.failure.message
    # conv_forward calls the failing conv_single_step; the report says so
    assert report["conv_forward"].status == "failed"
    assert "in conv_single_step" in report["conv_forward"].failure.message
    assert any("conv_single_step" in n for n in report["conv_forward"].notes)
    assert report["pool_backward"].status == "passed"


def test_a_file_that_prints_a_lot_still_passes_and_the_print_is_cut_short():
    t0 = time.perf_counter()
    report = check_module(SOLUTIONS / "prints_a_lot.py", functions=["zero_pad"], n_random=1)
    assert time.perf_counter() - t0 < 30
    result = report["zero_pad"]
    assert result.status == "passed", str(report)
    assert result.printed_chars > 1_000_000
    assert len(result.printed) <= 4000 and result.printed.startswith("padding (4, 3, 3, 2)")
    assert f"it printed {result.printed_chars} characters" in str(report)


def test_a_modified_input_fails_the_function():
    report = check_module(SOLUTIONS / "mutates_hparameters.py", functions=["conv_forward"])
    failure = report["conv_forward"].failure
    assert failure.kind == "modified"
    assert "hparameters" in failure.message and "'stride'" in failure.message


def test_caches_must_have_the_course_structure():
    report = check_module(SOLUTIONS / "bad_caches.py", functions=["conv_forward", "pool_forward"])
    conv, pool = report["conv_forward"].failure, report["pool_forward"].failure
    assert conv.kind == "cache"
    assert "(A_prev, W, b, hparameters)" in conv.message and "tuple of 3" in conv.message
    assert pool.kind == "type"
    assert "must return the tuple (A, cache)" in pool.message


def test_a_failing_import_is_reported_for_every_function():
    report = check_module(SOLUTIONS / "import_fails.py")
    assert report.exit_code == 1
    for f in report.functions:
        assert f.status == "failed" and f.failure.kind == "import"
        assert "AssertionError: (1, 4, 4, 1)" in f.failure.message
        assert "line 10" in f.failure.message


def test_the_untouched_starter_is_not_implemented_not_wrong():
    report = check_module(STARTER, n_random=1)
    assert [f.status for f in report.functions] == ["not implemented"] * 8
    assert all(f.diagnosis is None and f.failure is None for f in report.functions)
    assert report.exit_code == 1


def test_a_function_named_but_not_defined_fails():
    report = check_module(SOLUTIONS / "bias_missing.py", functions=["zero_pad"])
    assert report["zero_pad"].status == "not in file" and report["zero_pad"].counted
    assert report.exit_code == 1


@pytest.mark.parametrize(
    ("source", "functions", "pattern"),
    [
        ("def zero_pad(X, pad):\n    return X +\n", None, r"bad\.py:2: SyntaxError"),
        ("import numpy as np\n", None, r"defines none of the course's functions"),
        ("def zero_pad(X, pad):\n    return X\n", ["zero_pad", "conv"], r"unknown function 'conv'"),
    ],
    ids=["syntax-error", "no-course-function", "unknown-name"],
)
def test_usage_errors_raise_a_check_error(tmp_path, source, functions, pattern):
    path = tmp_path / "bad.py"
    path.write_text(source)
    with pytest.raises(CheckError, match=pattern):
        check_module(path, functions=functions)


def test_a_notebook_without_the_functions_is_pointed_to_the_right_way(tmp_path):
    path = tmp_path / "week1.ipynb"
    path.write_text('{"cells": [], "nbformat": 4}')
    with pytest.raises(CheckError, match=r"week1.ipynb: a notebook.*check_module\(__main__\)"):
        check_module(path)


def test_a_missing_file_raises_a_check_error(tmp_path):
    with pytest.raises(CheckError, match="nope.py: no such file"):
        check_module(tmp_path / "nope.py")


def test_an_endless_loop_at_import_times_out_every_function(tmp_path):
    path = tmp_path / "loops.py"
    path.write_text("while True:\n    pass\n\ndef zero_pad(X, pad):\n    return X\n")
    t0 = time.perf_counter()
    report = check_module(path, timeout=0.5)
    assert time.perf_counter() - t0 < 10
    assert {f.status for f in report.functions} == {"timed out"}
    assert "importing the file did not finish" in report["zero_pad"].failure.message


def test_a_function_that_ends_its_process_is_failed_and_the_rest_still_run(tmp_path):
    path = tmp_path / "exits.py"
    shutil.copy(SOLUTIONS / "correct.py", tmp_path / "correct.py")
    path.write_text("import os\nfrom correct import *\n\ndef zero_pad(X, pad):\n    os._exit(3)\n")
    report = check_module(path, functions=["zero_pad", "conv_single_step"], n_random=1)
    assert report["zero_pad"].status == "failed"
    assert report["zero_pad"].failure.kind == "crash"
    assert "exit code 3" in report["zero_pad"].failure.message
    assert report["conv_single_step"].status == "passed"
