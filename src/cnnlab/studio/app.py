"""The studio's web app: the page's files and a JSON API over :mod:`cnnlab` (Starlette).

Every route is a few lines that read the request, call the playground
(:mod:`cnnlab.studio.playground`) or the runs folder (:class:`RunsFolder`), and answer JSON.
docs/studio-api.md lists them. Safety rules, all tested:

- files come only from the package's ``static/`` folder and from run folders directly inside
  the runs folder, checked after resolving links (``..``, ``%2e%2e``, absolute paths and links
  leading out are 404s);
- request bodies are size-limited (an upload: 10 MB) and images are decoded by cnnlab's own
  decoding, with its decompression-bomb limit; nothing is unpickled;
- every error is JSON ``{"error": "..."}`` with a 4xx status (a bug: 500, with the traceback
  in the server's log, never in the answer);
- only the Host names of the address the server listens on are answered (a page elsewhere
  cannot reach a studio on 127.0.0.1 through DNS rebinding);
- every answer carries a content policy: the page runs only its own scripts and talks only
  to this server.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from cnnlab import __version__, _validate
from cnnlab.errors import ArgumentError, CnnlabError
from cnnlab.studio import camera, playground
from cnnlab.studio.explorer import NotFound, RunsFolder

STATIC = Path(__file__).parent / "static"
MAX_UPLOAD = 10 * 1024 * 1024
"""The largest image file the explorer takes (bytes)."""
MAX_JSON = 1024 * 1024
RUN_FILES = (".png", ".json", ".csv", ".txt")
"""What ``/files/{run}/...`` serves from a run folder (never its model files)."""
LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

_log = logging.getLogger("cnnlab.studio")


class TooLarge(CnnlabError):
    """A request body over its limit (HTTP 413)."""


STATUS = {NotFound: 404, TooLarge: 413}


class LocalHostOnly:
    """Answer only requests whose Host header is one of ``allowed`` (ASGI middleware); any
    other gets a JSON 400. It keeps a page on another site from reaching a studio on
    127.0.0.1 by pointing its own host name there (DNS rebinding)."""

    def __init__(self, app, allowed: list[str]):
        self.app, self.allowed = app, {h.lower() for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "*" not in self.allowed:
            host = Headers(scope=scope).get("host", "").lower()
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in self.allowed:
                response = _error(400, f"this studio answers only {sorted(self.allowed)}")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


CONTENT_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)
"""The page runs only its own scripts, talks only to this server, and cannot be framed."""
NOTEBOOK_FRAMES = (
    "'self' http://localhost:* http://127.0.0.1:* https://localhost:* https://127.0.0.1:* "
    "vscode-webview:"
)
"""Who may frame a studio started by :func:`cnnlab.studio.show`: notebooks on this machine."""
COLAB_FRAMES = "https://*.googleusercontent.com https://colab.research.google.com"
"""And in Colab: its notebook page and the output frame that holds the studio's frame."""


class SecurityHeaders:
    """Add the content policy, ``nosniff`` and no-referrer to every answer (ASGI middleware)."""

    def __init__(self, app, policy: str = CONTENT_POLICY):
        self.app, self.policy = app, policy.encode()

    async def __call__(self, scope, receive, send):
        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", self.policy),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cache-control", b"no-store"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def safe_file(root: Path, relative: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """``root / relative`` when it is a file inside ``root`` (after resolving links).

    Raises:
        NotFound: an absolute path, a ``..`` part, a NUL byte, a link leading out, a missing
            file, or a suffix not in ``suffixes``.
    """
    parts = Path(relative).parts
    if not relative or "\x00" in relative or Path(relative).is_absolute() or ".." in parts:
        raise NotFound(f"no file {relative!r}")
    root = root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"no file {relative!r}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise NotFound(f"{relative!r} is not served (only {', '.join(suffixes)} files)")
    return path


async def _body(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"the body is {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


MAX_NUMBER = 1e9
"""The largest magnitude a number in a request body may have (a pixel, a kernel weight, a
stride: far below it); larger ones, infinities and NaN are refused, never computed with."""
MAX_DEPTH = 8
"""The deepest nesting of a request body (a grid of numbers is 2 or 3 levels)."""


def _number(text: str) -> float | int:
    special = text in ("NaN", "Infinity", "-Infinity")
    value = float(text) if special or any(c in text for c in ".eE") else int(text)
    if not abs(value) <= MAX_NUMBER:  # also NaN
        raise ArgumentError(
            f"numbers in the body must lie within +-{MAX_NUMBER:g}. Received: {text[:40]}"
        )
    return value


def _depth(obj, limit: int) -> int:
    deepest, stack = 0, [(obj, 1)]
    while stack and deepest <= limit:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            values = item.values() if isinstance(item, dict) else item
            stack.extend((v, level + 1) for v in values)
    return deepest


async def _json(request: Request) -> dict:
    raw = await _body(request, MAX_JSON)
    try:
        body = json.loads(raw, parse_float=_number, parse_int=_number, parse_constant=_number)
    except RecursionError:
        raise ArgumentError("the body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ArgumentError):
            raise
        raise ArgumentError("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ArgumentError("the body must be a JSON object")
    if _depth(body, MAX_DEPTH) > MAX_DEPTH:
        raise ArgumentError(f"the body is nested more than {MAX_DEPTH} levels")
    return body


def _int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ArgumentError(f"{name} must be an integer. Received: {name}={value!r}") from None


def create_app(
    runs_dir: str | Path = "runs",
    allowed_hosts: list[str] | None = None,
    models=(),
    notebook: bool = False,
    colab: bool = False,
) -> Starlette:
    """The studio as an ASGI app serving the runs under ``runs_dir``.

    Args:
        runs_dir: the folder whose subfolders are runs (it need not exist yet).
        allowed_hosts: Host header values answered (default: 127.0.0.1 and localhost);
            ``["*"]`` for any (a server on 0.0.0.0).
        models: model files (:class:`~cnnlab.studio.models.ModelFile`) served beside the
            runs, listed first (``cnnlab studio --model``).
        notebook: let a notebook page on this machine show it in a frame (:func:`show`).
        colab: with ``notebook``, let Colab's pages frame it too (:data:`COLAB_FRAMES`).
    """
    runs = RunsFolder(runs_dir, models)

    async def call(fn, *args) -> JSONResponse:
        return JSONResponse(await run_in_threadpool(fn, *args))

    async def index(request: Request) -> Response:
        return FileResponse(safe_file(STATIC, "index.html"))

    async def static(request: Request) -> Response:
        return FileResponse(safe_file(STATIC, request.path_params["path"]))

    async def run_file(request: Request) -> Response:
        folder = runs.run_dir(request.path_params["run"])
        return FileResponse(safe_file(folder, request.path_params["path"], RUN_FILES))

    async def info(request: Request) -> Response:

        listed = await run_in_threadpool(runs.list_runs)
        return JSONResponse(
            {
                "version": __version__,
                "runs_dir": str(runs.root),
                "n_runs": len(listed["runs"]) - len(runs.models),
                "models": list(runs.models),
                "presets": playground.PRESETS,
                "limits": {
                    "grid": playground.MAX_GRID,
                    "kernel": playground.MAX_KERNEL,
                    "upload_bytes": MAX_UPLOAD,
                },
            }
        )

    async def images(request: Request) -> Response:
        source = request.query_params.get("source", "digits")
        if source == "digits":
            return await call(lambda: {"images": playground.digit_images()})
        size = _int(request, "size", 16)
        return await call(lambda: {"images": runs.sample_grids(source, size)})

    async def conv(request: Request) -> Response:
        b = await _json(request)
        return await call(
            lambda: playground.convolve(
                b.get("input"),
                b.get("kernel"),
                b.get("stride", 1),
                b.get("padding", "valid"),
                b.get("bias", 0.0),
            )
        )

    async def pool(request: Request) -> Response:
        b = await _json(request)
        return await call(
            lambda: playground.pool(
                b.get("input"),
                b.get("mode", "max"),
                b.get("size", 2),
                b.get("stride"),
                b.get("padding", "valid"),
            )
        )

    async def list_runs(request: Request) -> Response:
        return await call(runs.list_runs)

    async def run_details(request: Request) -> Response:
        return await call(runs.details, request.path_params["run"])

    async def samples(request: Request) -> Response:
        split = request.query_params.get("split", "test")
        return await call(
            runs.samples, request.path_params["run"], split, _int(request, "limit", 24)
        )

    async def confusion(request: Request) -> Response:
        return await call(runs.confusion, request.path_params["run"])

    async def confusion_cell(request: Request) -> Response:
        p = request.path_params
        return await call(
            runs.confusion_cell, p["run"], p["true"], p["pred"], _int(request, "limit", 24)
        )

    async def top_losses(request: Request) -> Response:
        return await call(runs.top_losses, request.path_params["run"], _int(request, "k", 12))

    async def explore(request: Request) -> Response:
        name, b = request.path_params["run"], await _json(request)
        if "image_id" in b:
            image_id = b["image_id"]
        elif "sample" in b:
            if not _validate.is_int(b["sample"]):
                raise ArgumentError("give {'sample': index, 'split': 'test' | 'val' | 'train'}")
            image_id = f"s:{b.get('split', 'test')}:{b['sample']}"  # the split is checked there
        else:
            raise ArgumentError("give {'sample': index} or {'image_id': id}")
        return await call(runs.explore, name, image_id)

    async def upload(request: Request) -> Response:
        name = request.path_params["run"]
        runs.check_name(name)  # an unknown run is refused before the body is read
        data = await _body(request, MAX_UPLOAD)
        if not data:
            raise ArgumentError("the upload is empty: send the image file's bytes as the body")
        return await call(lambda: runs.explore(name, runs.upload(name, data)))

    async def frame(request: Request) -> Response:
        name = request.path_params["run"]
        runs.check_name(name)  # an unknown run is refused before the body is read
        data = await _body(request, camera.MAX_FRAME)
        return await call(camera.frame, runs, name, data)

    async def feature_map(request: Request) -> Response:
        p = request.path_params
        return await call(runs.feature_map, p["run"], p["image_id"], p["layer"], p["channel"])

    async def maps(request: Request) -> Response:
        p, choice = request.path_params, request.query_params.get("range", "layer")
        return await call(runs.ranged_maps, p["run"], p["image_id"], choice)

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return _error(status, f"{request.method} {request.url.path}: {getattr(exc, 'detail', '')}")

    async def user_error(request: Request, exc: Exception) -> Response:
        return _error(STATUS.get(type(exc), 400), str(exc))

    async def bug(request: Request, exc: Exception) -> Response:
        _log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, f"internal error in cnnlab studio ({type(exc).__name__}); see its log")

    api = "/api/runs/{run}"
    routes = [
        Route("/", index),
        Route("/static/{path:path}", static),
        Route("/files/{run}/{path:path}", run_file),
        Route("/api/info", info),
        Route("/api/playground/images", images),
        Route("/api/playground/conv", conv, methods=["POST"]),
        Route("/api/playground/pool", pool, methods=["POST"]),
        Route("/api/runs", list_runs),
        Route(api, run_details),
        Route(api + "/samples", samples),
        Route(api + "/confusion", confusion),
        Route(api + "/confusion/{true:int}/{pred:int}", confusion_cell),
        Route(api + "/top-losses", top_losses),
        Route(api + "/explore", explore, methods=["POST"]),
        Route(api + "/upload", upload, methods=["POST"]),
        Route(api + "/frame", frame, methods=["POST"]),
        Route(api + "/explore/{image_id}/layers/{layer}/channels/{channel:int}", feature_map),
        Route(api + "/explore/{image_id}/maps", maps),
    ]
    hosts = allowed_hosts if allowed_hosts is not None else LOCAL_HOSTS
    policy = CONTENT_POLICY
    if notebook:
        frames = f"{NOTEBOOK_FRAMES} {COLAB_FRAMES}" if colab else NOTEBOOK_FRAMES
        policy = policy.replace("frame-ancestors 'none'", f"frame-ancestors {frames}")
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, policy=policy),
            Middleware(LocalHostOnly, allowed=hosts),
        ],
        exception_handlers={
            HTTPException: not_found,
            CnnlabError: user_error,
            OSError: user_error,
            Exception: bug,
        },
    )


def log_to_stderr() -> None:
    """Send the studio's log (bugs, with their tracebacks) to stderr."""
    if not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("cnnlab studio: %(message)s"))
        _log.addHandler(handler)
        _log.propagate = False
