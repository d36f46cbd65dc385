"""Run the real ``cnnlab`` entry point in a subprocess, as a user does, and check what they see.

Every case asserts the exit code, that stderr is one line naming the file or option (two at
most with a hint), that there is no traceback, and (with :func:`snapshot`) that the user's
files are byte-identical afterwards and no temporary file is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

CNNLAB = Path(sys.executable).with_name("cnnlab")


@dataclass
class Result:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float = 0.0

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cnnlab(
    *args,
    cwd: Path | None = None,
    timeout: float = 600,
    env: dict | None = None,
    file_kb: int | None = None,
    memory_kb: int | None = None,
) -> Result:
    """``cnnlab ARGS...`` in a subprocess (the installed console script), with stdin closed.

    ``file_kb`` / ``memory_kb`` run it under ``ulimit -f`` / ``ulimit -v`` (a file size limit
    makes a write fail half-way, as a full disk does; an address-space limit makes a large
    allocation fail).
    """
    if not CNNLAB.exists():
        pytest.fail(f"the cnnlab entry point is not installed beside {sys.executable}")
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    full_env.pop("CNNLAB_DEBUG", None)
    command = [str(CNNLAB), *map(str, args)]
    limits = [f"ulimit -f {file_kb}"] * (file_kb is not None)
    limits += [f"ulimit -v {memory_kb}"] * (memory_kb is not None)
    if limits:
        command = ["sh", "-c", "; ".join(limits) + '; exec "$0" "$@"', *command]
    t0 = time.perf_counter()
    proc = subprocess.run(
        command,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
    )
    seconds = time.perf_counter() - t0
    return Result(tuple(map(str, args)), proc.returncode, proc.stdout, proc.stderr, seconds)


def assert_user_error(result: Result, *names: str, code: int = 2, max_lines: int = 2) -> None:
    """Exit ``code``; stderr is at most ``max_lines`` lines, has no traceback, names ``names``."""
    where = f"cnnlab {' '.join(result.args)}"
    assert "Traceback" not in result.stderr, f"{where}: traceback\n{result.stderr}"
    assert result.code == code, f"{where}: exit {result.code}, wanted {code}\n{result.stderr}"
    lines = result.err_lines
    assert 1 <= len(lines) <= max_lines, f"{where}: {len(lines)} stderr lines\n{result.stderr}"
    for name in names:
        assert name in result.stderr, f"{where}: stderr does not name {name!r}\n{result.stderr}"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) -> its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def assert_unchanged(root: Path, before: dict[str, bytes]) -> None:
    """The files under ``root`` are byte-identical to ``before``, with none added."""
    after = snapshot(root)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), (
        f"{root}: added {added}, removed {removed}, changed {changed}"
    )


def temporaries(root: Path) -> list[str]:
    """Files under ``root`` that look like an atomic write's leftovers (``.name.XXXX``)."""
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob(".*")
        if p.is_file() and p.name.count(".") >= 2 and not p.name.startswith(".git")
    )


def digits_run(root: Path, engine: str) -> tuple[Path, Path]:
    """A one-epoch run of the course SIGNS model on the built-in digits in ``engine``, trained
    through the real entry point under ``root``, and a 16x16 PNG to predict: ``(run, image)``."""
    import numpy as np
    from PIL import Image

    run = root / "run"
    result = run_cnnlab(
        "train", "--engine", engine, "--model", "course", "--task", "signs",
        "--data", "digits", "--epochs", "1", "--out", run, cwd=root,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    image = root / "digit.png"
    Image.fromarray(np.full((16, 16), 200, np.uint8)).save(image)
    return run, image
