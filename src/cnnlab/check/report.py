"""What ``cnnlab check`` found: per function, passed or failed, where, and why.

:class:`Report` is what :func:`cnnlab.check.check_module` returns. ``str(report)`` is the
plain-text report (also what a notebook shows), :meth:`Report.to_dict` the ``--json``
output, and :func:`rich_report` the table printed on a terminal.

Statuses, and whether they let the check pass (exit code 0):

=================  =====================================================  ==========
status             meaning                                                passes
=================  =====================================================  ==========
passed             every case gave the expected values                    yes
failed             a case gave other values, raised, changed its inputs
                   or returned a cache the course's backward cannot use   no
timed out          the function ran past the time limit                   no
not implemented    every case raised NotImplementedError (the starter)   no
not in file        the file does not define it                            skipped*
=================  =====================================================  ==========

\\* a function named with ``--function`` (``functions=``) that the file does not define
fails the check.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PASSED = "passed"
FAILED = "failed"
TIMED_OUT = "timed out"
NOT_IMPLEMENTED = "not implemented"
NOT_IN_FILE = "not in file"


@dataclass
class Difference:
    """Where one output differs from the expected one, and by how much."""

    output: str
    message: str
    index: list[int] | None = None
    got: Any = None
    expected: Any = None
    max_abs_diff: float | None = None
    n_differ: int | None = None
    n_total: int | None = None


@dataclass
class Failure:
    """The first case that failed: which, with what parameters, and what went wrong.

    ``kind`` is one of "value", "shape", "type", "error", "modified", "cache",
    "timeout", "crash", "import", "refused" (the file imports cnnlab, TensorFlow, Keras,
    PyTorch or JAX) or "foreign" (the function is not written in the learner's file).
    """

    kind: str
    message: str
    case: str | None = None
    number: int | None = None
    params: dict = field(default_factory=dict)
    difference: Difference | None = None


@dataclass
class Diagnosis:
    """A known mistake that reproduces the learner's outputs (see :mod:`.diagnoses`).

    ``certain`` is True when the broken variant reproduces every case, False when it
    reproduces only the first failing one ("probably").
    """

    id: str
    title: str
    detail: str
    explanation: str
    certain: bool = True


@dataclass
class FunctionResult:
    name: str
    status: str
    cases_passed: int = 0
    cases_run: int = 0
    cases_total: int = 0
    failure: Failure | None = None
    diagnosis: Diagnosis | None = None
    notes: list[str] = field(default_factory=list)
    printed: str = ""
    printed_chars: int = 0
    seconds: float = 0.0
    counted: bool = True

    @property
    def ok(self) -> bool:
        return self.status == PASSED or not self.counted


@dataclass
class Report:
    """The result of checking one file (see the module's table of statuses)."""

    file: str
    functions: list[FunctionResult]
    seed: int = 0
    timeout: float = 10.0
    sandboxed: bool = True  # False: the learner's code ran with the user's rights
    guarded: bool = True  # False: no seccomp filter; the code could signal and fork

    @property
    def warning(self) -> str | None:
        """The report's first line where the code ran outside a sandbox."""
        if self.sandboxed:
            return None
        could = "read and change your files" + (
            "" if self.guarded else " and signal your processes"
        )
        return (
            "warning: no sandbox here (bubblewrap, bwrap, is not installed or not allowed): "
            f"the checked code ran with your rights and could {could}"
        )

    @property
    def passed(self) -> bool:
        """True when every checked function passed."""
        counted = [f for f in self.functions if f.counted]
        return bool(counted) and all(f.status == PASSED for f in counted)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def __getitem__(self, name: str) -> FunctionResult:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.functions:
            out[f.status] = out.get(f.status, 0) + 1
        return out

    def summary(self) -> str:
        order = (PASSED, FAILED, TIMED_OUT, NOT_IMPLEMENTED, NOT_IN_FILE)
        counts = self.counts()
        return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "passed": self.passed,
            "exit_code": self.exit_code,
            "seed": self.seed,
            "timeout": self.timeout,
            "sandboxed": self.sandboxed,
            "guarded": self.guarded,
            "summary": self.counts(),
            "functions": [_jsonable(asdict(f)) for f in self.functions],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def __str__(self) -> str:
        return format_text(self)

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython / Jupyter
        printer.text(format_text(self))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "item") and getattr(obj, "size", 2) == 1:
        return obj.item()
    return str(obj)


def params_text(params: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in params.items())


def short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, bool) or value is None:
        return str(value)
    try:
        return f"{float(value):.6g}"
    except (TypeError, ValueError):
        return str(value)


def detail_lines(f: FunctionResult) -> list[str]:
    """The lines under a function's status: the failing case, the difference, the why."""
    lines: list[str] = []
    fail = f.failure
    if fail is not None:
        if fail.case is not None:
            lines.append(
                f"case {fail.number} of {f.cases_total} ({fail.case}): {params_text(fail.params)}"
            )
        d = fail.difference
        if d is None or d.index is None:
            lines.append(fail.message)
        else:
            lines.append(
                f"{d.output}[{', '.join(map(str, d.index))}]: got {short(d.got)}, expected "
                f"{short(d.expected)}; {d.n_differ} of {d.n_total} values differ, "
                f"by up to {short(d.max_abs_diff)}"
            )
    if f.diagnosis is not None:
        dg = f.diagnosis
        lead = "diagnosis" if dg.certain else "probably"
        lines.append(f"{lead}: {dg.title} ({dg.detail})")
        lines.append(f"  {dg.explanation}")
    lines.extend(f"note: {n}" for n in f.notes)
    if f.printed_chars:
        first = f.printed.strip().splitlines()[:3]
        lines.append(f"it printed {f.printed_chars} characters; first lines: " + " | ".join(first))
    return lines


def _cases(f: FunctionResult) -> str:
    if f.status in (PASSED, FAILED) and f.cases_total:
        return f"{f.cases_passed}/{f.cases_total}"
    return ""


def format_text(report: Report) -> str:
    """The plain-text report: one line per function, details indented under it."""
    out = [report.warning] if report.warning else []
    out += [
        f"cnnlab check {report.file} (seed {report.seed}, {report.timeout:g} s per function)",
        "",
    ]
    for f in report.functions:
        status = f.status.upper() if f.status in (FAILED, TIMED_OUT) else f.status
        cases = _cases(f)
        head = f"{f.name:<25} {status:<16} {cases + ' cases' if cases else ''}".rstrip()
        out.append(head)
        out.extend(f"    {line}" for line in detail_lines(f))
    out += ["", f"{report.summary()}: exit code {report.exit_code}"]
    return "\n".join(out) + "\n"


def rich_report(report: Report, console=None) -> None:
    """Print the report as a rich table (for a terminal)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    if report.warning:
        console.print(Text(report.warning, style="yellow"))
    table = Table(
        title=f"cnnlab check {report.file}",
        caption=f"seed {report.seed}, {report.timeout:g} s per function",
        show_lines=True,
    )
    table.add_column("function", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("cases", justify="right")
    table.add_column("what went wrong, and why", overflow="fold")
    styles = {PASSED: "green", FAILED: "bold red", TIMED_OUT: "bold red"}
    for f in report.functions:
        table.add_row(
            f.name,
            Text(f.status, style=styles.get(f.status, "yellow")),
            _cases(f),
            Text("\n".join(detail_lines(f))),
        )
    console.print(table)
    style = "green" if report.passed else "red"
    console.print(Text(f"{report.summary()}: exit code {report.exit_code}", style=style))
