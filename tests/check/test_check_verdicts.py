"""The checker's verdicts hold: they do not lean on the comparison tolerances, yet the
tolerances are tight enough to fail an answer wrong by a small relative amount, and each
"it may call X, which did not pass" hint sits under the function that calls X.

Loosening every tolerance of :mod:`cnnlab.check.compare` 1000x must leave every verdict of
the checker's tests as it is. Two runs check it: the key verdicts here, in this process
(the fast tier), and the whole fast tier of ``tests/check`` again in a subprocess with this
file as a plugin (the slow tier). Only the solutions wrong by 1e-5 here are left out of
both: they exist to pin the tolerances themselves, and would pass under 1000x looser ones.

By hand: ``CNNLAB_TEST_LOOSEN_TOLERANCES=1000 PYTHONPATH=tests/check uv run pytest
tests/check -p test_check_verdicts --ignore tests/check/test_check_verdicts.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_check_diagnoses import WRONG
from test_check_diagnoses import (
    test_a_wrong_solution_is_failed_and_its_mistake_named as _wrong_solution_verdict,
)
from test_check_runner import (
    test_a_failing_import_is_reported_for_every_function as _import_verdict,
)
from test_check_runner import test_a_modified_input_fails_the_function as _modified_verdict
from test_check_runner import test_an_exception_is_reported_with_its_line as _exception_verdict
from test_check_runner import (
    test_caches_must_have_the_course_structure as _cache_verdict,
)
from test_check_runner import (
    test_the_file_cannot_change_the_expected_values as _tamper_verdict,
)

from cnnlab.check import FUNCTIONS, check_module, compare

pytestmark = pytest.mark.slow  # the slow tier: each case starts the checker's child

SOLUTIONS = Path(__file__).parent / "solutions"
LOOSEN = "CNNLAB_TEST_LOOSEN_TOLERANCES"
TESTS = Path(__file__).parent


def _loosen(factor: float) -> None:
    """Every tolerance of check/compare.py, ``factor`` times looser."""
    original = compare.tolerances

    def loose(dtype, expected):
        return tuple(factor * t for t in original(dtype, expected))

    compare.tolerances = loose


def pytest_configure(config):
    """As a plugin (``-p test_check_verdicts``), with $CNNLAB_TEST_LOOSEN_TOLERANCES set:
    loosen the tolerances for the whole run."""
    if os.environ.get(LOOSEN):
        _loosen(float(os.environ[LOOSEN]))


@pytest.fixture
def loose(monkeypatch):
    """The tolerances 1000x looser, for one test."""
    original = compare.tolerances

    def looser(dtype, expected):
        return tuple(1000 * t for t in original(dtype, expected))

    monkeypatch.setattr(compare, "tolerances", looser)
    assert compare.tolerances("float64", np.ones(1)) == pytest.approx((1e-4, 1e-6))


@pytest.mark.parametrize(
    ("name", "function", "mistake", "detail"), WRONG, ids=[w[0] for w in WRONG]
)
def test_each_mistake_is_failed_and_named_with_tolerances_1000x_looser(
    loose, name, function, mistake, detail
):
    _wrong_solution_verdict(name, function, mistake, detail)


@pytest.mark.parametrize(
    "verdict",
    [_exception_verdict, _modified_verdict, _cache_verdict, _import_verdict, _tamper_verdict],
    ids=["exception-and-hint", "modified", "cache", "import", "tamper"],
)
def test_the_runners_verdicts_hold_with_tolerances_1000x_looser(loose, verdict):
    verdict()


# file, the function wrong by a small relative amount, the functions that fail through it
SMALL = [
    ("conv_forward_scaled", "conv_forward", []),
    ("pool_backward_scaled", "pool_backward", []),
    ("single_step_scaled", "conv_single_step", ["conv_forward"]),
    ("zero_pad_scaled", "zero_pad", ["conv_forward", "conv_backward"]),
    ("distribute_scaled", "distribute_value", ["pool_backward"]),
]


def _blocks(text: str) -> dict[str, list[str]]:
    """The plain-text report cut into each function's line and the lines under it."""
    blocks: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        word = line.split(" ")[0]
        if word in FUNCTIONS:
            current = word
            blocks[current] = []
        elif current and line.startswith("    "):
            blocks[current].append(line.strip())
        else:
            current = None
    return blocks


@pytest.mark.parametrize(("name", "wrong", "callers"), SMALL, ids=[s[0] for s in SMALL])
def test_an_answer_wrong_by_a_small_relative_amount_fails(name, wrong, callers):
    report = check_module(SOLUTIONS / f"{name}.py", n_random=2)
    failed = sorted(f.name for f in report.functions if f.status != "passed")
    assert failed == sorted([wrong, *callers]), str(report)
    assert report[wrong].failure.kind == "value"
    assert report.exit_code == 1
    blocks = _blocks(str(report))
    assert set(blocks) == set(FUNCTIONS)
    for function, lines in blocks.items():
        hints = [line for line in lines if line.startswith("note: it may call")]
        if function in callers:  # the hint sits under the caller, naming only the culprit
            assert hints == [f"note: it may call {wrong}, which did not pass: fix that first"]
        else:
            assert hints == [], f"a hint under {function}: {hints}"


@pytest.mark.slow
def test_every_fast_check_test_passes_with_tolerances_1000x_looser():
    env = {**os.environ, LOOSEN: "1000", "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(TESTS), "-q", "-m", "not slow", "-p",
            "test_check_verdicts", f"--ignore={Path(__file__)}", "-p", "no:cacheprovider",
        ],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
