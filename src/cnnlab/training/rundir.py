"""The run directory on disk: :class:`Run`, reading a run (:func:`load_run`, :func:`load_model`),
its JSON and history.csv files, and the leftovers an interrupted write leaves behind.

The layout and the checkpoint rules are described in :mod:`cnnlab.training`."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no flock
    fcntl = None

from cnnlab import _io, engines
from cnnlab.errors import RunError
from cnnlab.tasks import get_task
from cnnlab.training.config import (
    BEST_FILE,
    CHECKPOINT_FILE,
    HISTORY_KEYS,
    MODEL_FILES,
    TrainConfig,
)


@dataclass
class Run:
    """A training run on disk: its directory, config, class names, history and metrics."""

    dir: Path
    config: TrainConfig
    class_names: list[str]
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict | None = None
    epochs_done: int = 0
    train_seconds: float = 0.0
    model_file: str | None = None
    """The model file checkpoint.json names (``None``: ``model.npz`` / ``model.keras``)."""
    best: dict | None = None
    """checkpoint.json's ``"best"``: ``{"epoch", "val_loss", "model"}`` (``None``: no
    validation loss yet, or a run made before the best epoch was kept)."""
    last_file: str | None = None
    """checkpoint.json's ``"last"``: the file holding ``epochs_done`` epochs when the run's
    model is not it (a finished run that restored its best epoch); ``None``: the model is."""

    @property
    def model_path(self) -> Path:
        """The run's model (as checkpoint.json says): while training, the file that holds
        ``epochs_done`` epochs; once finished, model.npz / model.keras."""
        return self.dir / (self.model_file or MODEL_FILES[self.config.engine])

    @property
    def last_path(self) -> Path:
        """The file that holds exactly ``epochs_done`` epochs: what training continues from."""
        return self.dir / self.last_file if self.last_file else self.model_path

    @property
    def best_path(self) -> Path | None:
        return self.dir / self.best["model"] if self.best else None

    @property
    def model_epoch(self) -> int:
        """The epoch whose weights :attr:`model_path` holds."""
        return int(self.best["epoch"]) if self.last_file and self.best else self.epochs_done

    def named_files(self) -> set[str]:
        """The model files checkpoint.json names (everything else model-like is a leftover)."""
        names = {self.model_path.name, self.last_path.name}
        return names | ({self.best["model"]} if self.best else set())

    @property
    def finished(self) -> bool:
        return self.metrics is not None and self.epochs_done >= self.config.epochs


def write_json(path: Path, obj: Any) -> None:
    _io.write_text(path, json.dumps(obj, indent=2) + "\n")


MAX_JSON_BYTES = 16 * 1024**2
"""The largest JSON file of a run that is read (a real one is a few kilobytes)."""
MAX_JSON_DEPTH = 32
"""The deepest nesting a run's JSON file may have (a real one has 4 levels)."""


def _depth(obj: Any, limit: int) -> int:
    """The nesting depth of parsed JSON, counted without recursion, up to ``limit + 1``."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            values = item.values() if isinstance(item, dict) else item
            stack.extend((v, level + 1) for v in values)
    return deepest


def read_json(path: Path, kind: type | tuple[type, ...] = dict) -> Any:
    """A run's JSON file, checked: at most :data:`MAX_JSON_BYTES`, nested at most
    :data:`MAX_JSON_DEPTH` levels, and of the JSON type ``kind`` at the top.

    Raises:
        RunError: naming the file and what is wrong with it (one line).
    """
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise RunError(f"{path}: {path.stat().st_size:,} bytes, too large for a run file")
        text = path.read_text(encoding="utf-8")
        obj = json.loads(text)
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not a cnnlab run ({path.name} is missing)") from None
    except RecursionError:
        raise RunError(f"{path}: nested too deeply to be a run file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None
    if _depth(obj, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise RunError(f"{path}: nested more than {MAX_JSON_DEPTH} levels, not a run file")
    if not isinstance(obj, kind):
        names = {dict: "an object", list: "a list"}
        kinds = kind if isinstance(kind, tuple) else (kind,)
        want = " or ".join(names.get(k, k.__name__) for k in kinds)
        raise RunError(f"{path}: expected {want} at the top, found {type(obj).__name__}")
    return obj


def write_history_csv(path: Path, history: dict[str, list[float]]) -> None:
    keys = [k for k in HISTORY_KEYS if k in history] + sorted(
        k for k in history if k not in HISTORY_KEYS
    )
    n = max((len(v) for v in history.values()), default=0)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for i in range(n):
        row = [i + 1] + [repr(history[k][i]) if i < len(history[k]) else "" for k in keys]
        writer.writerow(row)
    _io.write_text(path, buf.getvalue())


def read_history_csv(path: str | os.PathLike) -> dict[str, list[float]]:
    """history.csv -> ``{"loss": [...], ...}`` (one value per epoch).

    Raises:
        RunError: the file is unreadable or holds a value that is not a number.
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        keys = [k for k in (rows[0].keys() if rows else []) if k not in ("epoch", None)]
        return {k: [float(r[k]) for r in rows if r[k] not in ("", None)] for k in keys}
    except (OSError, UnicodeDecodeError, csv.Error, ValueError, TypeError) as exc:
        raise RunError(f"{path}: unreadable history ({exc})") from None


def load_run(run_dir: str | os.PathLike) -> Run:
    """Read a run directory (config, class names, checkpoint, metrics).

    Raises:
        RunError: the directory is missing, is not a run, or its files are unreadable.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise RunError(f"{d}: no such run directory")
    if not (d / "config.json").is_file():
        raise RunError(f"{d}: not a cnnlab run (config.json is missing)")
    raw = read_json(d / "config.json")
    try:
        config = TrainConfig.from_json(raw).resolved()
    except (TypeError, ValueError) as exc:
        raise RunError(f"{d / 'config.json'}: invalid run config ({exc})") from None
    names = read_json(d / "class_names.json", list)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RunError(f"{d / 'class_names.json'}: expected a list of class names")
    ckpt = read_json(d / "checkpoint.json") if (d / "checkpoint.json").is_file() else {}
    if not isinstance(ckpt, dict):
        raise RunError(f"{d / 'checkpoint.json'}: expected a JSON object")
    try:
        epochs_done = int(ckpt.get("epochs_done", 0))
        seconds = float(ckpt.get("train_seconds", 0.0))
        history = {k: [float(v) for v in vals] for k, vals in ckpt.get("history", {}).items()}
    except (TypeError, ValueError, AttributeError) as exc:
        raise RunError(f"{d / 'checkpoint.json'}: invalid checkpoint ({exc})") from None
    model_file = ckpt.get("model", MODEL_FILES[config.engine])
    suffix = Path(MODEL_FILES[config.engine]).suffix
    if not isinstance(model_file, str) or not (
        model_file == MODEL_FILES[config.engine]
        or (CHECKPOINT_FILE.fullmatch(model_file) and model_file.endswith(suffix))
    ):
        raise RunError(
            f"{d / 'checkpoint.json'}: names an unexpected model file {model_file!r} "
            f"(expected {MODEL_FILES[config.engine]} or model-epoch-NNNN{suffix})"
        )
    if not (d / model_file).is_file():
        raise RunError(f"{d}: not a complete run ({model_file} is missing)")
    best = _read_best(d, ckpt.get("best"), suffix)
    last = ckpt.get("last")
    if last is not None and not (
        isinstance(last, str) and CHECKPOINT_FILE.fullmatch(last) and last.endswith(suffix)
    ):
        raise RunError(
            f"{d / 'checkpoint.json'}: names an unexpected last model file {last!r} "
            f"(expected model-epoch-NNNN{suffix})"
        )
    if last is not None and not (d / last).is_file():
        raise RunError(f"{d}: not a complete run ({last} is missing)")
    metrics = read_json(d / "metrics.json") if (d / "metrics.json").is_file() else None
    for split in ("train", "validation", "test"):
        value = (metrics or {}).get(split)
        if value is not None and not (
            isinstance(value, dict) and isinstance(value.get("accuracy", 0.0), int | float)
        ):
            raise RunError(f"{d / 'metrics.json'}: {split!r} must be an object with an accuracy")
    return Run(d, config, names, history, metrics, epochs_done, seconds, model_file, best, last)


def _read_best(d: Path, best: Any, suffix: str) -> dict | None:
    """checkpoint.json's ``"best"``, checked: an epoch, its validation loss, its file."""
    if best is None:
        return None
    try:
        epoch, val_loss, name = int(best["epoch"]), float(best["val_loss"]), best["model"]
    except (TypeError, ValueError, KeyError) as exc:
        raise RunError(f"{d / 'checkpoint.json'}: invalid best epoch ({exc!r})") from None
    m = BEST_FILE.fullmatch(name) if isinstance(name, str) else None
    public = name == f"model{suffix}"  # a finished run whose model is the best epoch's
    if not public and (m is None or int(m.group(1)) != epoch or not name.endswith(suffix)):
        raise RunError(
            f"{d / 'checkpoint.json'}: names an unexpected best model file {name!r} "
            f"(expected model-best-{epoch:04d}{suffix} or model{suffix})"
        )
    if not (d / name).is_file():
        raise RunError(f"{d}: not a complete run ({name} is missing)")
    return {"epoch": epoch, "val_loss": val_loss, "model": name}


def best_file(engine: str, epoch: int) -> str:
    return f"model-best-{epoch:04d}{Path(MODEL_FILES[engine]).suffix}"


def improves(run: Run, logs: dict) -> bool:
    """Whether this epoch's validation loss beats the best so far (strictly lower)."""
    if "val_loss" not in logs:
        return False
    return run.best is None or float(logs["val_loss"]) < run.best["val_loss"]


def stopped_early(config: TrainConfig, run: Run) -> dict | None:
    """``{"epoch", "patience", "best_epoch"}`` when ``config.patience`` epochs have passed
    since the best one before all ``config.epochs`` were done; else ``None``."""
    p = config.patience
    if p is None or run.best is None or run.epochs_done >= config.epochs:
        return None
    if run.epochs_done - run.best["epoch"] < p:
        return None
    return {"epoch": run.epochs_done, "patience": p, "best_epoch": run.best["epoch"]}


def epoch_metrics(history: dict[str, list[float]], epoch: int) -> dict:
    """History row ``epoch`` (1-based) as ``{"epoch": epoch, "loss": ..., ...}``."""
    row = {k: history[k][epoch - 1] for k in HISTORY_KEYS if len(history.get(k, [])) >= epoch}
    return {"epoch": epoch, **row}


def load_model(run: Run | str | os.PathLike, engine: str | None = None):
    """The run's model, to run (not to train on: the optimizer's state is not read).

    Args:
        engine: ``None``: the NumPy engine wherever it can run the model, so no TensorFlow
            is imported for a Keras run (see :func:`cnnlab.engines.load_model`);
            ``"keras"`` or ``"numpy"``: that engine (a NumPy run in Keras through
            ``to_keras()``). :func:`cnnlab.engines.engine_of` tells which one came back.
    """
    run = run if isinstance(run, Run) else load_run(run)
    model = engines.load_model(run.model_path, engine)
    check_outputs(run, model)
    return model


def check_outputs(run: Run, model) -> None:
    """The model's outputs must match class_names.json (mood: 1 sigmoid output, 2 names)."""
    outputs = int(model.output_shape[-1])
    names = len(run.class_names)
    task = get_task(run.config.task)
    if task.n_classes is not None and names != task.n_classes:
        raise RunError(
            f"{run.dir / 'class_names.json'}: a {task.name} run needs {task.n_classes} class "
            f"names; it lists {names}"
        )
    if outputs != task.output_units(names):
        raise RunError(
            f"{run.dir / 'class_names.json'}: lists {names} class names, but the model "
            f"{run.model_path.name} has {outputs} output{'s' if outputs != 1 else ''}"
            + (f" (a {task.name} model has 1)" if task.binary else "")
        )


_RUN_FILES = (
    "config.json",
    "class_names.json",
    "summary.txt",
    "checkpoint.json",
    "history.csv",
    "metrics.json",
    "learning_curves.png",
    "confusion_matrix.png",
    *MODEL_FILES.values(),
)


def _leftovers(run_dir: Path) -> list[Path]:
    """Hidden temporaries that interrupted atomic writes of the run's files left behind."""
    found: list[Path] = []
    for name in _RUN_FILES:
        found += _io.stale_temporaries(run_dir, name)
    for p in run_dir.iterdir() if run_dir.is_dir() else ():
        # Model checkpoints (model-epoch-NNNN.ext) and nested temporaries (".." + name).
        bare = p.name.lstrip(".")
        if p.name.startswith(".") and p.is_file() and bare.startswith("model"):
            found.append(p)
    return sorted(set(found))


def remove_leftovers(run: Run) -> None:
    """Delete temporaries and the model files checkpoint.json does not name."""
    keep = run.named_files()
    final = MODEL_FILES[run.config.engine]
    for p in _leftovers(run.dir):
        p.unlink(missing_ok=True)
    for p in run.dir.iterdir():
        ours = p.name == final or (
            (CHECKPOINT_FILE.fullmatch(p.name) or BEST_FILE.fullmatch(p.name))
            and p.suffix == Path(final).suffix
        )
        if ours and p.name not in keep and p.is_file():
            p.unlink(missing_ok=True)


def discard_run(run: Run, created: bool) -> None:
    """Remove what a new run wrote before any epoch was kept (and its folder, if new)."""
    for p in _leftovers(run.dir):
        p.unlink(missing_ok=True)
    for name in _RUN_FILES:
        (run.dir / name).unlink(missing_ok=True)
    for pattern in ("model-epoch-*", "model-best-*"):
        for p in run.dir.glob(pattern) if run.dir.is_dir() else ():
            p.unlink(missing_ok=True)
    if (run.dir / "tensorboard").is_dir():
        import shutil

        shutil.rmtree(run.dir / "tensorboard", ignore_errors=True)
    if created:
        with contextlib.suppress(OSError):
            run.dir.rmdir()


LOCK_FILE = ".cnnlab.lock"
"""The file a training process holds an exclusive lock on (``flock``) while it writes a run:
it names the process. The kernel releases the lock when the process ends, however it ends,
so a run whose trainer was killed is never blocked by a stale file."""

START_FILES = frozenset({"config.json", "class_names.json", "summary.txt", LOCK_FILE})
"""What a new run writes before its first epoch ends: a folder holding only these (and
temporaries) is the start of a run that was stopped before it kept anything."""


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold ``run_dir`` for this process while the block runs.

    Raises:
        RunError: another process holds it (``cnnlab train`` or ``--resume`` of the same
            folder), naming that process.
    """
    if fcntl is None:  # pragma: no cover - no flock on this platform: no lock
        yield
        return
    path = Path(run_dir) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode("utf-8", "replace").strip()
        os.close(fd)
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise RunError(
            f"{run_dir}: in use by {who}, which is training this run; wait for it to end "
            "or choose another --out"
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def unstarted(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds only the start of a run that kept no epoch (and stale
    temporaries): what ``kill -9`` before the first checkpoint leaves."""
    names = {p.name for p in run_dir.iterdir()} - {p.name for p in _leftovers(run_dir)}
    return bool(names) and names <= START_FILES
