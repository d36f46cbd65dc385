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

from cnnlab import _io
from cnnlab.errors import RunError
from cnnlab.training.config import CHECKPOINT_FILE, HISTORY_KEYS, MODEL_FILES, TrainConfig
from cnnlab.training.engines import _engine


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

    @property
    def model_path(self) -> Path:
        """The model file that holds ``epochs_done`` epochs (as checkpoint.json says)."""
        return self.dir / (self.model_file or MODEL_FILES[self.config.engine])

    @property
    def finished(self) -> bool:
        return self.metrics is not None and self.epochs_done >= self.config.epochs


def _write_json(path: Path, obj: Any) -> None:
    _io.write_text(path, json.dumps(obj, indent=2) + "\n")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not a cnnlab run ({path.name} is missing)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


def _write_history_csv(path: Path, history: dict[str, list[float]]) -> None:
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
    """history.csv -> ``{"loss": [...], ...}`` (one value per epoch)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    keys = [k for k in (rows[0].keys() if rows else []) if k != "epoch"]
    return {k: [float(r[k]) for r in rows if r[k] != ""] for k in keys}


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
    raw = _read_json(d / "config.json")
    try:
        config = TrainConfig.from_json(raw)
    except (TypeError, ValueError) as exc:
        raise RunError(f"{d / 'config.json'}: invalid run config ({exc})") from None
    names = _read_json(d / "class_names.json")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise RunError(f"{d / 'class_names.json'}: expected a list of class names")
    ckpt = _read_json(d / "checkpoint.json") if (d / "checkpoint.json").is_file() else {}
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
    metrics = _read_json(d / "metrics.json") if (d / "metrics.json").is_file() else None
    return Run(d, config, names, history, metrics, epochs_done, seconds, model_file)


def load_model(run: Run | str | os.PathLike, engine: str | None = None):
    """The run's model in ``engine`` ("keras" or "numpy"; default: the run's own engine).

    A Keras run asked for in NumPy is converted with :func:`cnnlab.nn.from_keras`
    (augmentation layers, which do nothing at inference, are left out); a NumPy
    run asked for in Keras with ``model.to_keras()``.
    """
    run = run if isinstance(run, Run) else load_run(run)
    own = run.config.engine
    engine = engine or own
    _engine(engine)
    model = _engine(own).load(run.model_path)
    _check_outputs(run, model)
    if engine == own:
        return model
    from cnnlab import nn

    if own == "keras":
        from cnnlab.keras_models import strip_augmentation

        return nn.from_keras(strip_augmentation(model))
    return model.to_keras()


def _check_outputs(run: Run, model) -> None:
    """The model's outputs must match class_names.json (mood: 1 sigmoid output, 2 names)."""
    outputs = int(model.output_shape[-1])
    names = len(run.class_names)
    expected = 1 if run.config.task == "mood" else names
    if run.config.task == "mood" and names != 2:
        raise RunError(
            f"{run.dir / 'class_names.json'}: a mood run needs 2 class names; it lists {names}"
        )
    if outputs != expected:
        raise RunError(
            f"{run.dir / 'class_names.json'}: lists {names} class names, but the model "
            f"{run.model_path.name} has {outputs} output{'s' if outputs != 1 else ''}"
            + (" (a mood model has 1)" if run.config.task == "mood" else "")
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


def _remove_leftovers(run: Run) -> None:
    """Delete temporaries and the model files checkpoint.json does not name."""
    keep = run.model_path.name
    final = MODEL_FILES[run.config.engine]
    for p in _leftovers(run.dir):
        p.unlink(missing_ok=True)
    for p in run.dir.iterdir():
        ours = p.name == final or (
            CHECKPOINT_FILE.fullmatch(p.name) and p.suffix == Path(final).suffix
        )
        if ours and p.name != keep and p.is_file():
            p.unlink(missing_ok=True)


def _discard(run: Run, created: bool) -> None:
    """Remove what a new run wrote before any epoch was kept (and its folder, if new)."""
    for p in _leftovers(run.dir):
        p.unlink(missing_ok=True)
    for name in _RUN_FILES:
        (run.dir / name).unlink(missing_ok=True)
    for p in run.dir.glob("model-epoch-*") if run.dir.is_dir() else ():
        p.unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            run.dir.rmdir()
