"""``cnnlab interpret RUN``: the classification report, the most-confused pairs, the top
losses and Grad-CAM of a run, written to ``RUN/interpret/`` (a thin command over
:mod:`cnnlab.interpret`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

Split = Literal["test", "val", "train"]


def interpret(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    split: Annotated[Split, typer.Option(help="The split to examine.")] = "test",
    top: Annotated[int, typer.Option(help="How many of the worst images to draw.", min=1)] = 16,
    cam: Annotated[
        bool, typer.Option("--cam/--no-cam", help="Draw Grad-CAM heat maps over the images.")
    ] = True,
    layer: Annotated[
        str | None, typer.Option(help="The Conv2D layer of the Grad-CAM (default: the last).")
    ] = None,
) -> None:
    """Why did the model decide? Per-class report, confusions, top losses and Grad-CAM."""
    from cnnlab.interpret import report_text, write_interpretation

    interp, written = write_interpretation(run, split, top=top, cam=cam, layer=layer)
    print(report_text(interp), end="")
    print(f"wrote {', '.join(written)} in {Path(run) / 'interpret'}")
