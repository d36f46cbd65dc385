"""Judge one function: compare the learner's outputs with the expected ones, case by case,
check the inputs and caches, and name the mistake when a broken variant reproduces it.

Everything here runs in the parent process, on the expected values computed before the
learner's code ran and on the outputs the child sent back as data.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from cnnlab.check import report as r
from cnnlab.check._child import Opaque
from cnnlab.check.cases import CACHES, OUTPUTS, Case, values_of
from cnnlab.check.diagnoses import MISTAKES, VARIANTS
from cnnlab.check.runner import Outcome, RawResult

#: The course's argument names, to say which input a function modified.
ARGS = {
    "zero_pad": ("X", "pad"),
    "conv_single_step": ("a_slice_prev", "W", "b"),
    "conv_forward": ("A_prev", "W", "b", "hparameters"),
    "pool_forward": ("A_prev", "hparameters"),
    "conv_backward": ("dZ", "cache"),
    "create_mask_from_window": ("x",),
    "distribute_value": ("dz", "shape"),
    "pool_backward": ("dA", "cache"),
}

_SCALAR = {"conv_single_step"}


def tolerances(dtype: str, expected: np.ndarray) -> tuple[float, float]:
    """(rtol, atol): float32 inputs may be summed in another order (or in float64)."""
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    scale = max(1.0, scale) if np.isfinite(scale) else 1.0
    if dtype == "float32":
        return 1e-4, 1e-5 * scale
    return 1e-7, 1e-9 * scale


def compare_array(name: str, got: Any, expected: Any, dtype: str) -> r.Difference | None:
    """None when ``got`` matches ``expected``; else where and by how much it differs."""
    exp = np.asarray(expected)
    if isinstance(got, Opaque):
        return r.Difference(name, f"{name} is {got!r}, not an array")
    if isinstance(got, (tuple, list, dict, str)) and name in ("Z",) and exp.ndim == 0:
        return r.Difference(name, f"{name} is a {type(got).__name__}, expected a number")
    try:
        arr = np.asarray(got)
    except Exception:  # ragged lists
        return r.Difference(name, f"{name} is a {type(got).__name__} that is not an array")
    if arr.dtype.kind not in "biuf":
        return r.Difference(name, f"{name} has dtype {arr.dtype}, expected numbers")
    if exp.ndim == 0 and arr.size == 1:
        arr = arr.reshape(())
    if arr.shape != exp.shape:
        return r.Difference(name, f"{name} has shape {arr.shape}, expected {exp.shape}")
    a = arr.astype(np.float64)
    e = exp.astype(np.float64)
    if arr.dtype.kind == "f" and arr.dtype.itemsize <= 4:  # the dtype returned is not checked
        dtype = "float32"
    rtol, atol = tolerances(dtype, e)
    close = np.isclose(a, e, rtol=rtol, atol=atol)
    if close.all():
        return None
    bad = np.argwhere(~close)
    index = [int(i) for i in bad[0]] if a.ndim else []
    diff = np.abs(a - e)
    where = tuple(index)
    got_v, exp_v = a[where].item(), e[where].item()
    max_diff = float(np.nanmax(np.where(np.isnan(diff), np.inf, diff)))
    if a.ndim == 0:
        message = f"{name} is {got_v:.10g}, expected {exp_v:.10g} (off by {abs(got_v - exp_v):.3g})"
        return r.Difference(name, message, None, got_v, exp_v, max_diff, 1, 1)
    message = f"{name} differs in {len(bad)} of {a.size} values"
    return r.Difference(name, message, index, got_v, exp_v, max_diff, len(bad), a.size)


def split_result(function: str, value: Any) -> tuple[tuple | None, Any, str | None]:
    """(compared values, cache, problem): the learner's return value taken apart."""
    names = OUTPUTS[function]
    if len(names) == 1:
        return (value,), None, None
    want = f"({', '.join(names)})"
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        kind = f"a {type(value).__name__}"
        if isinstance(value, (tuple, list)):
            kind = f"{kind} of {len(value)}"
        return None, None, f"{function} must return the tuple {want}; it returned {kind}"
    cache = value[names.index("cache")] if "cache" in names else None
    return values_of(function, value), cache, None


def compare_values(function: str, got: tuple, expected: tuple, dtype: str) -> r.Difference | None:
    names = [n for n in OUTPUTS[function] if n != "cache"]
    for name, g, e in zip(names, got, expected, strict=True):
        d = compare_array(name, g, e, dtype)
        if d is not None:
            return d
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, np.ndarray) or isinstance(a, np.ndarray):
        a_arr, b_arr = np.asarray(a), np.asarray(b)
        return a_arr.shape == b_arr.shape and bool(np.array_equal(a_arr, b_arr, equal_nan=True))
    if isinstance(b, (tuple, list)):
        return (
            isinstance(a, (tuple, list))
            and len(a) == len(b)
            and all(_same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(b, dict):
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in b)
    return a == b


def check_modified(function: str, case: Case, after: Any) -> str | None:
    """A sentence naming the first input the call changed, or None."""
    if after is None:
        return None
    args_after, kwargs_after = after
    names = ARGS[function]
    for k, (before, now) in enumerate(zip(case.args, args_after, strict=False)):
        name = names[k] if k < len(names) else f"argument {k + 1}"
        parts = [(name, before, now)]
        if name == "cache":
            parts = [
                (f"cache[{j}] ({CACHES_BY_BACKWARD[function][j]})", b, n)
                for j, (b, n) in enumerate(zip(before, now, strict=False))
            ]
        for label, b, n in parts:
            if _same(n, b):
                continue
            if isinstance(b, np.ndarray) and np.shape(n) == b.shape:
                changed = int(np.sum(~np.isclose(np.asarray(n, dtype=float), b, equal_nan=True)))
                return f"it modified its input {label} ({changed} of {b.size} values changed)"
            return f"it modified its input {label}: {b!r} became {n!r}"
    if not _same(kwargs_after, case.kwargs):
        return f"it modified its keyword arguments: {case.kwargs!r} became {kwargs_after!r}"
    return None


CACHES_BY_BACKWARD = {
    "conv_backward": CACHES["conv_forward"],
    "pool_backward": CACHES["pool_forward"],
}


def check_cache(function: str, case: Case, cache: Any) -> str | None:
    """A sentence saying how the forward cache differs from the course's tuple, or None."""
    parts = CACHES.get(function)
    if parts is None:
        return None
    want = f"({', '.join(parts)})"
    if not isinstance(cache, (tuple, list)) or len(cache) != len(parts):
        kind = type(cache).__name__
        if isinstance(cache, (tuple, list)):
            kind = f"a {kind} of {len(cache)}"
        return f"cache must be the tuple {want} that the backward pass unpacks; it is {kind}"
    for k, (part, got) in enumerate(zip(parts, cache, strict=True)):
        if not _same(got, case.args[k]):
            return f"cache[{k}] must be the input {part}, unchanged; it is something else"
    return None


def judge_case(function: str, case: Case, outcome: Outcome) -> r.Failure | None:
    """The failure of one case, or None when it passed."""
    if outcome.error is not None:
        e = outcome.error
        where = f" at line {e['line']}: {e['code']}" if e.get("line") else ""
        inside = f" in {e['in']}" if e.get("in") and e.get("in") != function else ""
        return r.Failure("error", f"raised {e['type']}: {e['message']}{inside}{where}")
    values, cache, problem = split_result(function, outcome.value)
    if problem is not None:
        return r.Failure("type", problem)
    best = None
    for expected in case.expected:
        d = compare_values(function, values, expected, case.dtype)
        if d is None:
            best = None
            break
        best = best or d
    if best is not None:
        kind = "shape" if "shape" in best.message else "value"
        kind = "type" if "not an array" in best.message or "dtype" in best.message else kind
        return r.Failure(kind, best.message, difference=best)
    message = check_modified(function, case, outcome.args_after)
    if message is not None:
        return r.Failure("modified", message)
    message = check_cache(function, case, cache)
    if message is not None:
        return r.Failure("cache", message)
    return None


def _variant_outcome(variant, case: Case):
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return ("value", case.call(variant.fn))
    except Exception as exc:
        return ("error", type(exc).__name__)


def _explains(function: str, variant, case: Case, outcome: Outcome) -> bool:
    kind, got = _variant_outcome(variant, case)
    if outcome.error is not None:
        return kind == "error" and got == outcome.error["type"]
    if kind == "error":
        return False
    values, _, problem = split_result(function, outcome.value)
    if problem is not None:
        return False
    return compare_values(function, values, got, case.dtype) is None


def diagnose(function: str, cases: list[Case], outcomes: list[Outcome], first_bad: int):
    """The mistake whose variant reproduces the learner's outputs (see :mod:`.diagnoses`)."""
    candidates = []
    for variant in VARIANTS.get(function, []):
        if not _explains(function, variant, cases[first_bad], outcomes[first_bad]):
            continue
        every = all(
            _explains(function, variant, c, o)
            for k, (c, o) in enumerate(zip(cases, outcomes, strict=False))
            if k != first_bad
        )
        if every:
            return _diagnosis(variant, certain=True)
        candidates.append(variant)
    if candidates:
        return _diagnosis(candidates[0], certain=False)
    return None


def _diagnosis(variant, certain: bool) -> r.Diagnosis:
    m = MISTAKES[variant.mistake]
    return r.Diagnosis(m.id, m.title, variant.detail, m.explanation, certain)


def judge(function: str, cases: list[Case], raw: RawResult, counted: bool) -> r.FunctionResult:
    """One function's line of the report."""
    res = r.FunctionResult(function, r.PASSED, cases_total=len(cases), counted=counted)
    res.printed, res.printed_chars = raw.printed.get("text", ""), raw.printed.get("total", 0)
    res.seconds = raw.seconds
    if raw.status == "missing":
        res.status = r.NOT_IN_FILE
        res.counted = counted
        return res
    if raw.status == "timeout":
        res.status = r.TIMED_OUT
        res.failure = r.Failure(
            "timeout",
            f"it did not finish its {len(cases)} cases within the time limit "
            "(an endless loop? check the loop bounds and that while loops advance)",
        )
        return res
    if raw.status == "foreign":
        res.status = r.FAILED
        res.failure = r.Failure("foreign", f"{function}: {(raw.error or {}).get('message')}")
        return res
    if raw.status in ("import failed", "import timeout", "crashed"):
        res.status = r.FAILED if raw.status != "import timeout" else r.TIMED_OUT
        e = raw.error or {}
        if raw.status == "import failed" and e.get("refused"):
            line = f" (line {e['line']}: {e['code']})" if e.get("line") else ""
            res.failure = r.Failure("refused", f"{e['refused']}{line}")
        elif raw.status == "import failed":
            line = f" at line {e['line']}: {e['code']}" if e.get("line") else ""
            msg = f"importing the file failed: {e.get('type')}: {e.get('message')}{line}"
            res.failure = r.Failure("import", msg)
        elif raw.status == "import timeout":
            res.failure = r.Failure("timeout", "importing the file did not finish in time")
        else:
            res.failure = r.Failure(
                "crash",
                f"the process running it ended ({e.get('message')}): os._exit(), a crash, "
                "or out of memory",
            )
        return res

    outcomes = raw.outcomes
    res.cases_run = len(outcomes)
    errors = [o.error for o in outcomes if o.error is not None]
    if outcomes and len(errors) == len(outcomes) and all(e["not_implemented"] for e in errors):
        res.status = r.NOT_IMPLEMENTED
        inner = {e.get("in") for e in errors} - {function, None}
        if inner:
            res.notes.append(
                f"the NotImplementedError comes from {', '.join(sorted(inner))}, which it calls"
            )
        return res

    first_bad = None
    for k, (case, outcome) in enumerate(zip(cases, outcomes, strict=False)):
        failure = judge_case(function, case, outcome)
        if failure is None:
            res.cases_passed += 1
            continue
        if first_bad is None:
            first_bad = k
            failure.case, failure.number, failure.params = case.label, k + 1, case.params
            res.failure = failure
    if first_bad is None:
        if function in _SCALAR:
            _scalar_note(res, outcomes)
        return res
    res.status = r.FAILED
    if res.failure.kind in ("value", "shape", "type", "error") and not (
        outcomes[first_bad].error and outcomes[first_bad].error["not_implemented"]
    ):
        res.diagnosis = diagnose(function, cases, outcomes, first_bad)
    return res


def refuse_passes(results: list[r.FunctionResult], refusals: list[str]) -> None:
    """A file that imports (or tries to import) cnnlab or a framework gets no pass: each
    function that would pass fails with the refusal; a function failing on its own keeps
    its own failure, which says more."""
    if not refusals:
        return
    for res in results:
        if res.status == r.PASSED:
            res.status = r.FAILED
            res.failure = r.Failure("refused", refusals[0])


def _scalar_note(res: r.FunctionResult, outcomes: list[Outcome]) -> None:
    shapes = {np.shape(o.value) for o in outcomes if o.error is None}
    if any(s != () for s in shapes):
        res.notes.append(
            f"it returns an array of shape {sorted(shapes - {()})[0]}; the course returns a "
            "number (add float(b), or take np.squeeze of the sum)"
        )
