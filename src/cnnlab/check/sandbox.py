"""How the learner's child process is started: its command, its environment, its cleanup.

The learner's code is untrusted (a mistake, or a learner trying to fool the checker), so
the child is fenced in, in layers that each work without the others:

* **the guard**, inside the child (:mod:`._child`): an import hook refusing cnnlab,
  TensorFlow, Keras, PyTorch and JAX; resource limits (address space, CPU seconds, file
  size); and, on Linux x86-64 and ARM64, a seccomp filter that denies every system call
  that signals or traces another process and every fork (threads stay allowed). So the
  child cannot kill the checker, start a fork bomb, or leave a ``setsid`` daemon behind.
* **the sandbox**, where bubblewrap (``bwrap``) is installed and works: the child sees the
  file system read-only except its own temporary folder (whose plan, with the child's
  script, is read-only too), the user's home and the refused packages hidden, no
  network, and its own process namespace (it sees no other process, and everything in
  it dies with it).
* **the parent**, which reads the learner's source for refused imports itself, bounds
  what it reads from the child, and kills every process carrying the check's mark.
* **the environment**: a minimal one (no tokens or keys of the user's), ``HOME`` and
  ``TMPDIR`` pointing into the empty working folder, one thread per math library.

Without bubblewrap the code runs with the user's rights, and the report's first line
says so. ``CNNLAB_CHECK_SANDBOX=off`` turns the sandbox off (to compare, or where bwrap
misbehaves); the guard cannot be turned off from outside.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

#: What the child may use, whatever the machine has.
ADDRESS_SPACE = 2 * 1024**3  # bytes: a 20 GB allocation is a MemoryError
FILE_SIZE = 64 * 1024**2  # bytes: a 10 GB write stops with "File too large"

#: The environment variable that turns the sandbox off ("off"); anything else leaves it on.
SANDBOX_VARIABLE = "CNNLAB_CHECK_SANDBOX"

#: Carried by every child's environment so that leftovers can be found (see kill_leftovers).
MARK_VARIABLE = "CNNLAB_CHECK_RUN"


def new_mark() -> str:
    """A per-check token, put in the child's environment to find its processes later."""
    return secrets.token_hex(8)


def child_env(work: Path, mark: str) -> dict[str, str]:
    """The child's whole environment: nothing inherited but the locale, so no secret
    (``AWS_SECRET_ACCESS_KEY``, ``GITHUB_TOKEN``...) reaches the learner's code."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
        MARK_VARIABLE: mark,
    }


@lru_cache(maxsize=1)
def _bwrap_works(bwrap: str) -> bool:
    """True when bubblewrap can make the namespaces here (containers often forbid it)."""
    try:
        done = subprocess.run(
            [bwrap, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def sandbox_tool() -> str | None:
    """The path of a working ``bwrap``, or None (not installed, not allowed, or off)."""
    if os.environ.get(SANDBOX_VARIABLE, "").lower() in ("off", "0", "no", "false"):
        return None
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return None
    return bwrap if _bwrap_works(bwrap) else None


def _homes() -> set[str]:
    """The user's home folders (``$HOME`` and the password file's), hidden in the sandbox."""
    import pwd

    homes = {os.path.expanduser("~")}
    try:
        homes.add(pwd.getpwuid(os.getuid()).pw_dir)
    except KeyError:
        pass
    return {h for h in homes if h and os.path.isdir(h) and os.path.realpath(h) != "/"}


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip("/") + "/")


#: What the learner may not import (the same list as the child's import hook).
REFUSED = ("cnnlab", "tensorflow", "keras", "tf_keras", "torch", "jax", "jaxlib")


def hidden_packages() -> list[str]:
    """The folders of the refused packages that are installed (found, not imported)."""
    import importlib.util

    found = []
    for name in REFUSED:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for folder in (spec.submodule_search_locations or []) if spec else []:
            if os.path.isdir(folder):
                found.append(os.path.realpath(folder))
    return sorted(set(found))


def refused_in_source(path: Path) -> list[tuple[str, int]]:
    """(module, line) of each import of a refused package written in the file: ``import``
    and ``from ... import`` statements, and ``importlib.import_module`` / ``__import__``
    calls with a literal name. Read by the parent, so the file's code cannot hide it."""
    import ast

    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = getattr(func, "attr", None) or getattr(func, "id", None)
            first = node.args[0]
            if called in ("import_module", "__import__") and isinstance(first, ast.Constant):
                names = [first.value] if isinstance(first.value, str) else []
        found += [(n, node.lineno) for n in names if n.split(".")[0] in REFUSED]
    return sorted(found, key=lambda item: item[1])


def _needed(learner: Path) -> list[str]:
    """What the child must read: the learner's folder, Python, NumPy and the child script."""
    import numpy

    paths = [learner.parent, sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent]
    paths += [Path(numpy.__file__).parent.parent]
    return sorted({str(Path(p).resolve()) for p in paths})


def bwrap_command(bwrap: str, scratch: Path, work: Path, learner: Path) -> list[str]:
    """The bubblewrap prefix: everything read-only but ``scratch`` (the check's temporary
    folder; its ``plan`` read-only too), the home folders hidden (what the child needs from
    them shown again, read-only), the packages the child may not import hidden (so that
    code removing the import hook finds nothing), no network, and a process namespace of
    its own that dies with the checker."""
    cmd = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    homes = sorted(_homes())
    for home in homes:
        cmd += ["--tmpfs", home]
    for path in _needed(learner):
        if not any(_inside(path, home) for home in homes):
            continue
        if any(_inside(home, path) for home in homes):
            path = str(learner)  # the learner's folder is a home: show only the file
        cmd += ["--ro-bind", path, path]
    cmd += ["--bind", str(scratch), str(scratch), "--ro-bind", *[str(scratch / "plan")] * 2]
    hidden = hidden_packages()
    for package in hidden:
        cmd += ["--tmpfs", package]
    if any(_inside(str(learner), package) for package in hidden):
        cmd += ["--ro-bind", str(learner), str(learner)]  # the starter, checked in place
    cmd += ["--unshare-all", "--die-with-parent", "--new-session", "--chdir", str(work)]
    return [*cmd, "--"]


def kill_leftovers(mark: str) -> int:
    """SIGKILL every process of this user whose environment carries ``mark``: what the
    child started and left running (a ``setsid`` daemon), where the guard could not stop it
    from starting one. Repeated until none is left, as a process may fork while we look.
    Returns how many were killed."""
    if not os.path.isdir("/proc"):  # pragma: no cover - not Linux
        return 0
    needle = f"{MARK_VARIABLE}={mark}".encode()
    killed = 0
    for _ in range(50):
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
        if not found:
            return killed
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed
