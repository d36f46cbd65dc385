"""Grade a class: check many submissions, give points, and write a CSV and JUnit XML.

A submission is a file (``.py`` or ``.ipynb``) or a folder. A folder is one learner's
submission: of the ``.py`` and ``.ipynb`` files directly inside it (not in subfolders, not
hidden, not ``.ipynb_checkpoints``), those that define at least one of the course's
functions are checked; one such file is checked as it is, several are joined into one, in
name order, and a function defined in more than one of them is an ``error`` for that
submission (the row names the files). Each submission is checked by
:func:`cnnlab.check.check_module` in its own child process, ``jobs`` at a time.

Every function of every submission gets a result:

==========  =================================================================
result      meaning
==========  =================================================================
pass        every case gave the expected values: the function's full points
fail        a case gave other values, raised, or changed its inputs
missing     not defined, or still the starter's ``NotImplementedError``
timeout     it (or importing the file) ran past the time limit
error       the submission could not be run: a syntax error, an import that
            failed, the process crashed, the file is not a notebook
==========  =================================================================

Points are all or nothing per function: ``points[name]`` for a pass, 0 otherwise.

Example::

    from cnnlab.check.grade import grade, write_csv, write_junit
    rows = grade(["submissions/"], points={"conv_forward": 20, "pool_forward": 10})
    write_csv(rows, "grades.csv")
    write_junit(rows, "grades.xml")
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from cnnlab.check import check_files, check_module
from cnnlab.check.cases import FUNCTIONS
from cnnlab.check.notebook import joined_source, read_cells
from cnnlab.check.report import (
    FAILED,
    NOT_IMPLEMENTED,
    NOT_IN_FILE,
    PASSED,
    TIMED_OUT,
    FunctionResult,
    Report,
)
from cnnlab.check.runner import CheckError

RESULTS = ("pass", "fail", "missing", "timeout", "error")
SUFFIXES = (".py", ".ipynb")


@dataclass
class FunctionGrade:
    """One function of one submission: its result, why, and its points."""

    name: str
    result: str
    diagnosis: str = ""
    points: float = 0.0
    max_points: float = 1.0


@dataclass
class GradeRow:
    """One submission's grades; ``error`` is set when it could not be run at all."""

    submission: str
    path: str
    functions: list[FunctionGrade] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    report: Report | None = None
    internal_error: bool = False

    @property
    def total(self) -> float:
        return sum(f.points for f in self.functions)

    @property
    def max_total(self) -> float:
        return sum(f.max_points for f in self.functions)

    def __getitem__(self, name: str) -> FunctionGrade:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass
class Submission:
    name: str
    path: Path
    files: list[Path]


def parse_points(text: str | None) -> dict[str, float]:
    """``"conv_forward=20,pool_forward=10"`` -> ``{"conv_forward": 20.0, ...}``.

    A :class:`CheckError` (one line) for an unknown function name or a bad number.
    """
    points: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        name = name.strip()
        if name not in FUNCTIONS:
            raise CheckError(
                f"--points: unknown function {name!r}; the course's functions are "
                f"{', '.join(FUNCTIONS)}"
            )
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not sep or not number >= 0 or number == float("inf"):
            raise CheckError(
                f"--points: {item.strip()!r} is not NAME=POINTS with a number of points "
                "(0 or more), as in conv_forward=20"
            )
        points[name] = number
    if text is not None and not points:
        raise CheckError(f"--points: no NAME=POINTS in {text!r}; for example conv_forward=20")
    return points


def _defines_course_function(path: Path) -> bool:
    names = "|".join(FUNCTIONS)
    pattern = re.compile(rf"^\s*def\s+({names})\s*\(", re.M)
    try:
        if path.suffix == ".ipynb":
            return any(pattern.search(text) for _, text in read_cells(path))
        return bool(pattern.search(path.read_text(encoding="utf-8", errors="replace")))
    except (CheckError, OSError):
        return True  # let the check say what is wrong with it


def find_submissions(paths: Iterable) -> list[Submission]:
    """Each path as a submission (see the module for a folder's rule).

    A :class:`CheckError` for a path that does not exist, or a file that is neither
    ``.py`` nor ``.ipynb``.
    """
    out: list[Submission] = []
    for p in map(Path, paths):
        if p.is_dir():
            inside = sorted(
                f
                for f in p.iterdir()
                if f.suffix in SUFFIXES and f.is_file() and not f.name.startswith((".", "_"))
            )
            files = [f for f in inside if _defines_course_function(f)]
            out.append(Submission(p.name or str(p), p, files))
        elif p.exists():
            if p.suffix not in SUFFIXES:
                raise CheckError(f"{p}: not a .py file, a .ipynb notebook or a folder")
            out.append(Submission(p.stem, p, [p]))
        else:
            raise CheckError(f"{p}: no such file or folder")
    seen: dict[str, int] = {}
    for s in out:  # two submissions a.py and a.ipynb keep distinct names
        seen[s.name] = seen.get(s.name, 0) + 1
    for s in out:
        if seen[s.name] > 1:
            s.name = str(s.path)
    return out


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _function_grade(f: FunctionResult, points: float) -> FunctionGrade:
    fail = f.failure
    if f.status == PASSED:
        return FunctionGrade(f.name, "pass", "", points, points)
    if f.status == NOT_IN_FILE:
        return FunctionGrade(f.name, "missing", "not defined", 0.0, points)
    if f.status == NOT_IMPLEMENTED:
        return FunctionGrade(f.name, "missing", "not implemented", 0.0, points)
    if f.status == TIMED_OUT:
        why = fail.message if fail else "ran past the time limit"
        return FunctionGrade(f.name, "timeout", _short(why), 0.0, points)
    if fail is not None and fail.kind in ("import", "crash"):
        return FunctionGrade(f.name, "error", _short(fail.message), 0.0, points)
    if f.diagnosis is not None:
        dg = f.diagnosis
        why = f"{'' if dg.certain else 'probably: '}{dg.title} ({dg.detail})"
    elif fail is not None:
        where = f"case {fail.number} ({fail.case}): " if fail.case else ""
        d = fail.difference
        if d is not None and d.index is not None:
            why = f"{where}{d.output}: {d.n_differ} of {d.n_total} values differ"
        else:
            why = f"{where}{fail.message}"
    else:
        why = FAILED
    return FunctionGrade(f.name, "fail", _short(why), 0.0, points)


def _duplicated(files: list[str]) -> str:
    if len(files) == 2:
        return f"defined in {files[0]} and {files[1]}: keep one"
    return (
        f"defined in {len(files)} files ({files[0]}, {files[1]}, ...): a folder is one "
        "learner's submission; to grade each file, name them all (FOLDER/*)"
    )


def grade_one(
    sub: Submission,
    names: list[str],
    points: dict[str, float],
    *,
    timeout: float = 10.0,
    seed: int = 0,
    n_random: int = 5,
) -> GradeRow:
    """One submission's row; never raises for what the submission holds."""
    row = GradeRow(sub.name, str(sub.path))
    t0 = time.perf_counter()
    duplicated: dict[str, list[str]] = {}
    try:
        if not sub.files:
            raise CheckError("no .py or .ipynb file in it defines any of the course's functions")
        if len(sub.files) == 1:
            report = check_module(
                sub.files[0], functions=names, timeout=timeout, seed=seed, n_random=n_random
            )
        else:
            joined = joined_source(sub.files)
            duplicated = {n: fs for n, fs in joined.defines.items() if len(fs) > 1}
            report = check_files(
                sub.files, str(sub.path), functions=names, timeout=timeout, seed=seed,
                n_random=n_random,
            )  # fmt: skip
    except CheckError as exc:
        row.error = _short(str(exc), 300)
    except Exception as exc:  # a bug in cnnlab: this row says so, the others still run
        row.error = f"internal error in cnnlab: {type(exc).__name__}: {_short(str(exc))}"
        row.internal_error = True
        traceback.print_exc()
    row.seconds = time.perf_counter() - t0
    if row.error:
        result = "missing" if "defines none" in row.error or "no .py" in row.error else "error"
        row.functions = [FunctionGrade(n, result, row.error, 0.0, points[n]) for n in names]
        return row
    row.report = report
    for f in report.functions:
        g = _function_grade(f, points[f.name])
        if f.name in duplicated:
            g = FunctionGrade(f.name, "error", _duplicated(duplicated[f.name]), 0.0, points[f.name])
        row.functions.append(g)
    return row


def grade(
    paths: Iterable,
    points: dict[str, float] | None = None,
    *,
    functions: list[str] | None = None,
    jobs: int = 2,
    timeout: float = 10.0,
    seed: int = 0,
    n_random: int = 5,
    progress: Callable[[int, int, GradeRow], None] | None = None,
) -> list[GradeRow]:
    """Check every submission in ``paths`` and give points; one row each, in order.

    Args:
        paths: files (``.py``, ``.ipynb``) and folders (one submission each).
        points: points per function name; the functions graded are ``functions`` if
            given, else those named here, else all eight. A graded function not named
            here gets 1 point.
        functions: the functions to grade (default: see ``points``).
        jobs: submissions checked at the same time (each in its own process).
        timeout: seconds each function may take for all its cases.
        seed, n_random: the randomized cases (the same for every submission).
        progress: called as ``progress(done, total, row)`` after each submission.

    Raises:
        CheckError: a path that does not exist, a file that is not ``.py`` or
            ``.ipynb``, an unknown function name, or points for a function not graded.
    """
    points = dict(points or {})
    for name in [*points, *(functions or [])]:
        if name not in FUNCTIONS:
            raise CheckError(
                f"unknown function {name!r}; the course's functions are {', '.join(FUNCTIONS)}"
            )
    if not timeout > 0:
        raise CheckError(f"timeout must be positive. Received: timeout={timeout!r}")
    wanted = set(functions or points or FUNCTIONS)
    names = [n for n in FUNCTIONS if n in wanted]
    left_out = [n for n in points if n not in wanted]
    if left_out:
        raise CheckError(f"--points names {left_out[0]}, which --function leaves out")
    points = {n: points.get(n, 1.0) for n in names}
    subs = find_submissions(paths)
    if not subs:
        raise CheckError("no submissions to grade")

    rows: list[GradeRow | None] = [None] * len(subs)
    done = 0

    def one(k: int) -> int:
        rows[k] = grade_one(subs[k], names, points, timeout=timeout, seed=seed, n_random=n_random)
        return k

    pool = ThreadPoolExecutor(max_workers=max(1, int(jobs)))
    try:
        for fut in as_completed([pool.submit(one, k) for k in range(len(subs))]):
            k = fut.result()
            done += 1
            if progress is not None:
                progress(done, len(subs), rows[k])
    except BaseException:  # Ctrl-C: the submissions not started never start
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return [r for r in rows if r is not None]


def _points_text(value: float) -> str:
    return f"{value:g}"


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (the diagnosis can quote the
    learner's own exception message): a leading = + - @ gets a quote."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_text(rows: list[GradeRow]) -> str:
    """The CSV: ``submission``, then ``NAME``, ``NAME diagnosis``, ``NAME points`` for each
    function, then ``total`` and ``max``. Text that would start a spreadsheet formula gets
    a leading ``'``."""
    names = [f.name for f in rows[0].functions] if rows else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    header = ["submission"]
    for n in names:
        header += [n, f"{n} diagnosis", f"{n} points"]
    writer.writerow([*header, "total", "max"])
    for row in rows:
        cells: list[str] = [_cell(row.submission)]
        for f in row.functions:
            cells += [f.result, _cell(f.diagnosis), _points_text(f.points)]
        writer.writerow([*cells, _points_text(row.total), _points_text(row.max_total)])
    return buf.getvalue()


def junit_text(rows: list[GradeRow]) -> str:
    """JUnit XML: one ``testsuite`` per submission, one ``testcase`` per function.

    A ``fail`` or ``missing`` function is a ``<failure>``, a ``timeout`` or ``error`` an
    ``<error>`` (``type`` is the result, ``message`` the diagnosis); each testcase carries
    its ``points`` and ``max_points`` as properties."""
    suites = ET.Element("testsuites", name="cnnlab check")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for row in rows:
        failures = sum(f.result in ("fail", "missing") for f in row.functions)
        errors = sum(f.result in ("timeout", "error") for f in row.functions)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=row.submission,
            tests=str(len(row.functions)),
            failures=str(failures),
            errors=str(errors),
            skipped="0",
            time=f"{row.seconds:.3f}",
        )
        ET.SubElement(ET.SubElement(suite, "properties"), "property", name="path", value=row.path)
        for f in row.functions:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=row.submission,
                name=f.name,
                time=f"{row.seconds / max(1, len(row.functions)):.3f}",
            )
            if f.result in ("fail", "missing"):
                el = ET.SubElement(case, "failure", message=f.diagnosis or f.result, type=f.result)
                el.text = f"{f.result}: {f.diagnosis}" if f.diagnosis else f.result
            elif f.result in ("timeout", "error"):
                el = ET.SubElement(case, "error", message=f.diagnosis or f.result, type=f.result)
                el.text = f"{f.result}: {f.diagnosis}" if f.diagnosis else f.result
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="points", value=_points_text(f.points))
            ET.SubElement(props, "property", name="max_points", value=_points_text(f.max_points))
        totals["tests"] += len(row.functions)
        totals["failures"] += failures
        totals["errors"] += errors
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def write_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, renamed into
    place: the file is either the old one or the whole new one, never half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_csv(rows: list[GradeRow], path) -> Path:
    """Write :func:`csv_text` to ``path`` (atomically)."""
    return write_atomic(path, csv_text(rows))


def write_junit(rows: list[GradeRow], path) -> Path:
    """Write :func:`junit_text` to ``path`` (atomically)."""
    return write_atomic(path, junit_text(rows))


def summary_text(rows: list[GradeRow]) -> str:
    """A plain table: one line per submission, its points and the functions that did not
    pass, then a line of counts."""
    if not rows:
        return ""
    width = max(10, *(len(r.submission) for r in rows))
    lines = [f"{'submission':<{width}}  {'points':>9}  results"]
    for r in rows:
        score = f"{_points_text(r.total)}/{_points_text(r.max_total)}"
        bad = [f for f in r.functions if f.result != "pass"]
        if r.error:
            text = f"{bad[0].result}: {r.error}" if bad else r.error
        elif not bad:
            text = "all pass"
        else:
            text = ", ".join(f"{f.name} {f.result}" for f in bad)
        lines.append(f"{r.submission:<{width}}  {score:>9}  {text}")
    counts = {k: sum(f.result == k for r in rows for f in r.functions) for k in RESULTS}
    lines.append("")
    lines.append(
        f"{len(rows)} submission{'s' * (len(rows) != 1)} graded; "
        + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    )
    return "\n".join(lines) + "\n"
