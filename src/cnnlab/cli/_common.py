"""Helpers shared by the CLI modules: how each kind of error reaches the user.

=============================  ==================================================  =====
what went wrong                what the user sees                                  exit
=============================  ==================================================  =====
a usage error (Typer's)        Typer's usage message and its one-line error        2
a :class:`CnnlabError`         ``error: <message>`` (names the file or option)     2
an ``OSError`` on a path       ``error: <path>: <reason>``                         2
``MemoryError``                ``error: out of memory: <size> (in <function>)``    2
Ctrl-C                         ``interrupted ...`` (what was kept, how to resume)  130
anything else (a bug)          the traceback, then one line saying it is a bug     3
=============================  ==================================================  =====

A bug exits 3, never 1: for ``cnnlab check`` exit code 1 means "a function failed".

``--debug`` (or ``CNNLAB_DEBUG=1``) shows the traceback of every error.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import typer

from cnnlab import _validate
from cnnlab.errors import ArgumentError, CnnlabError, EngineNote

INTERNAL_ERROR = 3  # the exit code of a bug (1 is cnnlab check's "a function failed")


class _State:
    debug = bool(os.environ.get("CNNLAB_DEBUG"))
    interrupt_reported = False


state = _State()


def _format_warning(message, category, filename, lineno, line=None) -> str:
    if issubclass(category, EngineNote):
        return f"note: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def run_cli(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run ``app`` and return the process's exit code (see the module's table). A cnnlab
    note (:class:`~cnnlab.errors.EngineNote`) is printed as one line, ``note: ...``."""
    warnings.formatwarning = _format_warning
    try:
        code = app(args=args, standalone_mode=False)
    except typer.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # before Typer's handling (which returns 130 itself)
        code = 130
    except CnnlabError as exc:
        return _user_error(str(exc))
    except MemoryError as exc:
        return _user_error(_memory_message(exc))
    except OSError as exc:
        return _user_error(_os_message(exc))
    except Exception as exc:
        show = getattr(exc, "show", None)  # Typer's usage errors print their own message
        if show is not None and isinstance(getattr(exc, "exit_code", None), int):
            show()
            return exc.exit_code
        traceback.print_exc()
        print(
            f"internal error: {type(exc).__name__} (a bug in cnnlab; the traceback above "
            "shows where; please report it)",
            file=sys.stderr,
        )
        return INTERNAL_ERROR
    code = code if isinstance(code, int) else 0
    if code == 130 and not state.interrupt_reported:
        print("interrupted", file=sys.stderr)
    return code


def _user_error(message: str) -> int:
    if state.debug:
        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    return 2


def _os_message(exc: OSError) -> str:
    """``path: reason`` (both paths for a failed rename), or the reason alone."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return reason
    return f"{' -> '.join(os.fsdecode(p) for p in paths)}: {reason}"


def _memory_message(exc: MemoryError) -> str:
    """NumPy says what it tried to allocate; the traceback says which cnnlab function asked."""
    what = str(exc) or "the allocation failed"
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if f"{os.sep}cnnlab{os.sep}" in frame.filename and f"{os.sep}cli{os.sep}" not in (
            frame.filename
        ):
            where = frame
    if where is not None:
        module = where.filename.rsplit(f"{os.sep}cnnlab{os.sep}", 1)[1].removesuffix(".py")
        what += f" (in cnnlab.{module.replace(os.sep, '.')}.{where.name})"
    return f"out of memory: {what}"


def report_interrupt(message: str) -> None:
    """Say what an interrupted command kept; ``run_cli`` then adds nothing and exits 130."""
    print(message, file=sys.stderr, flush=True)
    state.interrupt_reported = True


def fail(message: str) -> None:
    """Print ``error: message`` and exit with code 2 (for checks made in the CLI itself)."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code=2)


def parse_image_size(text: str | None, allow_native: bool = False) -> tuple[int, int] | None:
    """``--image-size``: ``"64"`` -> (64, 64), ``"64x48"`` or ``"64,48"`` -> (64, 48);
    ``None`` (option not given), or ``"native"`` where ``allow_native``, -> None.

    The rule is :func:`cnnlab._validate.image_size` (the one :mod:`cnnlab.data` uses), so
    the command line and the library accept the same spellings and the same 1024 limit.
    """
    return _validate.image_size(text, "--image-size", allow_none=True, allow_native=allow_native)


_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_bytes(text: str | None, option: str) -> int | None:
    """``"2G"`` -> 2147483648, ``"500M"``, ``"64K"``, ``"1000"`` (bytes); None stays None."""
    if text is None:
        return None
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, flags=re.IGNORECASE)
    value = float(match.group(1)) * _UNITS[match.group(2).upper()] if match else 0
    if not match or value < 1:
        raise ArgumentError(
            f"{option} must be a size such as 2G, 500M or 1000000 (bytes). Received: {text!r}"
        )
    return int(value)
