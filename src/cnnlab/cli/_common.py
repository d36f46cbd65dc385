"""Helpers shared by the CLI modules: one-line errors, exit code 2."""

from __future__ import annotations

import sys

import typer

from cnnlab.errors import CnnlabError


def run_cli(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run ``app``; turn user errors into one line on stderr and exit code 2."""
    try:
        app(args=args, standalone_mode=False)
    except (CnnlabError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


def fail(message: str) -> None:
    """Print ``error: message`` and exit with code 2 (for checks made in the CLI itself)."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code=2)
