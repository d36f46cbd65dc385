"""A test hook: kill the process at a named point of a checkpoint write (``CNNLAB_TEST_KILL_AT``).

The reliability tests use it to show that a kill at any point leaves a consistent run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from cnnlab.training.config import CHECKPOINT_FILE

KILL_ENV = "CNNLAB_TEST_KILL_AT"
"""Test hook: ``POINT@EPOCHS`` kills the process (SIGKILL) at that point of a checkpoint write;
see :func:`kill_point`."""


def kill_point(point: str, where: Path | int) -> None:
    """Test hook for the kill tests: with ``CNNLAB_TEST_KILL_AT=POINT@N`` in the environment,
    the process kills itself (SIGKILL, as ``kill -9``) at POINT of writing checkpoint N.

    Points: ``temporary`` (the model written to its temporary, not yet renamed), ``weights``
    (model-epoch-N renamed into place, checkpoint.json not yet written), ``best`` (epoch N is
    the best so far: model-best-N copied, checkpoint.json not yet written), ``manifest``
    (checkpoint.json written, the previous model file not yet deleted), ``promote`` (the
    final model.npz / model.keras copied, checkpoint.json not yet pointed at it), ``plots``
    (the run finished and metrics.json written, its plots not yet drawn).
    """
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    if isinstance(where, Path):
        m = CHECKPOINT_FILE.fullmatch(where.name)
        if m is None:
            return
        where = int(m.group(1))
    if spec == f"{point}@{where}":
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
