"""One progress-bar helper: when to show a bar, and rich bars in the project's few styles.

``progress=None`` everywhere means "when stdout is a terminal" (:func:`enabled`);
:func:`rich_bar` makes a :class:`rich.progress.Progress` with the columns of one style:

- ``"steps"``: description, bar, ``M/N``, a free ``stats`` text field, elapsed time (epochs);
- ``"bytes"``: description, bar, size done / total, transfer speed (downloads);
- ``"items"``: rich's default columns (description, bar, percent, time left).

rich is imported only when a bar is made, so a quiet run never imports it.

Example:
    >>> if enabled(None):                                     # doctest: +SKIP
    ...     with rich_bar("steps", transient=True) as bar:
    ...         task = bar.add_task("epoch 1/3", total=10, stats="")
    ...         bar.update(task, advance=1, stats="loss 0.5")
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

from cnnlab.errors import ArgumentError

if TYPE_CHECKING:
    from rich.progress import Progress

STYLES = ("steps", "bytes", "items")


def enabled(progress: bool | None) -> bool:
    """Whether to show a bar: ``progress`` itself, or (``None``) whether stdout is a terminal."""
    return sys.stdout.isatty() if progress is None else bool(progress)


def rich_bar(style: Literal["steps", "bytes", "items"] = "items", *, transient=False) -> Progress:
    """A new, not yet started rich ``Progress`` with the columns of ``style`` (see above).

    Use it as a context manager (``with rich_bar(...) as bar``) or call ``start``/``stop``.
    """
    from rich import progress as rp

    if style == "steps":
        columns = (
            rp.TextColumn("{task.description}"),
            rp.BarColumn(),
            rp.MofNCompleteColumn(),
            rp.TextColumn("{task.fields[stats]}"),
            rp.TimeElapsedColumn(),
        )
    elif style == "bytes":
        columns = (
            rp.TextColumn("{task.description}"),
            rp.BarColumn(),
            rp.DownloadColumn(),
            rp.TransferSpeedColumn(),
        )
    elif style == "items":
        columns = ()  # rich's defaults
    else:
        raise ArgumentError(f"style must be one of {', '.join(STYLES)}. Received: style={style!r}")
    return rp.Progress(*columns, transient=transient)
