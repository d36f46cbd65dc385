"""Which processes are still alive after a check, read from /proc (for the tests that assert
a check leaves none behind)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def live_processes(matches: Callable[[list[bytes]], bool]) -> list[int]:
    """The pids of live processes (zombies aside) whose environment (its ``NAME=value``
    entries) ``matches``."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if matches(environ.split(b"\0")) and state != "Z":
            found.append(int(entry))
    return found
