"""The child process of ``cnnlab check``: import the learner's file and call its functions.

Run as a script (``python -I _child.py PLAN_DIR``) with the working directory set to a
temporary folder. It imports NumPy and nothing else of cnnlab, so the learner's code runs
without TensorFlow and without any of the checker's state: the parent process computed the
expected values before this process started, and passes only the inputs.

Protocol, all inside ``PLAN_DIR`` (the parent writes, the child reads, nothing is pickled):

* ``plan.json``: the learner's file, and for each function its cases as encoded arguments;
* ``inputs.npz``: the arrays those arguments refer to;
* the child writes one JSON line per event on its stdout (``imported``, ``start``,
  ``done``), and for each finished function ``out-<name>.npz`` with the arrays of its
  results. Whatever the learner prints is captured (the first few thousand characters)
  and sent with the results; the real file descriptors 1 and 2 point to ``/dev/null``.

The encoding (:func:`encode` / :func:`decode`) is shared with the parent, which imports
this module for it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
import traceback

import numpy as np

PRINT_LIMIT = 4000


def encode(obj, store: dict, prefix: str = "a"):
    """A JSON-able description of ``obj``; its arrays go into ``store`` (key -> array)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject or arr.dtype.kind not in "biufc":
            return {"t": "other", "type": f"array of {arr.dtype}", "repr": repr(obj)[:200]}
        key = f"{prefix}{len(store)}"
        store[key] = arr
        return {"t": "array", "k": key, "scalar": isinstance(obj, np.generic)}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"t": "py", "v": obj}
    if isinstance(obj, (tuple, list)):
        kind = "tuple" if isinstance(obj, tuple) else "list"
        return {"t": kind, "items": [encode(x, store, prefix) for x in obj]}
    if isinstance(obj, dict):
        return {
            "t": "dict",
            "items": [[encode(k, store, prefix), encode(v, store, prefix)] for k, v in obj.items()],
        }
    return {"t": "other", "type": type(obj).__name__, "repr": _short_repr(obj)}


class Opaque:
    """A value the child could not send as data (a function, an object array...)."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name = type_name
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.text}>"


def decode(desc, arrays):
    """The value :func:`encode` described, with its arrays taken from ``arrays``."""
    kind = desc["t"]
    if kind == "array":
        arr = np.array(arrays[desc["k"]])
        return arr[()] if desc.get("scalar") else arr
    if kind == "py":
        return desc["v"]
    if kind == "tuple":
        return tuple(decode(x, arrays) for x in desc["items"])
    if kind == "list":
        return [decode(x, arrays) for x in desc["items"]]
    if kind == "dict":
        out = {}
        for k, v in desc["items"]:
            key = decode(k, arrays)
            out[key if isinstance(key, (str, int, float, bool, type(None))) else repr(key)] = (
                decode(v, arrays)
            )
        return out
    return Opaque(desc.get("type", "?"), desc.get("repr", ""))


def _short_repr(obj) -> str:
    try:
        return repr(obj)[:200]
    except Exception:
        return "?"


class _Capture:
    """Stands in for sys.stdout and sys.stderr: keeps the first PRINT_LIMIT characters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.total = 0

    def write(self, text) -> int:
        text = str(text)
        self.total += len(text)
        if self.kept < PRINT_LIMIT:
            piece = text[: PRINT_LIMIT - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def take(self) -> dict:
        out = {"text": "".join(self.parts), "total": self.total}
        self.parts, self.kept, self.total = [], 0, 0
        return out


def _error(exc: BaseException, path: str) -> dict:
    """Type, message, the learner's innermost line, and in which of its functions."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename) == path]
    where = mine[-1] if mine else (frames[-1] if frames else None)
    message = str(exc).strip().splitlines()
    return {
        "type": type(exc).__name__,
        "message": message[0][:300] if message else "",
        "line": where.lineno if where is not None and mine else None,
        "code": (where.line or "").strip()[:200] if where is not None and mine else "",
        "in": where.name if where is not None and mine else None,
        "not_implemented": isinstance(exc, NotImplementedError),
    }


def main(plan_dir: str) -> int:
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    capture = _Capture()
    sys.stdout = sys.stderr = capture

    def send(event: dict) -> None:
        channel.write(json.dumps(event) + "\n")
        channel.flush()

    with open(os.path.join(plan_dir, "plan.json"), encoding="utf-8") as fh:
        plan = json.load(fh)
    with np.load(os.path.join(plan_dir, "inputs.npz"), allow_pickle=False) as data:
        inputs = {k: data[k] for k in data.files}

    path = os.path.abspath(plan["file"])
    sys.path.insert(0, os.path.dirname(path))
    try:
        spec = importlib.util.spec_from_file_location("__cnnlab_learner__", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["__cnnlab_learner__"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # the learner's top-level code failed
        send({"event": "import_failed", "error": _error(exc, path), "printed": capture.take()})
        return 0
    defined = [n for n in plan["names"] if callable(getattr(module, n, None))]
    send({"event": "imported", "defined": defined, "printed": capture.take()})

    for item in plan["functions"]:
        name = item["name"]
        send({"event": "start", "function": name})
        fn = getattr(module, name, None)
        if not callable(fn):
            send({"event": "done", "function": name, "missing": True, "results": []})
            continue
        store: dict = {}
        results = []
        for case in item["cases"]:
            args = decode(case["args"], inputs)
            kwargs = decode(case["kwargs"], inputs)
            t0 = time.perf_counter()
            try:
                value = fn(*args, **kwargs)
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                results.append({"error": _error(exc, path), "seconds": time.perf_counter() - t0})
                continue
            seconds = time.perf_counter() - t0
            try:
                got = encode(value, store)
            except Exception as exc:  # a value that cannot even be looked at
                got = {"t": "other", "type": type(value).__name__, "repr": str(exc)[:200]}
            results.append(
                {
                    "value": got,
                    "args_after": encode([list(args), kwargs], store),
                    "seconds": seconds,
                }
            )
        out = os.path.join(plan_dir, f"out-{name}.npz")
        np.savez(out, **store)
        send({"event": "done", "function": name, "results": results, "printed": capture.take()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
