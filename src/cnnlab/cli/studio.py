"""``cnnlab studio``: a thin command over :func:`cnnlab.studio.serve`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


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
) -> None:
    """Explore convolution, pooling and your own runs in the browser (a local web server).

    The playground needs no run; the model explorer and the runs view show the runs in
    --runs. Stop it with Ctrl-C.
    """
    from cnnlab.studio import serve  # lazily: the server needs Starlette and uvicorn

    def say(line: str) -> None:
        print(line, flush=True)

    def warn(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    serve(runs, host, port, open_browser=open_browser, say=say, warn=warn)
