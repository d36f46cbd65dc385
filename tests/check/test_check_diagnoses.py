"""Hand-written wrong solutions get the right function failed and the right mistake named;
a correct loop solution, written independently of ``ops.reference``, passes everything."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cnnlab.check import FUNCTIONS, check_module
from cnnlab.check.diagnoses import MISTAKES, VARIANTS

SOLUTIONS = Path(__file__).parent / "solutions"

# file, the function that must fail, the mistake it must be told, a word of the detail
WRONG = [
    ("bias_missing", "conv_single_step", "bias-missing", "np.sum"),
    ("bias_per_element", "conv_single_step", "bias-wrong", "every product"),
    ("bias_first_channel", "conv_forward", "bias-wrong", "first filter"),
    ("channel_sum_missing", "conv_forward", "channel-sum-missing", "last input channel"),
    ("stride_ignored", "conv_forward", "stride-ignored", "both directions"),
    ("stride_one_direction", "pool_forward", "stride-one-direction", "width"),
    ("padding_not_applied", "conv_forward", "padding-not-applied", "A_prev"),
    ("padding_sliced_away", "conv_backward", "padding-sliced-away", "pad:-pad"),
    ("height_width_swapped", "conv_forward", "height-width-swapped", "n_H"),
    ("average_wrong_count", "pool_forward", "average-wrong-count", "divided by f"),
    ("distribute_wrong_count", "distribute_value", "average-wrong-count", "n_H + n_W"),
    ("mask_wrong_axis", "create_mask_from_window", "mask-wrong-window", "axis=0"),
    ("mask_over_channels", "pool_backward", "mask-wrong-window", "all channels"),
    ("pool_backward_no_stride", "pool_backward", "pool-backward-stride-ignored", "both"),
    ("not_accumulated", "conv_backward", "gradients-not-accumulated", "dW, db"),
    ("db_wrong_axes", "conv_backward", "db-wrong-axes", "every channel"),
    ("pad_every_axis", "zero_pad", "padding-every-axis", "all four axes"),
]


@pytest.mark.parametrize(
    ("name", "function", "mistake", "detail"), WRONG, ids=[w[0] for w in WRONG]
)
def test_a_wrong_solution_is_failed_and_its_mistake_named(name, function, mistake, detail):
    report = check_module(SOLUTIONS / f"{name}.py", functions=[function], n_random=2)
    result = report[function]
    assert result.status == "failed"
    assert report.exit_code == 1
    assert result.failure is not None and result.failure.case is not None
    assert result.failure.number >= 1 and result.failure.params
    assert result.diagnosis is not None, str(report)
    assert result.diagnosis.id == mistake, str(report)
    assert result.diagnosis.certain, str(report)
    assert detail in result.diagnosis.detail
    text = str(report)
    assert f"diagnosis: {MISTAKES[mistake].title}" in text


def test_every_required_mistake_has_a_wrong_solution():
    named = {w[2] for w in WRONG}
    required = {
        "bias-missing", "bias-wrong", "channel-sum-missing", "stride-ignored",
        "stride-one-direction", "padding-not-applied", "padding-sliced-away",
        "height-width-swapped", "average-wrong-count", "mask-wrong-window",
        "pool-backward-stride-ignored", "gradients-not-accumulated", "db-wrong-axes",
    }  # fmt: skip
    assert required <= named
    assert required <= set(MISTAKES)
    assert {v.mistake for vs in VARIANTS.values() for v in vs} <= set(MISTAKES)


def test_a_mistake_in_conv_single_step_shows_in_conv_forward_too():
    report = check_module(SOLUTIONS / "bias_missing.py", n_random=1)
    assert report["conv_single_step"].diagnosis.id == "bias-missing"
    # bias_missing.py defines only conv_single_step: the others are skipped, not failed
    assert report["conv_forward"].status == "not in file"
    assert not report["conv_forward"].counted
    assert report.exit_code == 1


@pytest.mark.parametrize("seed", [0, 7])
def test_the_correct_loop_solution_passes_everything(seed):
    report = check_module(SOLUTIONS / "correct.py", seed=seed)
    assert [f.status for f in report.functions] == ["passed"] * len(FUNCTIONS), str(report)
    assert report.passed and report.exit_code == 0
    for f in report.functions:
        assert f.cases_passed == f.cases_total >= 9
        assert f.failure is None and f.diagnosis is None


def test_the_published_numbers_are_what_the_course_prints():
    from cnnlab.check.cases import published_cases

    cases = published_cases()
    (z,) = cases["conv_single_step"][0].expected[0]
    assert z == pytest.approx(-6.999089450680221, rel=1e-12)
    (Z,) = cases["conv_forward"][0].expected[0]
    assert np.mean(Z) == pytest.approx(0.5511276474566768, rel=1e-12)
    dA, dW, db = cases["conv_backward"][0].expected[0]
    assert np.mean(dA) == pytest.approx(1.4524377775388075, rel=1e-12)
    assert np.mean(dW) == pytest.approx(1.7269914583139097, rel=1e-12)
    assert np.mean(db) == pytest.approx(7.839232564616838, rel=1e-12)
    (dA_prev,) = cases["pool_backward"][0].expected[0]
    np.testing.assert_allclose(
        dA_prev[1, 1], [[0, 0], [5.05844394, -1.68282702], [0, 0]], atol=1e-8
    )


def test_the_trap_grid_hits_the_traps():
    from cnnlab.check.cases import build_cases

    cases = build_cases(0, 0)
    conv = [c.params for c in cases["conv_forward"]]
    assert {p["pad"] for p in conv} >= {0, 1, 2}
    assert {p["stride"] for p in conv} >= {1, 2, 3}
    assert {p["dtype"] for p in conv} == {"float32", "float64"}
    assert any(p["A_prev"].startswith("(1,") for p in conv)
    shapes = [tuple(int(v) for v in p["A_prev"].strip("()").split(",")) for p in conv]
    assert any(s[1] != s[2] for s in shapes)
    pool = [c.params for c in cases["pool_backward"]]
    assert any(p["f"] > p["stride"] for p in pool) and any(p["f"] <= p["stride"] for p in pool)
    assert any(p.get("ties") for p in pool)
    # with tied maxima both masks are accepted: the course's (every tie) and the first only
    assert any(len(c.expected) == 2 for c in cases["pool_backward"])


def test_a_notebook_module_without_a_file_is_checked_from_its_functions_source():
    spec = importlib.util.spec_from_file_location("learner_nb", SOLUTIONS / "correct.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__file__ = None  # as in a notebook's __main__
    report = check_module(module, functions=["zero_pad", "conv_forward"], n_random=1)
    assert report.passed, str(report)
    assert report.file == "learner_nb"


def test_what_the_course_allows_passes():
    report = check_module(SOLUTIONS / "lenient.py")
    assert report.passed, str(report)
    (note,) = report["conv_single_step"].notes
    assert "shape (1, 1, 1)" in note and "float(b)" in note
    # the first-only mask differs from the course's on ties; both are accepted
    from cnnlab.check.cases import build_cases

    assert any(len(c.expected) == 2 for c in build_cases()["pool_backward"])


def test_a_variant_that_explains_only_the_first_failure_gives_a_probable_diagnosis():
    from cnnlab.check.cases import build_cases
    from cnnlab.check.compare import diagnose
    from cnnlab.check.diagnoses import VARIANTS
    from cnnlab.check.runner import Outcome

    cases = build_cases(0, 1)["distribute_value"]
    half = next(v for v in VARIANTS["distribute_value"] if v.detail == "dz / n_H (the height only)")
    # right on the first case, dz / n_H on the second, nonsense on the others
    outcomes = [Outcome(value=cases[0].expected[0][0]), Outcome(value=cases[1].call(half.fn)[0])]
    outcomes += [Outcome(value=np.full(c.args[1], 123.0)) for c in cases[2:]]
    diagnosis = diagnose("distribute_value", cases, outcomes, first_bad=1)
    assert diagnosis.id == "average-wrong-count" and not diagnosis.certain
    assert diagnosis.detail == "dz / n_H (the height only)"
