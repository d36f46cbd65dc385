"""Check a learner's own NumPy implementation of the course's functions, and say what is wrong.

The course week asks the learner to write ``zero_pad``, ``conv_single_step``,
``conv_forward``, ``pool_forward``, ``conv_backward``, ``create_mask_from_window``,
``distribute_value`` and ``pool_backward``. :func:`check_module` runs the learner's file
in a separate process (see :mod:`.runner`) on the course's published examples and on a
grid of known traps (see :mod:`.cases`), compares with :mod:`cnnlab.ops.reference`, and,
when a function fails, names the mistake if a deliberately broken variant of the
reference reproduces it (see :mod:`.diagnoses`).

The check runs the learner's own code: the file is imported, in a child process whose
working directory is an empty temporary folder, with a time limit per function. The
expected values are computed in this process before the child starts; the child only
receives the inputs.

Example (in a notebook cell)::

    from cnnlab.check import check_module
    report = check_module("conv_exercise.py", functions=["zero_pad", "conv_forward"])
    report            # the plain-text report
    report.passed     # True when every checked function passed
"""

from __future__ import annotations

import inspect
import tempfile
import types
from pathlib import Path

from cnnlab.check._child import refusal
from cnnlab.check.cases import CALLS, FUNCTIONS, build_cases
from cnnlab.check.compare import judge, refuse_passes
from cnnlab.check.notebook import compile_joined, joined_source, notebook_source, relocate
from cnnlab.check.report import Diagnosis, Failure, FunctionResult, Report
from cnnlab.check.runner import CheckError, check_syntax, check_timeout, run_isolated
from cnnlab.check.sandbox import refused_in_source

__all__ = [
    "FUNCTIONS",
    "CheckError",
    "Diagnosis",
    "Failure",
    "FunctionResult",
    "Report",
    "check_files",
    "check_module",
]


def _names(functions) -> tuple[list[str], bool]:
    if functions is None or (not isinstance(functions, str) and len(functions) == 0):
        return list(FUNCTIONS), False
    if isinstance(functions, str):
        functions = [functions]
    unknown = [f for f in functions if f not in FUNCTIONS]
    if unknown:
        raise CheckError(
            f"unknown function {unknown[0]!r}; the course's functions are {', '.join(FUNCTIONS)}"
        )
    wanted = set(functions)
    return [f for f in FUNCTIONS if f in wanted], True


def _module_source(module: types.ModuleType) -> str:
    """A notebook's functions (a module without a file), written out as a source file."""
    parts = ["import numpy as np", ""]
    for name in FUNCTIONS:
        fn = getattr(module, name, None)
        if callable(fn):
            try:
                parts.append(inspect.getsource(fn))
            except (OSError, TypeError) as exc:
                raise CheckError(f"cannot read the source of {name}: {exc}") from None
    return "\n".join(parts)


def check_module(
    module_or_path,
    functions=None,
    *,
    timeout: float = 10.0,
    seed: int = 0,
    n_random: int = 5,
) -> Report:
    """Check the course functions of a learner's file (or module) and report what is wrong.

    Args:
        module_or_path: a path to a ``.py`` file or a Jupyter notebook (``.ipynb``: the
            code cells' definitions are checked, see :mod:`.notebook`), or a module: an
            imported one (its file is checked), or a notebook's ``__main__`` (the source of
            its course functions is written to a temporary file; helpers they call must be
            among them).
        functions: names of the functions to check (default: all eight). A name the file
            does not define then fails; without it, functions the file lacks are skipped.
        timeout: seconds each function may take for all its cases.
        seed: the seed of the randomized cases (the same seed gives the same cases).
        n_random: random cases per function, after the published and the trap cases.

    Returns:
        a :class:`Report`; ``report.passed`` and ``report.exit_code`` sum it up.

    Raises:
        CheckError: the file is missing or has a syntax error, a function name is
            unknown, the file defines none of the course's functions, or a ``.ipynb``
            file is not a notebook.
    """

    timeout = check_timeout(timeout)
    names, explicit = _names(functions)
    with tempfile.TemporaryDirectory(prefix="cnnlab-check-src-") as tmp:
        joined = None
        if isinstance(module_or_path, types.ModuleType):
            file = getattr(module_or_path, "__file__", None)
            if file and str(file).endswith((".py", ".ipynb")):
                path = Path(file)
            else:
                path = Path(tmp) / "notebook_functions.py"
                path.write_text(_module_source(module_or_path), encoding="utf-8")
            shown = getattr(module_or_path, "__name__", str(path))
        else:
            path = Path(module_or_path)
            shown = str(path)
        if path.suffix == ".ipynb":
            joined = notebook_source(path)
            if not explicit and not joined.defines:
                raise CheckError(
                    f"{path}: a notebook with no code cell defining the course's functions "
                    f"({', '.join(FUNCTIONS)}); define them in code cells, or call "
                    "check_module(__main__) in the notebook itself"
                )
        return _check(path, shown, names, explicit, tmp, timeout, seed, n_random, joined)


def check_files(
    paths, shown: str, functions=None, *, timeout: float = 10.0, seed: int = 0, n_random: int = 5
) -> Report:
    """Check several files (``.py`` and ``.ipynb``, one learner's) joined into one, in the
    order given (see :func:`.notebook.joined_source`); the report is named ``shown``."""

    timeout = check_timeout(timeout)
    names, explicit = _names(functions)
    with tempfile.TemporaryDirectory(prefix="cnnlab-check-src-") as tmp:
        joined = joined_source([Path(p) for p in paths])
        return _check(Path(shown), shown, names, explicit, tmp, timeout, seed, n_random, joined)


def _check(path, shown, names, explicit, tmp, timeout, seed, n_random, joined) -> Report:
    """Run the check of ``path`` (or of ``joined``, written to ``tmp``) and judge it."""
    if joined is not None:
        compile_joined(joined, shown)
        path = Path(tmp) / "cnnlab_learner_code.py"  # a name no import can mean
        path.write_text(joined.text, encoding="utf-8")
    check_syntax(path)
    cases = build_cases(seed, n_random, names)
    run = run_isolated(path, cases, timeout)
    refusals = [f"{refusal(n)} (line {line})" for n, line in refused_in_source(path)]

    statuses = {raw.status for raw in run.functions.values()}
    if not explicit and statuses == {"missing"}:
        raise CheckError(f"{shown} defines none of the course's functions ({', '.join(FUNCTIONS)})")
    results = [
        judge(name, cases[name], raw, counted=explicit or raw.status != "missing")
        for name, raw in run.functions.items()
    ]
    refuse_passes(results, refusals + [refusal(n) for n in run.refused])
    by_name = {f.name: f for f in results}
    for f in results:
        if f.status == "failed" and f.failure.kind not in ("import", "refused", "foreign"):
            weak = [
                c for c in CALLS.get(f.name, ()) if c in by_name and by_name[c].status != "passed"
            ]
            if weak:
                f.notes.append(
                    f"it may call {', '.join(weak)}, which did not pass: fix "
                    f"{'that' if len(weak) == 1 else 'those'} first"
                )
    if run.import_printed.get("total") and results:
        results[0].notes.append(
            f"the file printed {run.import_printed['total']} characters when imported"
        )
    if joined is not None:  # line numbers of the joined file -> cells (and files)
        for f in results:
            if f.failure is not None:
                f.failure.message = relocate(f.failure.message, joined)
            f.notes = [relocate(n, joined) for n in f.notes]
    return Report(
        shown,
        results,
        seed=seed,
        timeout=timeout,
        sandboxed=run.sandboxed,
        guarded=run.seccomp,
    )
