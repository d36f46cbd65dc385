"""Run the learner's functions in a separate process, with a time limit per function.

The parent writes the inputs of every case (``inputs.npz`` and ``plan.json``, no pickle)
and a copy of ``_child.py`` into ``plan/`` of a fresh temporary folder, and starts
``python -I plan/_child.py plan out`` with the working directory set to the empty
``work/`` beside them, a minimal environment, and inside bubblewrap where it works (see
:mod:`.sandbox`). The child installs its guard, imports only NumPy and the learner's file,
calls each function on each case, and reports back one function at a time. When a
function runs past its time limit (an endless loop, say), the parent kills the child's
whole process group and every process carrying the check's mark, records the timeout, and
starts a fresh child for the functions still to run. A child that dies, or kills what it
can, is a verdict for the function it was running, never the end of the check. No process
is left behind, and the temporary folder is removed.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.check import _child, sandbox
from cnnlab.check.cases import FUNCTIONS, Case
from cnnlab.errors import ArgumentError, CnnlabError

CHILD = Path(_child.__file__)

#: The child installs its seccomp filter (see :mod:`.sandbox`); the tests turn it off to
#: check what happens where the system has none.
SECCOMP = True

#: Seconds the child may take to start Python, NumPy and the sandbox before the learner's
#: file is imported: not the learner's time, and slow on a loaded machine.
START_LIMIT = 60.0

#: The longest line the child may send (its events are a few kilobytes).
LINE_LIMIT = 16 * 2**20


class CheckError(CnnlabError):
    """The check cannot run: a missing file, a syntax error, an unknown function name."""


@dataclass
class Outcome:
    """What one call of the learner's function gave back."""

    value: Any = None
    error: dict | None = None  # type, message, line, code, in, not_implemented
    args_after: Any = None
    seconds: float = 0.0


@dataclass
class RawResult:
    """One function's run: ``status`` is "ran", "missing", "timeout", "import failed",
    "import timeout", "crashed" or "foreign" (not the learner's function; ``error``'s
    message says whose it is)."""

    name: str
    status: str
    outcomes: list[Outcome] = field(default_factory=list)
    printed: dict = field(default_factory=lambda: {"text": "", "total": 0})
    error: dict | None = None
    seconds: float = 0.0


@dataclass
class RunResult:
    defined: list[str]
    functions: dict[str, RawResult]
    import_printed: dict = field(default_factory=lambda: {"text": "", "total": 0})
    sandboxed: bool = False  # bubblewrap: read-only file system, no network
    seccomp: bool = False  # the child could not signal, trace or fork
    refused: list[str] = field(default_factory=list)  # refused imports the file caught


def check_timeout(timeout) -> float:
    """The per-function time limit as a float: positive and finite, or an ArgumentError
    (``inf`` would overflow the CPU limit and never end an endless loop)."""
    try:
        value = float(timeout)
    except (TypeError, ValueError):
        raise ArgumentError(f"timeout must be a number of seconds. Received: {timeout!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ArgumentError(
            f"timeout must be a positive, finite number of seconds. Received: timeout={timeout!r}"
        )
    return value


def check_syntax(path: Path) -> None:
    """Compile (not run) the learner's file: a :class:`CheckError` names ``file:line``."""
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise CheckError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckError(f"{path}: is a folder, not a Python file") from None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"{path}:{exc.lineno}" if exc.lineno else str(path)
        kind = type(exc).__name__
        raise CheckError(f"{where}: {kind}: {exc.msg}") from None
    except ValueError as exc:  # null bytes in the source
        raise CheckError(f"{path}: not a Python source file ({exc})") from None


def _kill(proc: subprocess.Popen) -> None:
    """End the child and everything it started (its own process group)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait()


class _Child:
    """One child process and a thread that reads its JSON lines into a queue."""

    def __init__(self, plan_dir: Path, out: Path, work: Path, prefix: list[str]) -> None:
        self.mark = sandbox.new_mark()
        self.stderr_path = out.parent / "child-stderr.txt"
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [
                    *prefix,
                    sys.executable,
                    "-I",
                    str(plan_dir / CHILD.name),
                    str(plan_dir),
                    str(out),
                ],
                cwd=work,
                env=sandbox.child_env(work, self.mark),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=hasattr(os, "killpg"),
            )
        self.events: queue.Queue = queue.Queue()
        self.flooded = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Read the child's events. A line longer than LINE_LIMIT (code writing to the
        checker's channel, file descriptor and all) ends the reading: the child is then
        killed as a crash, and the checker's memory stays bounded."""
        while line := self.proc.stdout.readline(LINE_LIMIT):
            if not line.endswith(b"\n") and len(line) >= LINE_LIMIT:
                self.flooded = True
                break
            try:
                self.events.put(json.loads(line))
            except ValueError:
                continue
        self.events.put(None)

    def next(self, timeout: float) -> dict | None | str:
        """The next event, None when the child ended, "timeout" when it took too long."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return "timeout"

    def stop(self) -> str:
        """Kill the child and all it started; the last line it wrote on stderr (why it
        died, if it did)."""
        _kill(self.proc)
        sandbox.kill_leftovers(self.mark)
        self.reader.join(timeout=5)  # the pipe ends with the process group
        if not self.reader.is_alive():
            self.proc.stdout.close()
        try:
            lines = self.stderr_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        if self.flooded:
            return f"it wrote over {LINE_LIMIT // 2**20} MiB in one line to the checker's channel"
        return lines[-1] if lines else f"exit code {self.proc.returncode}"


def run_isolated(path: Path, cases: dict[str, list[Case]], timeout: float) -> RunResult:
    """Call the learner's functions in ``path`` on ``cases`` (name -> cases) in a child."""

    timeout = check_timeout(timeout)
    path = Path(path).resolve()
    bwrap = sandbox.sandbox_tool()
    with tempfile.TemporaryDirectory(prefix="cnnlab-check-") as tmp:
        plan_dir, out, work = Path(tmp) / "plan", Path(tmp) / "out", Path(tmp) / "work"
        for folder in (plan_dir, out, work):
            folder.mkdir()
        shutil.copy(CHILD, plan_dir / CHILD.name)  # in the sandbox, the package is hidden
        prefix = sandbox.bwrap_command(bwrap, Path(tmp), work, path) if bwrap else []
        store: dict[str, np.ndarray] = {}
        plan = {
            "file": str(path),
            "names": list(FUNCTIONS),
            "functions": [],
            "timeout": timeout,
            "seccomp": SECCOMP,
            "sandboxed": bool(bwrap),
        }
        for name, group in cases.items():
            encoded = [
                {
                    "args": _child.encode(list(c.args), store, "i"),
                    "kwargs": _child.encode(c.kwargs, store, "i"),
                }
                for c in group
            ]
            plan["functions"].append({"name": name, "cases": encoded})
        np.savez(plan_dir / "inputs.npz", **store)

        results: dict[str, RawResult] = {}
        defined: list[str] = []
        import_printed = {"text": "", "total": 0}
        seccomp, refused = False, []
        remaining = list(cases)
        while remaining:
            plan["functions"] = [f for f in plan["functions"] if f["name"] in remaining]
            (plan_dir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
            child = _Child(plan_dir, out, work, prefix)
            try:
                event = child.next(START_LIMIT)
                if isinstance(event, dict) and event.get("event") == "started":
                    seccomp = bool(event.get("seccomp"))
                    event = child.next(timeout)  # the import is the learner's time
                if event == "timeout" or event is None or event["event"] == "import_failed":
                    last = child.stop()
                    error, printed = None, None
                    if event == "timeout":
                        status = "import timeout"
                    elif event is None:
                        status, error = "crashed", {"type": "crash", "message": last}
                    else:
                        status, error, printed = "import failed", event["error"], event["printed"]
                    for name in remaining:
                        results[name] = RawResult(name, status, error=error)
                        if printed:
                            results[name].printed = printed
                    break
                defined = event["defined"]
                refused = sorted(set(refused) | set(event.get("refused", [])))
                import_printed = event.get("printed", import_printed)
                remaining = _collect(child, out, remaining, results, timeout)
            finally:
                child.stop()
        functions = {n: results[n] for n in cases}
        return RunResult(defined, functions, import_printed, bool(bwrap), seccomp, refused)


def _collect(child: _Child, out: Path, names: list[str], results, timeout: float):
    """Read the child's results function by function; the names still to run after a
    timeout or a crash (an empty list when all ran)."""
    for k, name in enumerate(names):
        t0 = time.perf_counter()
        event = child.next(timeout)  # "start"
        if isinstance(event, dict) and event.get("event") == "start":
            event = child.next(max(0.01, timeout - (time.perf_counter() - t0)))
        seconds = time.perf_counter() - t0
        if event == "timeout":
            results[name] = RawResult(name, "timeout", seconds=seconds)
            child.stop()
            return names[k + 1 :]
        if event is None or event.get("function") != name:
            last = child.stop()
            error = {"type": "crash", "message": last}
            results[name] = RawResult(name, "crashed", error=error, seconds=seconds)
            return names[k + 1 :]
        if event.get("missing"):
            results[name] = RawResult(name, "missing")
            continue
        if event.get("foreign"):
            error = {"type": "foreign", "message": event["foreign"]}
            results[name] = RawResult(name, "foreign", error=error)
            continue
        with np.load(out / f"out-{name}.npz", allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        outcomes = []
        for r in event["results"]:
            if "error" in r:
                outcomes.append(Outcome(error=r["error"], seconds=r["seconds"]))
            else:
                outcomes.append(
                    Outcome(
                        value=_child.decode(r["value"], arrays),
                        args_after=_child.decode(r["args_after"], arrays),
                        seconds=r["seconds"],
                    )
                )
        results[name] = RawResult(
            name,
            "ran",
            outcomes,
            printed=event.get("printed", {}),
            seconds=sum(o.seconds for o in outcomes),
        )
    return []
