"""The child process of ``cnnlab check``: import the learner's file and call its functions.

Run as a script (``python -I _child.py PLAN_DIR OUT_DIR``, a copy of this file in
PLAN_DIR) with the working directory set to a
temporary folder. It imports NumPy and nothing else of cnnlab, so the learner's code runs
without TensorFlow and without any of the checker's state: the parent process computed the
expected values before this process started, and passes only the inputs.

Protocol (nothing is pickled): the parent writes ``PLAN_DIR`` (read-only in the sandbox),
the child writes ``OUT_DIR``:

* ``plan.json``: the learner's file, and for each function its cases as encoded arguments;
* ``inputs.npz``: the arrays those arguments refer to;
* the child writes one JSON line per event on its stdout (``started``, ``imported`` or
  ``import_failed``, then ``start`` and ``done`` per function), and for each finished
  function ``out-<name>.npz`` with the arrays of its results. Whatever the learner
  prints is captured (the first few thousand characters) and sent with the results;
  the real file descriptors 1 and 2 point to ``/dev/null``.

Before the learner's file is imported, the child installs its guard
(:func:`install_guard`: resource limits, a seccomp filter, an import hook; see
:mod:`cnnlab.check.sandbox` for the whole fence). A function that is not written in the
learner's folder is not run (:func:`origin`).

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
ADDRESS_SPACE = 2 * 1024**3  # the same values as cnnlab.check.sandbox's
FILE_SIZE = 64 * 1024**2


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


# --- the guard: what the learner's code may not do (see cnnlab.check.sandbox) -------------

#: Packages the learner's file may not import: the reference, and the frameworks that
#: compute convolutions for it.
REFUSED = ("cnnlab", "tensorflow", "keras", "tf_keras", "torch", "jax", "jaxlib")


class RefusedImport(ImportError):
    """Raised by the import hook; the child reports it as one line naming the import."""


def refusal(name: str) -> str:
    """The one line saying why importing ``name`` is not allowed."""
    if name.split(".")[0] == "cnnlab":
        return f"imports the reference implementation: {name}"
    return f"imports {name}, which the check does not allow: the course's functions use NumPy"


class _RefuseImports:
    """A ``sys.meta_path`` finder, installed first, that refuses :data:`REFUSED` (and
    every submodule) and records each attempt, caught or not."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in REFUSED:
            self.attempts.append(name)
            raise RefusedImport(refusal(name), name=name)
        return None


def _set_limits(cpu_seconds: int) -> None:
    """Address space, CPU seconds, file size, no core file: soft and hard limits alike, so
    the learner's code cannot raise them again (the seccomp filter stops root too)."""
    import signal

    try:
        import resource
    except ImportError:  # pragma: no cover - Windows: no limits
        return
    limits = {
        "RLIMIT_AS": ADDRESS_SPACE,
        "RLIMIT_CPU": cpu_seconds,
        "RLIMIT_FSIZE": FILE_SIZE,
        "RLIMIT_CORE": 0,
    }
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None:  # pragma: no cover - not on this system
            continue
        soft, hard = resource.getrlimit(which)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        try:
            # the CPU hard limit a second later: SIGXCPU at the soft one, then SIGKILL
            top = value + 1 if name == "RLIMIT_CPU" else value
            top = top if hard == resource.RLIM_INFINITY else min(top, hard)
            resource.setrlimit(which, (value, top))
        except (ValueError, OSError):  # pragma: no cover - a hard limit lower still
            pass
    # a write past the file-size limit raises OSError (File too large), not a silent death
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _limit_processes() -> None:
    """RLIMIT_NPROC at what this user runs now plus 16 (it counts all their processes)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    if os.getuid() == 0 or not hasattr(resource, "RLIMIT_NPROC") or not os.path.isdir("/proc"):
        return
    mine = 0
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == os.getuid():
                mine += len(os.listdir(f"/proc/{entry}/task"))
        except OSError:
            continue
    value = mine + 16
    soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(resource.RLIMIT_NPROC, (value, value))


#: Syscall numbers the filter denies, per architecture (the kernel's AUDIT_ARCH value).
_SECCOMP = {
    "x86_64": {
        "arch": 0xC000003E,
        # kill tkill tgkill rt_sigqueueinfo rt_tgsigqueueinfo pidfd_send_signal ptrace
        # process_vm_writev fork vfork setrlimit
        "deny": (62, 200, 234, 129, 297, 424, 101, 311, 57, 58, 160),
        "clone": 56,
        "clone3": 435,
        "prlimit64": 302,
    },
    "aarch64": {
        "arch": 0xC00000B7,
        "deny": (129, 130, 131, 138, 240, 424, 117, 271, 164),
        "clone": 220,
        "clone3": 435,
        "prlimit64": 261,
    },
}


def _seccomp_program(table: dict) -> list[tuple[int, int, int, int]]:
    """A classic-BPF seccomp program: deny (EPERM) the calls that signal or trace another
    process, fork one, or set a resource limit (prlimit64 only reading them is allowed);
    allow clone only for threads (CLONE_THREAD); answer clone3 with ENOSYS so that the C
    library falls back to clone; allow everything else."""
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    body: list[tuple] = [(ld, "", "", 4), (jeq, 0, "allow", table["arch"]), (ld, "", "", 0)]
    if table["arch"] == 0xC000003E:
        body.append((jge, "eperm", 0, 0x40000000))  # the x32 numbering, a way around
    body += [(jeq, "eperm", 0, nr) for nr in table["deny"]]
    body.append((jeq, "enosys", 0, table["clone3"]))
    body.append((jeq, 0, 4, table["prlimit64"]))
    body.append((ld, "", "", 32))  # prlimit64's new limit, a pointer: NULL only reads
    body.append((jeq, 0, "eperm", 0))
    body.append((ld, "", "", 36))
    body.append((jeq, "allow", "eperm", 0))
    body.append((jeq, 0, "allow", table["clone"]))
    body.append((ld, "", "", 16))  # the low 32 bits of clone's flags
    body.append((jset, "allow", "eperm", 0x00010000))
    labels = {"allow": len(body), "eperm": len(body) + 1, "enosys": len(body) + 2}
    program = []
    for i, (code, jt, jf, k) in enumerate(body):
        jt = labels[jt] - i - 1 if isinstance(jt, str) and jt else (jt or 0)
        jf = labels[jf] - i - 1 if isinstance(jf, str) and jf else (jf or 0)
        program.append((code, jt, jf, k))
    return program + [(ret, 0, 0, allow), (ret, 0, 0, eperm), (ret, 0, 0, enosys)]


def _seccomp() -> bool:
    """Install the filter of :func:`_seccomp_program`; False where it is not available."""
    import ctypes
    import platform

    table = _SECCOMP.get(platform.machine())
    if table is None or not sys.platform.startswith("linux"):
        return False

    class Filter(ctypes.Structure):
        _fields_ = [
            ("code", ctypes.c_ushort),
            ("jt", ctypes.c_ubyte),
            ("jf", ctypes.c_ubyte),
            ("k", ctypes.c_uint),
        ]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    program = _seccomp_program(table)
    filters = (Filter * len(program))(*[Filter(*ins) for ins in program])
    prog = Program(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(prog), 0, 0) == 0  # PR_SET_SECCOMP, FILTER


def _refused_in(exc: BaseException | None) -> RefusedImport | None:
    """The refused import that made the import fail, even when wrapped in another error."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, RefusedImport):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def install_guard(plan: dict) -> dict:
    """Limits, the seccomp filter, the import hook: before the learner's file is imported.
    Returns what is in force, for the report."""
    cpu = int(plan.get("timeout", 10) * (len(plan["functions"]) + 1)) + 2
    _set_limits(cpu)
    seccomp = bool(plan.get("seccomp", True)) and _seccomp()
    if not seccomp:
        _limit_processes()
    hook = _RefuseImports()
    sys.meta_path.insert(0, hook)
    return {"seccomp": seccomp, "hook": hook}


def behind_a_stand_in() -> None:
    """Where there is no seccomp filter, fork once and go on in the child: the learner's
    ``os.kill(os.getppid(), ...)`` then ends this stand-in, which only waits, and not the
    checker (it stays in the child's process group, so the checker still ends both). Code
    that looks further up the process tree is not stopped: the report says so. Inside
    bubblewrap the parent is the namespace's init, which the child cannot kill, and a
    stand-in would end the sandbox when it died."""
    import signal

    pid = os.fork()
    if pid == 0:
        return
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status))


def origin(fn, module, folder: str) -> str | None:
    """None when ``fn`` is the learner's own function (defined in the learner's file, or
    in a file of the learner's folder); else what it is, for the report."""
    import inspect
    import types

    inner = inspect.unwrap(fn) if callable(fn) else fn
    if isinstance(inner, types.FunctionType):
        file = os.path.abspath(inner.__code__.co_filename)
        if inner.__module__ == module.__name__ or os.path.dirname(file) == folder:
            return None
        where = f"{inner.__module__}.{inner.__qualname__}"
    else:
        where = f"{getattr(inner, '__module__', None) or '?'}.{type(inner).__name__}"
        name = getattr(inner, "__qualname__", getattr(inner, "__name__", None))
        if isinstance(name, str):
            where = f"{getattr(inner, '__module__', None) or 'builtins'}.{name}"
    if where.split(".")[0] in REFUSED:
        return refusal(where.rsplit(".", 1)[0])
    return f"it is {where}, not a function written in your file"


def main(plan_dir: str, out_dir: str) -> int:
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
    guard = install_guard(plan)
    where_from = origin  # bound before the learner's code runs, which may patch the global
    if not guard["seccomp"] and not plan.get("sandboxed") and hasattr(os, "fork"):
        behind_a_stand_in()
    send({"event": "started", "seccomp": guard["seccomp"]})  # the learner's time starts
    try:
        spec = importlib.util.spec_from_file_location("__cnnlab_learner__", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["__cnnlab_learner__"] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # the learner's top-level code failed
        error = _error(exc, path)
        refused = _refused_in(exc)
        if refused:
            words = error["code"].replace(",", " ").split()  # name the whole module
            named = [w for w in words[1:2] if w.split(".")[0] == refused.name]
            error["refused"] = refusal(named[0]) if named else str(refused)
        printed = capture.take()
        send(
            {
                "event": "import_failed",
                "error": error,
                "seccomp": guard["seccomp"],
                "printed": printed,
            }
        )
        return 0
    defined = [n for n in plan["names"] if callable(getattr(module, n, None))]
    folder = os.path.dirname(path)
    foreign = {n: where_from(getattr(module, n), module, folder) for n in defined}
    foreign = {n: why for n, why in foreign.items() if why}
    send(
        {
            "event": "imported",
            "defined": defined,
            "foreign": foreign,
            "refused": sorted(set(guard["hook"].attempts)),
            "printed": capture.take(),
        }
    )

    for item in plan["functions"]:
        name = item["name"]
        send({"event": "start", "function": name})
        fn = getattr(module, name, None)
        if not callable(fn):
            send({"event": "done", "function": name, "missing": True, "results": []})
            continue
        if name in foreign:  # not the learner's function: it is not run
            send({"event": "done", "function": name, "foreign": foreign[name], "results": []})
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
        out = os.path.join(out_dir, f"out-{name}.npz")
        np.savez(out, **store)
        send({"event": "done", "function": name, "results": results, "printed": capture.take()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
