"""cnnlab studio: a local web page to explore convolution, pooling and your own runs.

- **Playground**: a grid (a built-in digit, a run's image, numbers, or a drawing) convolved
  and pooled step by step; every number comes from :mod:`cnnlab.ops`.
- **Model explorer**: an image (a test sample, an upload, a drawing) through a run's model,
  every layer's feature maps, the class probabilities and the Grad-CAM; click a map to see
  how it was made from the previous layer's maps, the filter's kernels and the bias.
- **Runs**: learning curves, metrics, the confusion matrix (click a cell for its images) and
  the top losses; a run still training updates while you watch.

Start it with ``cnnlab studio`` or :func:`serve`; :func:`create_app` gives the ASGI app
(for tests, or another server). The JSON API is in docs/studio-api.md.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from pathlib import Path

from cnnlab.errors import ArgumentError
from cnnlab.studio.app import create_app, log_to_stderr
from cnnlab.studio.explorer import RunsFolder
from cnnlab.studio.playground import digit_images

__all__ = ["RunsFolder", "create_app", "open_socket", "serve"]

LOCAL = ("127.0.0.1", "localhost", "::1")


def open_socket(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises:
        ArgumentError: the port is out of range or in use, or the host is unknown here.
    """
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ArgumentError(f"port must be between 0 and 65535. Received: port={port!r}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        raise ArgumentError(f"host {host!r} is not an address of this machine") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ArgumentError(
                f"port {port} on {host} is in use (another studio?); choose one with --port"
            ) from None
        raise ArgumentError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}/"


def serve(
    runs_dir: str | os.PathLike = "runs",
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    open_browser: bool = False,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] | None = None,
) -> None:
    """Run the studio until Ctrl-C.

    Args:
        runs_dir: the runs folder (``cnnlab train`` writes runs/...); it need not exist.
        host: the address to listen on. Anything but this machine's loopback lets other
            machines in: ``warn`` is called with a line saying so.
        port: the port (0: any free one; the URL said names it).
        open_browser: open the page in the default browser.
        say: called with the URL line (and where the runs are).

    Raises:
        ArgumentError: the runs folder is a file, or the port is taken.
    """
    import uvicorn

    root = Path(runs_dir).expanduser()
    if root.exists() and not root.is_dir():
        raise ArgumentError(f"--runs {root}: not a folder")
    local = host in LOCAL
    if not local:
        (warn or say)(
            f"warning: listening on {host}: anyone who can reach this machine can use the "
            "studio and see your runs; use --host 127.0.0.1 to keep it private"
        )
    sock = open_socket(host, port)
    app = create_app(root, allowed_hosts=None if local else ["*"])
    url = url_of(sock, host)
    runs = RunsFolder(root).list_runs()["runs"] if root.is_dir() else []
    counted = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    say(f"cnnlab studio: {url}  ({counted} in {root.resolve()}; Ctrl-C to stop)")
    log_to_stderr()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    _warm_up(runs)
    if open_browser:
        _open_later(url, say)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


def _warm_up(runs: list[dict]) -> None:
    """Do the slow first-time work in the background while the page loads: the built-in
    digits (importing scikit-learn takes seconds) and, when a Keras run is there, importing
    Keras (TensorFlow takes seconds more), so the first click does not wait for them."""
    import threading

    def work() -> None:
        digit_images()
        if any(r["engine"] == "keras" for r in runs):
            import keras  # noqa: F401

    threading.Thread(target=work, name="cnnlab-studio-warm-up", daemon=True).start()


def _open_later(url: str, say: Callable[[str], None]) -> None:
    """Open ``url`` in the default browser once the server answers (not on a machine with
    no display, where Python would start a text browser in this terminal)."""
    import sys
    import threading
    import webbrowser

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        say("no display here: open the URL above in a browser")
        return
    threading.Timer(0.5, webbrowser.open, args=(url,)).start()
