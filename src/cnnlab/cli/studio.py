"""``cnnlab studio``: a thin command over :func:`cnnlab.studio.serve`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cnnlab.cli._common import fail


def studio(
    runs: Annotated[
        Path, typer.Option(help="The runs folder (cnnlab train writes runs/...).")
    ] = Path("runs"),
    host: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 opens it to other machines.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the page in your browser.")
    ] = True,
    model: Annotated[
        list[Path] | None,
        typer.Option(
            "--model",
            help="A model file cnnlab did not train (.keras, .h5, .npz) to explore; "
            "repeat for more.",
            metavar="FILE",
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="With --model: a folder of class folders; its classes name the model's "
            "outputs and its images are the samples (and its confusion matrix).",
            metavar="DIR",
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option(
            help="With --model: the class names, comma-separated (default: 0, 1, ...).",
            metavar="A,B,...",
        ),
    ] = None,
) -> None:
    """Explore convolution, pooling and your own runs in the browser (a local web server).

    The playground needs no run; the model explorer and the runs view show the runs in
    --runs, and the model files given with --model (images scaled to 0..1, as cnnlab's
    runs are). Stop it with Ctrl-C.
    """
    from cnnlab.studio import ModelFile, serve  # lazily: the server needs Starlette, uvicorn

    if not model and (data is not None or classes is not None):
        fail("--data and --classes name a --model's classes; give --model FILE with them")
    names = None
    if classes is not None:
        names = [c.strip() for c in classes.split(",")]
        if not all(names):
            fail(f"--classes must be names separated by commas. Received: {classes!r}")
    models = [ModelFile(path, data=data, classes=names) for path in model or []]
    taken = [m.name for m in models]
    twice = sorted({n for n in taken if taken.count(n) > 1})
    if twice:
        fail(f"--model: two files named {twice[0]}; give files with different names")

    def say(line: str) -> None:
        print(line, flush=True)

    def warn(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    serve(runs, host, port, open_browser=open_browser, say=say, warn=warn, models=models)
