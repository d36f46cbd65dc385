"""``cnnlab exercise | check``: thin commands over :mod:`cnnlab.check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli._common import fail, report_interrupt


def exercise(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder to write conv_exercise.py and README.md into.", metavar="DIR"),
    ] = Path("conv-exercise"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write the course's exercise: a starter file to fill in, and how to check it."""
    from cnnlab.check.exercise import write_exercise

    written = write_exercise(directory, force=force)
    print(f"wrote {', '.join(str(p) for p in written)}")
    print(f"next: fill in {written[0]}, then run: cnnlab check {written[0]}")


def check(
    submissions: Annotated[
        list[Path],
        typer.Argument(
            help="Your Python file or notebook (.py, .ipynb) with the course's functions; "
            "or, to grade a class, several submissions: files, or folders (one learner each).",
            metavar="FILE",
            show_default=False,
        ),
    ],
    function: Annotated[
        list[str] | None,
        typer.Option(
            "--function",
            "-f",
            help="Check only this function (repeat for several).",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
    json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    timeout: Annotated[
        float, typer.Option(help="Seconds each function may take for all its cases.", min=0.1)
    ] = 10.0,
    seed: Annotated[int, typer.Option(help="Seed of the randomized cases.")] = 0,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Grade the submissions: write one row each (result, diagnosis and points "
            "per function, total) to this CSV file.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Grade the submissions: write JUnit XML (a testsuite per submission, a "
            "testcase per function) to this file.",
            metavar="FILE",
            show_default=False,
        ),
    ] = None,
    points: Annotated[
        str | None,
        typer.Option(
            "--points",
            help="Points per function when grading, as conv_forward=20,pool_forward=10 "
            "(only the functions named are graded; default: 1 point each, all eight).",
            metavar="NAME=N,...",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option(help="Submissions checked at the same time when grading.", min=1)
    ] = 2,
) -> None:
    """Check your implementation of the course's functions and see what is wrong, or grade a class.

    Runs your file's code in a separate process. A notebook's code cells that define
    things (functions, imports, constants) are checked; cells that only run or plot are
    left out.

    Several submissions (or a folder, or --csv, --junit, --points) grade a class: each
    submission is checked in its own process, a row each in the CSV, a summary table on
    the terminal.

    Exit codes: 0 every checked function passed (when grading: the grading ran, whatever
    the grades); 1 a function failed; 2 a usage error (a missing file, a syntax error in
    a single file, a bad option); 3 an internal error (a bug in cnnlab).
    """
    from cnnlab.check import check_module
    from cnnlab.check.grade import (
        GradeRow,
        grade,
        parse_points,
        summary_text,
        write_csv,
        write_junit,
    )
    from cnnlab.check.report import format_text, rich_report

    if not (csv or junit or points is not None or len(submissions) > 1 or submissions[0].is_dir()):
        report = check_module(submissions[0], functions=function, timeout=timeout, seed=seed)
        if json:
            print(report.to_json())
        elif sys.stdout.isatty():
            rich_report(report)
        else:
            print(format_text(report), end="")
        raise typer.Exit(report.exit_code)

    if json:
        fail("--json prints one file's report; to grade several submissions use --csv or --junit")
    for option, path in (("--csv", csv), ("--junit", junit)):
        if path is not None and not (path.parent if str(path.parent) else Path(".")).is_dir():
            fail(f"{option} {path}: the folder {path.parent} does not exist")
    show = sys.stderr.isatty()

    def progress(done: int, total: int, row: GradeRow) -> None:
        if show:
            score = f"{row.total:g}/{row.max_total:g} points"
            print(
                f"[{done}/{total}] {row.submission}: {score} ({row.seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    try:
        rows = grade(
            submissions,
            parse_points(points),
            functions=function,
            jobs=jobs,
            timeout=timeout,
            seed=seed,
            progress=progress,
        )
    except KeyboardInterrupt:
        outputs = " and ".join(str(p) for p in (csv, junit) if p is not None)
        kept = f"; {outputs} not written" if outputs else ""
        report_interrupt(f"interrupted: grading stopped{kept}")
        raise typer.Exit(130) from None
    print(summary_text(rows), end="")
    written = []
    if csv is not None:
        written.append(write_csv(rows, csv))
    if junit is not None:
        written.append(write_junit(rows, junit))
    if written:
        print(f"wrote {', '.join(map(str, written))}")
    raise typer.Exit(3 if any(r.internal_error for r in rows) else 0)
