"""Writing a checkpoint: the epoch's model (and, when its validation loss is the best so far, a
copy as model-best-NNNN), then checkpoint.json naming them, then dropping the files it no longer
names; promoting the best or the last epoch to model.npz / model.keras (which then stands for
the best epoch too when it is that epoch's); Ctrl-C held back meanwhile."""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from pathlib import Path

from cnnlab import _io
from cnnlab.training.config import MODEL_FILES
from cnnlab.training.engines import Engine
from cnnlab.training.killpoints import kill_point
from cnnlab.training.rundir import (
    Run,
    best_file,
    improves,
    write_history_csv,
    write_json,
)


@contextlib.contextmanager
def defer_sigint():
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


def _write_manifest(
    run: Run,
    model_file: str,
    epochs_done: int,
    seconds: float,
    history,
    best: dict | None,
    last: str | None = None,
):
    manifest = {"epochs_done": epochs_done, "model": model_file}
    if last is not None:
        manifest["last"] = last
    if best is not None:
        manifest["best"] = best
    manifest |= {"train_seconds": round(seconds, 3), "history": history}
    write_json(run.dir / "checkpoint.json", manifest)


def _copy(src: Path, dst: Path) -> None:
    with _io.atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def _drop_unnamed(run: Run, old: set[str]) -> None:
    """Delete the model files in ``old`` that checkpoint.json no longer names."""
    for name in old - run.named_files():
        (run.dir / name).unlink(missing_ok=True)


def save_checkpoint(
    run: Run, engine: Engine, model, history: dict, epochs_done: int, seconds: float
) -> None:
    """The epoch's model to a new file (and to model-best-NNNN when its validation loss is the
    lowest so far), then checkpoint.json naming them, then drop the files it no longer names."""
    old = run.named_files()
    name = _epoch_file(run.config.engine, epochs_done)
    engine.save(model, run.dir / name)
    kill_point("weights", epochs_done)
    best = run.best
    logs = {k: v[-1] for k, v in history.items() if v}
    if improves(run, logs):
        best = {
            "epoch": epochs_done,
            "val_loss": float(logs["val_loss"]),
            "model": best_file(run.config.engine, epochs_done),
        }
        _copy(run.dir / name, run.dir / best["model"])
        kill_point("best", epochs_done)
    _write_manifest(run, name, epochs_done, seconds, history, best)
    kill_point("manifest", epochs_done)
    run.model_file, run.last_file, run.best = name, None, best
    _drop_unnamed(run, old)
    run.train_seconds = seconds
    run.history = {k: list(v) for k, v in history.items()}
    run.epochs_done = epochs_done
    write_history_csv(run.dir / "history.csv", history)


def promote_model(run: Run) -> None:
    """Make the run's model public as model.npz / model.keras: the best epoch's weights when
    ``restore_best`` asks for them (the last epoch's file is kept, named ``"last"``, so the
    run can be resumed to train longer), else the last epoch's.

    When the public model *is* the best epoch's (restored, or the last epoch was the best),
    checkpoint.json names model.npz as the best too and the model-best copy goes: a finished
    run holds one file per distinct set of weights. Should a later promotion (a resumed run,
    kept at its last epoch) replace model.npz while it is the best, the best is first copied
    back to its own model-best file and named there.
    """
    final = MODEL_FILES[run.config.engine]
    if run.model_file == final:
        return
    old = run.named_files()
    last = run.last_path.name
    restore = bool(run.config.restore_best and run.best and run.best["epoch"] < run.epochs_done)
    best = run.best
    if best is not None and best["model"] == final and not restore:
        kept = best_file(run.config.engine, best["epoch"])
        _copy(run.dir / final, run.dir / kept)
        best = best | {"model": kept}
        _write_manifest(run, run.model_file, run.epochs_done, run.train_seconds, run.history, best)
        run.best = best
    source = run.best_path if restore else run.last_path
    if source.name != final:
        _copy(source, run.dir / final)
    kill_point("promote", run.epochs_done)
    keep_last = last if restore else None
    if best is not None and (restore or best["epoch"] == run.epochs_done):
        best = best | {"model": final}
    _write_manifest(run, final, run.epochs_done, run.train_seconds, run.history, best, keep_last)
    run.model_file, run.last_file, run.best = final, keep_last, best
    _drop_unnamed(run, old)
