"""Helpers shared by the CLI modules: one-line errors, exit code 2."""

from __future__ import annotations

import sys

import typer

from cnnlab.errors import ArgumentError, CnnlabError


def run_cli(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run ``app``; turn user errors into one line on stderr and exit code 2."""
    try:
        app(args=args, standalone_mode=False)
    except CnnlabError as exc:
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


def parse_image_size(text: str | None, allow_native: bool = False) -> tuple[int, int] | None:
    """``--image-size``: ``"64"`` -> (64, 64), ``"64x48"`` or ``"64,48"`` -> (64, 48);
    ``None`` (option not given), or ``"native"`` where ``allow_native``, -> None."""
    if text is None:
        return None
    t = text.strip().lower()
    if allow_native and t in ("native", "none", "orig", "original"):
        return None
    try:
        values = tuple(int(p) for p in t.replace(",", "x").split("x"))
    except ValueError:
        values = ()
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) < 1:
        native = ", or native" if allow_native else ""
        raise ArgumentError(
            f"image size must be N or HxW, e.g. 64 or 64x48{native}. Received: --image-size {text}"
        )
    return values  # type: ignore[return-value]
