"""Placeholder until its issue lands."""

import typer

app = typer.Typer(help="List, fetch, inspect and export datasets.", no_args_is_help=True)
