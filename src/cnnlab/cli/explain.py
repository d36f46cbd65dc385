"""Placeholder until its issue lands."""

import typer

app = typer.Typer(help="Explain shapes, parameters and operations.", no_args_is_help=True)
