"""Writing a checkpoint: the epoch's model, then checkpoint.json naming it, then dropping the
previous file; promoting the last one to model.npz / model.keras; Ctrl-C held back meanwhile."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path

from cnnlab import _io
from cnnlab.training.config import MODEL_FILES
from cnnlab.training.engines import _Engine
from cnnlab.training.killpoints import _kill_point
from cnnlab.training.rundir import Run, _write_history_csv, _write_json


@contextlib.contextmanager
def _defer_sigint():
    """Hold Ctrl-C back while a checkpoint is written, then raise it.

    Each file is written atomically and checkpoint.json (written last) names the model
    file it goes with, so even a kill leaves a consistent run; deferring SIGINT keeps the
    history.csv and the deletion of the previous model file in step too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)
        if received:
            raise KeyboardInterrupt


def _epoch_file(engine: str, epochs_done: int) -> str:
    return f"model-epoch-{epochs_done:04d}{Path(MODEL_FILES[engine]).suffix}"


def _write_manifest(run: Run, model_file: str, epochs_done: int, seconds: float, history):
    _write_json(
        run.dir / "checkpoint.json",
        {
            "epochs_done": epochs_done,
            "model": model_file,
            "train_seconds": round(seconds, 3),
            "history": history,
        },
    )


def _checkpoint(
    run: Run, engine: _Engine, model, history: dict, epochs_done: int, seconds: float
) -> None:
    """The epoch's model to a new file, then checkpoint.json naming it, then drop the old one."""
    old = run.model_path
    name = _epoch_file(run.config.engine, epochs_done)
    engine.save(model, run.dir / name)
    _kill_point("weights", epochs_done)
    _write_manifest(run, name, epochs_done, seconds, history)
    _kill_point("manifest", epochs_done)
    if old.name != name:
        old.unlink(missing_ok=True)
    run.model_file = name
    run.train_seconds = seconds
    run.history = {k: list(v) for k, v in history.items()}
    run.epochs_done = epochs_done
    _write_history_csv(run.dir / "history.csv", history)


def _promote(run: Run) -> None:
    """Make the last checkpoint the run's public model file (model.npz / model.keras)."""
    final = MODEL_FILES[run.config.engine]
    src = run.model_path
    if src.name == final:
        return
    with _io.atomic_path(run.dir / final) as tmp:
        shutil.copyfile(src, tmp)
    _kill_point("promote", run.epochs_done)
    _write_manifest(run, final, run.epochs_done, run.train_seconds, run.history)
    run.model_file = final
    src.unlink(missing_ok=True)
