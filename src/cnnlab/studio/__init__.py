"""cnnlab studio: a local web page to explore convolution, pooling and your own runs.

- **Playground**: a grid (a built-in digit, a run's image, numbers, or a drawing) convolved
  and pooled step by step; every number comes from :mod:`cnnlab.ops`.
- **Model explorer**: an image (a test sample, an upload, a drawing) through a run's model,
  every layer's feature maps, the class probabilities and the Grad-CAM; click a map to see
  how it was made from the previous layer's maps, the filter's kernels and the bias.
- **Runs**: learning curves, metrics, the confusion matrix (click a cell for its images) and
  the top losses; a run still training updates while you watch.
- **Your own model**: a ``.keras``, legacy ``.h5`` or cnnlab ``.npz`` file cnnlab did not
  train (``cnnlab studio --model FILE [--data DIR | --classes a,b]``), or a live model in a
  notebook (:func:`show`), is explored like a run with no training history
  (:mod:`cnnlab.studio.models`). Its images are scaled to [0, 1], as cnnlab's runs are.

Start it with ``cnnlab studio`` or :func:`serve`; :func:`create_app` gives the ASGI app
(for tests, or another server). The JSON API is in docs/studio-api.md.
"""

from __future__ import annotations

import atexit
import errno
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from cnnlab.engines import engine_of
from cnnlab.errors import ArgumentError
from cnnlab.studio.app import create_app, log_to_stderr
from cnnlab.studio.explorer import RunsFolder
from cnnlab.studio.models import ModelFile
from cnnlab.studio.playground import digit_images

__all__ = [
    "ModelFile",
    "RunsFolder",
    "StudioHandle",
    "create_app",
    "open_socket",
    "serve",
    "show",
]

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
    models: list[ModelFile] = (),
) -> None:
    """Run the studio until Ctrl-C.

    Args:
        runs_dir: the runs folder (``cnnlab train`` writes runs/...); it need not exist.
        host: the address to listen on. Anything but this machine's loopback lets other
            machines in: ``warn`` is called with a line saying so.
        port: the port (0: any free one; the URL said names it).
        open_browser: open the page in the default browser.
        say: called with the URL line (and where the runs are).
        models: model files served beside the runs (``cnnlab studio --model``).

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
    app = create_app(root, allowed_hosts=None if local else ["*"], models=models)
    url = url_of(sock, host)
    runs = RunsFolder(root).list_runs()["runs"] if root.is_dir() else []
    counted = f"{len(runs)} run{'s' if len(runs) != 1 else ''}"
    if models:
        counted = f"{', '.join(m.name for m in models)} and {counted}"
    say(f"cnnlab studio: {url}  ({counted} in {root.resolve()}; Ctrl-C to stop)")
    log_to_stderr()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    _warm_up(runs + [{"engine": m.config.engine} for m in models])
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


class StudioHandle:
    """A studio serving in a background thread (what :func:`show` returns).

    Attributes:
        url: the page's address.
    """

    def __init__(self, url: str, server, thread: threading.Thread, sock, temp: Path):
        self.url = url
        self._server, self._thread, self._sock, self._temp = server, thread, sock, temp

    def stop(self) -> None:
        """Stop the server, free its port and remove the temporary model file (if any)."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._sock.close()
            self._server = None
        shutil.rmtree(self._temp, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._server is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<cnnlab studio at {self.url} ({state}; .stop() to stop it)>"


def show(
    model,
    images=None,
    classes: list[str] | None = None,
    *,
    port: int = 0,
    host: str = "127.0.0.1",
) -> StudioHandle:
    """Open a model in the studio from a notebook (or any Python program).

    The studio serves in a background thread on ``host:port`` (0: a free port). In Jupyter
    (an IPython kernel) the page is shown inline as an IFrame; in Colab, as a frame that
    Colab proxies to the kernel's port (``google.colab.output.serve_kernel_port_as_iframe``);
    elsewhere its URL is printed.

    Args:
        model: a Keras model, a :mod:`cnnlab.nn` model, or a model file's path (``.keras``,
            ``.h5``, ``.npz``). A live model is saved to a temporary file (removed by
            ``stop()``).
        images: sample images for the explorer: an array (N, H, W, C) of uint8 0..255 or
            float 0..1 (unlabelled), or a folder of class folders (labelled: the runs view
            then shows its confusion matrix and top losses).
        classes: the class names, one per output (default: "0", "1", ...).

    Returns:
        A :class:`StudioHandle`: ``.url``, ``.stop()``.

    Raises:
        ModelFileError: the model cannot be read or is not an image classifier.
        ArgumentError: ``images`` or ``classes`` do not fit the model; the port is taken.
    """
    import uvicorn

    temp = Path(tempfile.mkdtemp(prefix="cnnlab-show-"))
    try:
        if isinstance(model, str | os.PathLike):
            path = Path(model)
        else:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", str(getattr(model, "name", "") or "model"))
            numpy = engine_of(model) == "numpy"
            path = temp / f"{name}.{'cnnlab.npz' if numpy else 'keras'}"
            model.save(path)
        folder = isinstance(images, str | os.PathLike)
        source = ModelFile(
            path,
            data=images if folder else None,
            classes=classes,
            images=None if folder else images,
        )
        sock = open_socket(host, port)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    local = host in LOCAL
    colab = _in_colab()
    # In Colab the page reaches the server through the kernel's proxy, whose Host header is
    # its own; the server still listens on the Colab machine's loopback only.
    hosts = None if local and not colab else ["*"]
    app = create_app(temp, allowed_hosts=hosts, models=[source], notebook=True, colab=colab)
    # log_config=None: the host program's (the notebook's) logging is left as it is
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="cnnlab-studio", daemon=True
    )
    thread.start()
    handle = StudioHandle(url_of(sock, host), server, thread, sock, temp)
    atexit.register(handle.stop)
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    if colab:  # the browser is not on the kernel's machine: Colab proxies the port
        from google.colab import output

        output.serve_kernel_port_as_iframe(sock.getsockname()[1], height=820)
    elif _in_notebook():
        from IPython.display import IFrame, display

        display(IFrame(handle.url, width="100%", height=820))
    else:
        print(f"cnnlab studio: {handle.url}  ({source.name}; .stop() to stop it)", flush=True)
    return handle


def _in_colab() -> bool:
    """Whether a Colab kernel runs this code (it imports ``google.colab`` as it starts)."""
    return "google.colab" in sys.modules


def _in_notebook() -> bool:
    """Whether an IPython kernel (Jupyter) runs this code."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})
