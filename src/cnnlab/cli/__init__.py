"""The ``cnnlab`` command line: a thin Typer app over the library.

Each command group lives in its own module and only parses, calls the library
and prints. Errors about the user's input (:class:`cnnlab.errors.CnnlabError`)
become one line on stderr and exit code 2; :mod:`cnnlab.cli._common` has the
whole table (usage errors, OSError, MemoryError, Ctrl-C, bugs).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import typer  # noqa: E402

from cnnlab.cli import bench, check, data, explain, interpret, pretrained, runs, studio, train
from cnnlab.cli._common import run_cli, state  # noqa: E402

app = typer.Typer(
    name="cnnlab",
    help="Foundations of convolutional neural networks: ops, models, data and pictures.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        import cnnlab

        print(f"cnnlab {cnnlab.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback of any error (also: CNNLAB_DEBUG=1)."
    ),
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version,
        is_eager=True,
        help="Print cnnlab's version and exit.",
    ),
) -> None:
    """Foundations of convolutional neural networks: ops, models, data and pictures."""
    if debug:
        state.debug = True


def _register() -> None:

    # In --help's order: a run's life first, then the pictures, the data, the grader.
    app.command("train")(train.train)
    app.command("evaluate")(train.evaluate)
    app.command("predict")(train.predict)
    app.command("show")(train.show)
    app.command("interpret")(interpret.interpret)
    app.command("compare")(runs.compare)
    app.command("export")(runs.export)
    app.command("studio")(studio.studio)
    app.add_typer(explain.app, name="explain")
    app.add_typer(data.app, name="data")
    app.command("pretrained")(pretrained.pretrained)
    app.command("bench")(bench.bench)
    app.command("exercise")(check.exercise)
    app.command("check")(check.check)


_register()


def main() -> None:
    """Entry point of the ``cnnlab`` script."""
    sys.exit(run_cli(app))
