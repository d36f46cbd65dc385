"""``cnnlab exercise | check``: thin commands over :mod:`cnnlab.check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.check import check_module
from cnnlab.check.exercise import write_exercise
from cnnlab.check.report import format_text, rich_report


def exercise(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder to write conv_exercise.py and README.md into.", metavar="DIR"),
    ] = Path("conv-exercise"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write the course's exercise: a starter file to fill in, and how to check it."""

    written = write_exercise(directory, force=force)
    print(f"wrote {', '.join(str(p) for p in written)}")
    print(f"next: fill in {written[0]}, then run: cnnlab check {written[0]}")


def check(
    file: Annotated[
        Path, typer.Argument(help="Your Python file with the course's functions.", metavar="FILE")
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
) -> None:
    """Check your own implementation of the course's functions, and see what is wrong.

    Runs your file's code in a separate process. Exit code 0 when every checked
    function passes, 1 when any fails, 2 for a usage error.
    """

    report = check_module(file, functions=function, timeout=timeout, seed=seed)
    if json:
        print(report.to_json())
    elif sys.stdout.isatty():
        rich_report(report)
    else:
        print(format_text(report), end="")
    raise typer.Exit(report.exit_code)
