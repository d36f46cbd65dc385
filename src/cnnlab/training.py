"""One training runner for both engines: Keras and the NumPy engine (:mod:`cnnlab.nn`).

Both engines get the same dataset, split, seed and preprocessing (``x / 255`` as
float32 NHWC; "mood" is binary with a sigmoid output and binary cross-entropy,
"signs" multiclass with softmax and sparse categorical cross-entropy). The runner
loops over epochs itself, calling ``fit(epochs=1)`` per epoch, and writes a
checkpoint after each one, so Ctrl-C or a crash loses at most the current epoch
and :func:`resume` continues where the run stopped.

A run directory holds::

    config.json          the TrainConfig (with defaults resolved)
    class_names.json     class index -> name
    model.keras          the final Keras model (with optimizer state), or
    model.npz            the NumPy engine's final model (cnnlab.nn.save format)
    model-epoch-0003.npz the latest checkpoint's model while training (or .keras)
    checkpoint.json      the manifest: epochs done, the model file that goes with them,
                         and the history so far (rewritten every epoch)
    history.csv          loss / accuracy / val_loss / val_accuracy per epoch
    metrics.json         train, validation and test loss and accuracy at the end
    learning_curves.png  confusion_matrix.png  summary.txt

Checkpoints. ``checkpoint.json`` is the single source of truth: it names the model file
that holds exactly ``epochs_done`` epochs. After each epoch the runner writes that
epoch's model to a new file ``model-epoch-NNNN.<ext>``, then ``checkpoint.json`` naming
it, and only then deletes the previous checkpoint's file. When training ends the last
checkpoint is copied to ``model.npz`` / ``model.keras``, ``checkpoint.json`` is pointed
at it and the epoch file is removed, so a finished run holds only the public name. A kill
at any point therefore leaves a manifest whose model file exists and matches it;
:func:`resume` deletes the leftovers (a newer epoch file the manifest does not name, and
the hidden temporaries of interrupted writes) before training on. :func:`load_run`,
:func:`load_model`, evaluate, predict and show all follow the manifest. Runs written
before the manifest named its file (no ``"model"`` key) use ``model.npz`` /
``model.keras``.

Every file is written atomically (temporary name, then rename).

Exactness. Everything random in an epoch is a function of (seed, epoch), and the optimizer
state is saved with every checkpoint, so a resumed run retraces an uninterrupted one. The
NumPy engine resumes bit-identically: its shuffling order and Dropout masks are drawn from
(seed, epoch). Keras gets its global generator reseeded with ``seed + epoch`` and every
layer's own SeedGenerator (augmentation, Dropout; a .keras file does not store their state)
restarted from (seed, epoch, layer) before each epoch; on CPU a resumed Keras run has matched
an uninterrupted one bit for bit in our tests, but TensorFlow does not promise it (kernels
may sum in another order on other hardware or thread counts, and GPU kernels are not
deterministic), so the tests allow floating-point noise there.

Divergence. Training stops at the first non-finite batch loss (or non-finite weights
or validation loss at the end of an epoch); the epoch is not checkpointed, the last
finite checkpoint becomes the run's model, metrics are computed from it, and
:class:`TrainingDiverged` (a :class:`~cnnlab.errors.RunError`) says where and why. A
loss that grows past 100 times the run's first loss gets one warning.

Example:
    >>> run = train(TrainConfig(epochs=2, out="runs/demo"))     # doctest: +SKIP
    >>> run.metrics["test"]["accuracy"]                          # doctest: +SKIP
    0.97...
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _io
from cnnlab.errors import ArgumentError, CnnlabError, RunError, TrainingInterrupted
from cnnlab.keras_models import MODELS, TASKS

ENGINES = ("keras", "numpy")
MODEL_FILES = {"keras": "model.keras", "numpy": "model.npz"}
DIGITS_IMAGE_SIZE = (16, 16)
"""The built-in 8x8 digits are upscaled to this size by default: a 16x16 map leaves room for
two poolings (about 99% test accuracy against 98% at 8x8) and the default run stays well under
a minute on 2 cores."""
DEFAULT_IMAGE_SIZE = (64, 64)
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
SCHEDULES = ("constant", "cosine")
CHECKPOINT_FILE = re.compile(r"model-epoch-(\d{4,})\.(npz|keras)")
"""The name of a checkpoint's model file: ``model-epoch-0003.npz`` holds 3 epochs."""
GROWTH_WARNING = 100.0
"""A loss more than this many times the run's first loss gets one warning."""
KILL_ENV = "CNNLAB_TEST_KILL_AT"
"""Test hook: ``POINT@EPOCHS`` kills the process (SIGKILL) at that point of a checkpoint write;
see :func:`_kill_point`."""


@dataclass
class TrainConfig:
    """What to train and how. ``None`` fields are resolved when training starts.

    Attributes:
        task: "signs" (multiclass, softmax) or "mood" (binary, sigmoid).
        engine: "keras" or "numpy" (the NumPy engine, :mod:`cnnlab.nn`).
        model: "course" (the course's SIGNS / Happy model) or "recommended".
        data: a dataset name ("digits", "signs", "smiles", "synthetic"), a folder of
            class subfolders, or a course .h5 file; ``None``: "digits" for signs,
            "smiles" for mood.
        epochs: number of epochs.
        batch_size: mini-batch size.
        seed: seed of the split, the initial weights, the shuffling and augmentation.
        out: run directory; ``None``: ``runs/<task>-<model>-<engine>-<time>``.
        learning_rate: Adam's learning rate.
        image_size: ``(H, W)`` images are resized to; ``None``: 16x16 for digits, else 64x64.
        grayscale: one channel instead of RGB; ``None``: True for digits, else False.
        val_fraction, test_fraction: share of each class for validation and test.
        class_weight: weight the loss by inverse class frequency (for imbalanced data).
        augment: use the recommended model's augmentation layers (Keras only).
        schedule: learning rate per epoch: "constant", or "cosine" (from ``learning_rate``
            down towards 0 over ``epochs``, by epoch); ``None``: cosine for the recommended
            models, constant for the course's.
    """

    task: str = "signs"
    engine: str = "keras"
    model: str = "recommended"
    data: str | None = None
    epochs: int = 15
    batch_size: int = 32
    seed: int = 0
    out: str | None = None
    learning_rate: float = 1e-3
    image_size: tuple[int, int] | None = None
    grayscale: bool | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    class_weight: bool = False
    augment: bool = True
    schedule: str | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ArgumentError(
                f"task must be one of {', '.join(TASKS)}. Received: task={self.task!r}"
            )
        if self.engine not in ENGINES:
            raise ArgumentError(
                f"engine must be one of {', '.join(ENGINES)}. Received: engine={self.engine!r}"
            )
        if self.model not in MODELS:
            raise ArgumentError(
                f"model must be one of {', '.join(MODELS)}. Received: model={self.model!r}"
            )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(
                    f"{name} must be a positive integer. Received: {name}={value!r}"
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ArgumentError(
                f"seed must be a non-negative integer. Received: seed={self.seed!r}"
            )
        lr = self.learning_rate
        if isinstance(lr, bool) or not (isinstance(lr, int | float) and 0 < lr < math.inf):
            raise ArgumentError(
                f"learning_rate must be a positive finite number. Received: learning_rate={lr!r}"
            )
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise ArgumentError(
                f"schedule must be one of {', '.join(SCHEDULES)}. "
                f"Received: schedule={self.schedule!r}"
            )
        if self.image_size is not None:
            from cnnlab.data.images import normalize_image_size

            self.image_size = normalize_image_size(self.image_size)

    def resolved(self) -> TrainConfig:
        """A copy with the ``None`` defaults filled in (data, image size, grayscale)."""
        data = (
            self.data if self.data is not None else ("smiles" if self.task == "mood" else "digits")
        )
        if data not in _dataset_names():  # a path: keep it valid from any directory
            data = str(Path(data).expanduser().resolve())
        digits = data == "digits"
        size = self.image_size or (DIGITS_IMAGE_SIZE if digits else DEFAULT_IMAGE_SIZE)
        gray = self.grayscale if self.grayscale is not None else digits
        schedule = self.schedule or ("cosine" if self.model == "recommended" else "constant")
        return dataclasses.replace(
            self, data=data, image_size=tuple(size), grayscale=gray, schedule=schedule
        )

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based) under the schedule."""
        if (self.schedule or "constant") == "constant":
            return float(self.learning_rate)
        return float(self.learning_rate) * 0.5 * (1.0 + math.cos(math.pi * epoch / self.epochs))

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        if d["image_size"] is not None:
            d["image_size"] = list(d["image_size"])
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ArgumentError(f"unknown config keys: {', '.join(unknown)}")
        d = dict(d)
        if d.get("image_size") is not None:
            d["image_size"] = tuple(d["image_size"])
        return cls(**d)


def _dataset_names() -> set[str]:
    from cnnlab.data import BUILTIN, REGISTRY

    return set(BUILTIN) | set(REGISTRY)


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


# --------------------------------------------------------------------------------------
# Data


def load_data(config: TrainConfig, data: str | None = None, progress: bool | None = None):
    """The run's dataset (``data`` overrides the source), split and sized as in training."""
    from cnnlab.data import load_dataset

    cfg = config.resolved()
    return load_dataset(
        data if data is not None else cfg.data,
        image_size=cfg.image_size,
        grayscale=cfg.grayscale,
        seed=cfg.seed,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        progress=progress,
    )


def preprocess(x: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` -> float32 ``(N, H, W, C)`` in [0, 1]."""
    return np.asarray(x, dtype=np.float32) / np.float32(255.0)


def targets(y: np.ndarray, task: str) -> np.ndarray:
    """Labels as the loss wants them: float32 ``(N, 1)`` for mood, int64 ``(N,)`` for signs."""
    if task == "mood":
        return np.asarray(y, dtype=np.float32).reshape(-1, 1)
    return np.asarray(y, dtype=np.int64)


def probabilities_to_labels(probs: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs -> (predicted class index ``(N,)``, its probability ``(N,)``)."""
    probs = np.asarray(probs, dtype=np.float64)
    if task == "mood":
        p = probs.reshape(-1)
        labels = (p >= 0.5).astype(np.int64)
        return labels, np.where(labels == 1, p, 1.0 - p)
    labels = probs.argmax(axis=1).astype(np.int64)
    return labels, probs[np.arange(len(labels)), labels]


def _check_classes(task: str, n_classes: int, data: str) -> None:
    from cnnlab.errors import DatasetError

    if task == "mood" and n_classes != 2:
        raise DatasetError(
            f"{data}: task 'mood' needs exactly 2 classes (not smiling, smiling); "
            f"this dataset has {n_classes}"
        )
    if n_classes < 2:
        raise DatasetError(f"{data}: needs at least 2 classes; found {n_classes}")


# --------------------------------------------------------------------------------------
# Engines: the few things that differ between Keras and the NumPy engine


class _Engine:
    """What the runner asks of an engine; everything else is shared.

    x is float32 ``(N, H, W, C)`` in [0, 1]; y as :func:`targets` makes it.
    """

    name = ""

    def build(self, cfg: TrainConfig, input_shape, n_classes: int):
        """A new compiled model for ``cfg`` (Adam at ``cfg.learning_rate``), seeded."""
        raise NotImplementedError

    def load(self, path: Path):
        raise NotImplementedError

    def save(self, model, path: Path) -> None:
        """Write model + optimizer state atomically."""
        with _io.atomic_path(path) as tmp:
            self._write(model, tmp)
            _kill_point("temporary", path)

    def _write(self, model, path: Path) -> None:
        """Write model + optimizer state to ``path`` (the caller makes it atomic)."""
        raise NotImplementedError

    def set_seed(self, model, seed: int, epoch: int) -> None:
        """Seed the engine's randomness before epoch ``epoch`` as a function of (seed, epoch),
        so that a resumed run draws what an uninterrupted one draws (Keras only: the NumPy
        engine's fit takes the seed itself)."""

    def set_learning_rate(self, model, value: float) -> None:
        model.optimizer.learning_rate = value

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback) -> dict:
        """Train epoch ``epoch`` (0-based); return its logs (loss, accuracy, val_*)."""
        raise NotImplementedError

    def _fit_one_epoch(self, model, x, y, val, epoch, cfg, class_weight, **engine_args) -> dict:
        """The ``fit`` call both engines share (they speak the same Keras API)."""
        hist = model.fit(
            x,
            y,
            batch_size=cfg.batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=val,
            shuffle=True,
            class_weight=class_weight,
            verbose=0,
            **engine_args,
        )
        return {k: float(v[-1]) for k, v in hist.history.items()}

    def evaluate(self, model, x, y, batch_size: int) -> dict:
        res = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {"loss": float(res["loss"]), "accuracy": float(res["accuracy"])}

    def predict(self, model, x, batch_size: int) -> np.ndarray:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))

    def summary(self, model) -> str:
        raise NotImplementedError

    def conv_layers(self, model) -> list:
        return [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]

    def activations(self, model, x) -> list[tuple[str, np.ndarray]]:
        """``(conv layer name, (H, W, C) output)`` for the first image of ``x``."""
        raise NotImplementedError


class _KerasEngine(_Engine):
    name = "keras"

    def build(self, cfg, input_shape, n_classes):
        import keras

        from cnnlab.keras_models import build_model

        keras.utils.set_random_seed(cfg.seed)
        model = build_model(
            cfg.task, cfg.model, input_shape, n_classes, augment=cfg.augment, seed=cfg.seed
        )
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=_loss_name(cfg.task),
            metrics=["accuracy"],
        )
        return model

    def load(self, path):
        import zipfile

        from cnnlab.errors import ModelFileError

        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: no such model file")
        try:
            with zipfile.ZipFile(path) as archive:
                archive.getinfo("config.json")
        except (zipfile.BadZipFile, KeyError, EOFError, OSError):
            raise ModelFileError(
                f"{path}: not a Keras model archive (truncated or not a zip)"
            ) from None
        import keras  # after the cheap checks: importing TensorFlow takes seconds

        try:
            return keras.models.load_model(path, safe_mode=True)
        except Exception as exc:  # Keras raises many types for a bad file
            raise ModelFileError(f"{path}: cannot load the Keras model ({exc})") from None

    def _write(self, model, path):
        import warnings

        with warnings.catch_warnings():
            # Keras 3.x saving trips NumPy 2's __array__(copy=...) deprecation; harmless.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(path)

    def set_seed(self, model, seed, epoch):
        import keras

        keras.utils.set_random_seed(seed + epoch)
        # Layers with a seed of their own (augmentation, Dropout) draw from a SeedGenerator
        # whose state a .keras file does not keep: restart each from (seed, epoch, its index).
        flatten = getattr(model, "_flatten_layers", None)
        layers = list(flatten()) if flatten is not None else list(model.layers)
        generators = [g for layer in layers for g in getattr(layer, "_seed_generators", [])]
        for i, generator in enumerate(generators):
            start = int(np.random.SeedSequence([seed, epoch, i]).generate_state(1)[0] >> 1)
            generator.state.assign(np.array([start, 0], dtype=np.dtype(generator.state.dtype)))

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback):
        import keras

        callbacks = []
        if callback is not None:

            class _Batch(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    callback(batch + 1, logs or {})

            callbacks.append(_Batch())
        return self._fit_one_epoch(model, x, y, val, epoch, cfg, class_weight, callbacks=callbacks)

    def summary(self, model):
        lines: list[str] = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=80)
        return "\n".join(lines) + "\n"

    def activations(self, model, x):
        import keras

        convs = self.conv_layers(model)
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        probe = keras.Model(inputs=inputs, outputs=[layer.output for layer in convs])
        outs = probe(x, training=False)
        outs = outs if isinstance(outs, list | tuple) else [outs]
        return [(layer.name, np.asarray(o)[0]) for layer, o in zip(convs, outs, strict=True)]


class _BatchCallback:
    """Batch progress for the NumPy engine's fit (used when it calls on_train_batch_end)."""

    def __init__(self, fn: Callable[[int, dict], None]):
        self._fn = fn

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._fn(batch + 1, logs or {})


class _NumpyEngine(_Engine):
    name = "numpy"

    def build(self, cfg, input_shape, n_classes):
        from cnnlab import nn
        from cnnlab.numpy_models import build_model

        model = build_model(cfg.task, cfg.model, input_shape, n_classes, seed=cfg.seed)
        model.compile(
            optimizer=nn.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=_loss_name(cfg.task),
            metrics=["accuracy"],
        )
        return model

    def load(self, path):
        from cnnlab import nn

        return nn.load_model(path)

    def _write(self, model, path):
        model.save(path)  # optimizer state included

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback):
        return self._fit_one_epoch(
            model,
            x,
            y,
            val,
            epoch,
            cfg,
            class_weight,
            seed=cfg.seed,  # the order depends on (seed, epoch): resuming gives the same order
            callbacks=[_BatchCallback(callback)] if callback is not None else None,
        )

    def summary(self, model):
        lines: list[str] = []
        model.summary(print_fn=lines.append)
        return "\n".join(lines) + "\n"

    def activations(self, model, x):
        acts = model.forward_all(x, training=False)
        return [(layer.name, np.asarray(acts[layer.name])[0]) for layer in self.conv_layers(model)]


def _loss_name(task: str) -> str:
    return "binary_crossentropy" if task == "mood" else "sparse_categorical_crossentropy"


_ENGINES: dict[str, _Engine] = {"keras": _KerasEngine(), "numpy": _NumpyEngine()}


def _engine(name: str) -> _Engine:
    if name not in _ENGINES:
        raise ArgumentError(
            f"engine must be one of {', '.join(ENGINES)}. Received: engine={name!r}"
        )
    return _ENGINES[name]


# --------------------------------------------------------------------------------------
# Run directory I/O


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


# --------------------------------------------------------------------------------------
# Training


class _Progress:
    """A rich progress bar per epoch, or one plain line per epoch when not a terminal."""

    def __init__(self, enabled: bool, log: Callable[[str], None] | None):
        self.enabled = enabled
        self.log = log
        self._progress = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def epoch(self, epoch: int, epochs: int, steps: int) -> Callable[[int, dict], None] | None:
        if self._progress is None:
            return None
        task = self._progress.add_task(f"epoch {epoch + 1}/{epochs}", total=steps, stats="")
        self._task, self._steps = task, steps

        def update(step: int, logs: dict) -> None:
            stats = _stats(logs)
            self._progress.update(task, completed=step, stats=stats)

        return update

    def end_epoch(self, epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        stats = _stats(logs)
        if self._progress is not None:
            self._progress.update(self._task, completed=self._steps, stats=stats)
        elif self.log is not None:
            self.log(f"epoch {epoch + 1}/{epochs}  {stats}  ({seconds:.1f}s)")


def _stats(logs: dict) -> str:
    short = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    return "  ".join(f"{short[k]} {_short(logs[k])}" for k in HISTORY_KEYS if k in logs)


def _short(value: float) -> str:
    """4 decimals for ordinary values; 4 significant digits for huge or non-finite ones."""
    value = float(value)
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.4g}"


def _default_out(cfg: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.task}-{cfg.model}-{cfg.engine}-{stamp}"


def _class_weight(ds, enabled: bool) -> dict[int, float] | None:
    if not enabled:
        return None
    return {int(k): float(v) for k, v in dict(ds.class_weights()).items()}


class TrainingDiverged(RunError):
    """Training reached a non-finite loss and stopped; the last finite checkpoint was kept.

    Attributes:
        run: the :class:`Run` as kept (its metrics are the last finite checkpoint's), or
            ``None`` when no epoch had finished (nothing was kept).
        epoch: the 1-based epoch that diverged. batch: its 1-based batch, or ``None`` when
            the loss was finite but the weights or the validation loss were not.
    """

    def __init__(self, message: str, run: Run | None, epoch: int, batch: int | None):
        super().__init__(message)
        self.run, self.epoch, self.batch = run, epoch, batch


class _Diverged(Exception):
    """Raised from a batch callback to stop ``fit`` at the first non-finite loss."""

    def __init__(self, batch: int | None, what: str):
        super().__init__(what)
        self.batch, self.what = batch, what


class _Watch:
    """Per-batch checks: stop at a non-finite loss; warn once when the loss explodes.

    ``reference`` is the run's first loss (its first epoch's, or the first batch's).
    """

    def __init__(self, reference: float | None, warn: Callable[[str], None], lr: float):
        self.reference = reference
        self.warn = warn
        self.lr = lr
        self.warned = False

    def batch(self, step: int, logs: dict) -> None:
        if "loss" not in logs:
            return
        loss = float(np.asarray(logs["loss"]))
        if not math.isfinite(loss):
            raise _Diverged(step, f"the loss is {loss}")
        self.check_growth(loss, f"batch {step}")

    def check_growth(self, loss: float, where: str) -> None:
        if self.reference is None:
            self.reference = loss
            return
        if not self.warned and self.reference > 0 and loss > GROWTH_WARNING * self.reference:
            self.warned = True
            self.warn(
                f"the loss grew from {self.reference:.4g} to {loss:.4g} "
                f"(over {GROWTH_WARNING:g}x) by {where}; the learning rate "
                f"({self.lr:g}) is probably too high"
            )


def _warn_default(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)


def train(
    config: TrainConfig,
    *,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Run:
    """Train a new run as ``config`` says; write the run directory; return the :class:`Run`.

    Args:
        config: what to train. ``config.out`` must not already hold files.
        progress: a rich progress bar per epoch (default: when stdout is a terminal).
        log: called with one line per epoch when the bar is off, and with notices.
        warn: called with a one-line warning (a loss that grows by orders of magnitude);
            default: :func:`warnings.warn` with a ``RuntimeWarning``.

    Raises:
        ValueError: a bad option. DatasetError: the data cannot be loaded.
        RunError: ``config.out`` already holds files.
        TrainingDiverged: the loss became non-finite (the last finite checkpoint is kept).
        TrainingInterrupted: Ctrl-C; the message says what was kept. Nothing is kept when
            no epoch had finished: the new run directory is removed.
    """
    cfg = config.resolved()
    out = Path(cfg.out) if cfg.out else _default_out(cfg)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RunError(
            f"{out}: already exists and is not empty; continue it with --resume {out} "
            "or choose another --out"
        )
    cfg = dataclasses.replace(cfg, out=str(out))
    try:
        ds = load_data(cfg, progress=progress)
        _check_classes(cfg.task, ds.n_classes, cfg.data)
        engine = _engine(cfg.engine)
        model = engine.build(cfg, ds.image_shape, ds.n_classes)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            "interrupted before training started; nothing was written"
        ) from None
    created = not out.exists()
    run = Run(out, cfg, list(ds.class_names))
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "config.json", cfg.to_json())
        _write_json(out / "class_names.json", list(ds.class_names))
        _io.write_text(out / "summary.txt", engine.summary(model))
    except KeyboardInterrupt:
        _discard(run, created)
        raise TrainingInterrupted(
            f"interrupted before the first epoch; nothing was kept ({out} was removed)"
        ) from None
    return _loop(run, model, ds, progress=progress, log=log, warn=warn, created=created)


def resume(
    run_dir: str | os.PathLike,
    *,
    epochs: int | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> Run:
    """Continue a run from its last checkpoint (model, optimizer state, history, epoch).

    Everything is checked before anything is written: a refused resume leaves the run
    byte-identical. When training continues, the leftovers of an interrupted checkpoint
    write (temporaries, a model file checkpoint.json does not name) are removed first.

    Args:
        run_dir: the run directory.
        epochs: train up to this many epochs in all (default: the run's own).

    Raises:
        RunError: not a run, or nothing left to do. TrainingDiverged,
        TrainingInterrupted: as for :func:`train`.
    """
    run = load_run(run_dir)
    cfg = run.config
    if epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=epochs)  # validates epochs
    done = run.epochs_done
    if done > cfg.epochs or (done >= cfg.epochs and run.metrics is not None):
        raise RunError(
            f"{run.dir}: already trained {done} of {run.config.epochs} epochs; "
            f"pass --epochs larger than {done} to train longer"
        )
    engine = _engine(cfg.engine)
    model = engine.load(run.model_path)
    _check_outputs(run, model)
    try:
        ds = load_data(cfg, progress=progress)
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"interrupted before training; {run.dir} is unchanged") from None
    if list(ds.class_names) != run.class_names:
        raise RunError(
            f"{run.dir}: the data's classes {ds.class_names} differ from the run's "
            f"{run.class_names}"
        )
    # From here on the run changes.
    _remove_leftovers(run)
    if cfg != run.config:
        run.config = cfg
        _write_json(run.dir / "config.json", cfg.to_json())
    if log is not None:
        log(f"resuming {run.dir} after epoch {run.epochs_done}")
    return _loop(run, model, ds, progress=progress, log=log, warn=warn, created=False)


def _loop(run: Run, model, ds, *, progress: bool | None, log, warn, created: bool) -> Run:
    cfg = run.config
    engine = _engine(cfg.engine)
    x_tr, y_tr = preprocess(ds.x_train), targets(ds.y_train, cfg.task)
    val = (preprocess(ds.x_val), targets(ds.y_val, cfg.task)) if len(ds.x_val) else None
    class_weight = _class_weight(ds, cfg.class_weight)
    steps = -(-len(x_tr) // cfg.batch_size)
    enabled = sys.stdout.isatty() if progress is None else progress
    history = {k: list(v) for k, v in run.history.items()}
    first = history["loss"][0] if history.get("loss") else None
    watch = _Watch(first, warn or _warn_default, float(cfg.learning_rate))
    epoch = run.epochs_done
    try:
        _check_finite_inputs(cfg, [x_tr] if val is None else [x_tr, val[0]])
        with _Progress(enabled, log) as bar:
            for epoch in range(run.epochs_done, cfg.epochs):
                t0 = time.perf_counter()
                engine.set_seed(model, cfg.seed, epoch)
                lr = cfg.learning_rate_at(epoch)
                engine.set_learning_rate(model, lr)
                shown = bar.epoch(epoch, cfg.epochs, steps)

                def on_batch(step, logs, shown=shown):
                    watch.batch(step, logs)
                    if shown is not None:
                        shown(step, logs)

                try:
                    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                        logs = engine.fit_epoch(
                            model, x_tr, y_tr, val, epoch, cfg, class_weight, on_batch
                        )
                    _check_finite_epoch(model, logs)
                except _Diverged as exc:
                    _diverged(run, engine, ds, epoch, exc, created)
                logs["learning_rate"] = lr
                watch.check_growth(float(logs["loss"]), f"epoch {epoch + 1}")
                for k, v in logs.items():
                    history.setdefault(k, []).append(v)
                seconds = run.train_seconds + time.perf_counter() - t0
                with _defer_sigint():
                    _checkpoint(run, engine, model, history, epoch + 1, seconds)
                bar.end_epoch(epoch, cfg.epochs, logs, time.perf_counter() - t0)
        _finish(run, engine, model, ds)
    except KeyboardInterrupt:
        raise TrainingInterrupted(_interrupted_message(run, epoch, created)) from None
    except Exception:
        if run.epochs_done == 0:  # a new run that kept nothing: leave no half-made run behind
            _discard(run, created)
        raise
    return run


def _check_finite_inputs(cfg: TrainConfig, arrays) -> None:
    bad = sum(int(x.size - np.count_nonzero(np.isfinite(x))) for x in arrays)
    if bad:
        from cnnlab.errors import DatasetError

        raise DatasetError(
            f"{cfg.data}: the training and validation images hold {bad} NaN or infinite "
            "values; cnnlab trains on finite pixel values only"
        )


def _interrupted_message(run: Run, epoch: int, created: bool) -> str:
    done = run.epochs_done
    if done == 0:
        _discard(run, created)
        gone = f"{run.dir} was removed" if not run.dir.exists() else f"cleared {run.dir}"
        return (
            f"interrupted in epoch {epoch + 1}; no epoch had finished, so nothing was kept ({gone})"
        )
    where = (
        f"in epoch {epoch + 1}"
        if done < run.config.epochs
        else "while writing the final metrics and plots"
    )
    return (
        f"interrupted {where}; {done} epoch{'s' if done != 1 else ''} "
        f"{'are' if done != 1 else 'is'} saved in {run.dir}; "
        f"resume with: cnnlab train --resume {run.dir}"
    )


def _check_finite_epoch(model, logs: dict) -> None:
    """After an epoch: the loss, the validation loss and every weight must be finite."""
    for key in ("loss", "val_loss"):
        if key in logs and not math.isfinite(float(logs[key])):
            raise _Diverged(
                None, f"the {'validation ' if key == 'val_loss' else ''}loss is {float(logs[key])}"
            )
    for w in model.get_weights():
        if not np.isfinite(np.asarray(w)).all():
            raise _Diverged(None, "the weights are no longer finite")


def _diverged(run: Run, engine: _Engine, ds, epoch: int, exc: _Diverged, created) -> None:
    """Keep the last finite checkpoint as the run's model and raise TrainingDiverged."""
    cfg = run.config
    where = f"epoch {epoch + 1}, batch {exc.batch}" if exc.batch else f"epoch {epoch + 1}"
    hint = f"try a smaller --lr (now {cfg.learning_rate:g}) or check the input data for NaN/Inf"
    if run.epochs_done == 0:
        _discard(run, created)
        gone = f"{run.dir} was removed" if not run.dir.exists() else f"cleared {run.dir}"
        raise TrainingDiverged(
            f"training diverged in {where}: {exc.what}; no epoch had finished, so nothing "
            f"was kept ({gone}); {hint}",
            None,
            epoch + 1,
            exc.batch,
        )
    model = engine.load(run.model_path)
    _finish(run, engine, model, ds, diverged={"epoch": epoch + 1, "batch": exc.batch})
    raise TrainingDiverged(
        f"training diverged in {where}: {exc.what}; kept epoch {run.epochs_done}'s model "
        f"in {run.dir} (metrics.json is from it); {hint}",
        run,
        epoch + 1,
        exc.batch,
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


def _kill_point(point: str, where: Path | int) -> None:
    """Test hook for the kill tests: with ``CNNLAB_TEST_KILL_AT=POINT@N`` in the environment,
    the process kills itself (SIGKILL, as ``kill -9``) at POINT of writing checkpoint N.

    Points: ``temporary`` (the model written to its temporary, not yet renamed), ``weights``
    (model-epoch-N renamed into place, checkpoint.json not yet written), ``manifest``
    (checkpoint.json written, the previous model file not yet deleted), ``promote`` (the
    final model.npz / model.keras copied, checkpoint.json not yet pointed at it).
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


def _split_metrics(engine: _Engine, model, ds, cfg: TrainConfig) -> dict:
    metrics: dict[str, Any] = {}
    for split, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if len(x) == 0:
            metrics[name] = None
            continue
        res = engine.evaluate(model, preprocess(x), targets(y, cfg.task), cfg.batch_size)
        metrics[name] = res | {"n": len(x)}
    return metrics


def _finish(run: Run, engine: _Engine, model, ds, diverged: dict | None = None) -> None:
    from cnnlab import plots

    cfg = run.config
    _promote(run)
    # A kill after checkpoint.json but before history.csv leaves it an epoch behind.
    _write_history_csv(run.dir / "history.csv", run.history)
    metrics = _split_metrics(engine, model, ds, cfg)
    metrics["epochs"] = run.epochs_done
    metrics["train_seconds"] = round(run.train_seconds, 3)
    metrics["engine"] = cfg.engine
    metrics["model"] = cfg.model
    if diverged is not None:
        metrics["diverged"] = diverged
    _write_json(run.dir / "metrics.json", metrics)
    run.metrics = metrics
    plots.plot_learning_curves(run.history, run.dir / "learning_curves.png")
    x_eval, y_eval = (ds.x_test, ds.y_test) if len(ds.x_test) else (ds.x_val, ds.y_val)
    if len(x_eval):
        labels, _ = probabilities_to_labels(
            engine.predict(model, preprocess(x_eval), cfg.batch_size), cfg.task
        )
        title = "Confusion matrix (test set)" if len(ds.x_test) else "Confusion matrix (validation)"
        plots.plot_confusion_matrix(
            y_eval, labels, run.class_names, run.dir / "confusion_matrix.png", title=title
        )


# --------------------------------------------------------------------------------------
# Evaluate, predict, show


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | None = None,
    *,
    engine: str | None = None,
    progress: bool | None = None,
) -> dict:
    """Loss and accuracy of a run's model on each split of its data (or of ``data``).

    ``data`` (a name or path) is loaded with the run's image size, colour mode,
    seed and split fractions; its class names must equal the run's.

    Returns:
        ``{"train": {"loss", "accuracy", "n"}, "validation": {...}, "test": {...}}``
        (a split with no images is ``None``).
    """
    run = load_run(run_dir)
    eng = engine or run.config.engine
    model = load_model(run, eng)
    ds = load_data(run.config, data, progress=progress)
    if list(ds.class_names) != run.class_names:
        raise RunError(
            f"{data or run.config.data}: classes {ds.class_names} differ from the run's "
            f"{run.class_names}"
        )
    if eng != run.config.engine:
        _compile_like(model, eng, run.config)
    return _split_metrics(_engine(eng), model, ds, run.config)


def _compile_like(model, engine: str, cfg: TrainConfig) -> None:
    """Compile a model converted from the other engine, for evaluate()."""
    if engine == "keras":
        model.compile(loss=_loss_name(cfg.task), metrics=["accuracy"])
    else:
        model.compile(optimizer="adam", loss=_loss_name(cfg.task), metrics=["accuracy"])


def read_images(run: Run, paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """Image files -> float32 ``(N, H, W, C)`` in [0, 1], resized as in training.

    Raises:
        DatasetError: an image is missing, corrupt or not an image.
    """
    from cnnlab.data import decode_image

    cfg = run.config.resolved()
    if not paths:
        raise ArgumentError("give at least one image")
    arrays = [decode_image(p, cfg.image_size, grayscale=cfg.grayscale) for p in paths]
    return preprocess(np.stack(arrays))


def predict_images(
    run_dir: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    engine: str | None = None,
    errors: str = "raise",
) -> list:
    """Class name and its probability for each image (JPEG, PNG, BMP, GIF, TIFF or WebP; any size).

    Args:
        run_dir: a run directory (either engine).
        paths: image files (JPEG, PNG, BMP, ...); resized and converted as in training.
        engine: "keras" or "numpy" to run the model in (default: the run's engine).
        errors: "raise": the first image that cannot be read raises its
            :class:`~cnnlab.errors.DatasetError`; "collect": every readable image is
            predicted and each unreadable one gets its error in its place.

    Returns:
        ``[(class_name, probability), ...]``, one per path, in order; with
        ``errors="collect"`` an unreadable image's entry is its ``CnnlabError``.

    Example:
        >>> for path, r in zip(paths, predict_images(run, paths, errors="collect")):
        ...     print(r if isinstance(r, Exception) else f"{path} {r[0]} {r[1]:.2f}")
        ... # doctest: +SKIP
    """
    from cnnlab.data import decode_image

    if errors not in ("raise", "collect"):
        raise ArgumentError(f"errors must be 'raise' or 'collect'. Received: errors={errors!r}")
    if not paths:
        raise ArgumentError("give at least one image")
    run = load_run(run_dir)
    eng = engine or run.config.engine
    model = load_model(run, eng)
    cfg = run.config.resolved()
    results: list = []
    arrays: list[np.ndarray] = []
    for path in paths:
        try:
            arrays.append(decode_image(path, cfg.image_size, grayscale=cfg.grayscale))
            results.append(None)
        except CnnlabError as exc:
            if errors == "raise":
                raise
            results.append(exc)
        except OSError as exc:  # a folder, no permission, ...
            if errors == "raise":
                raise
            results.append(RunError(f"{path}: {exc.strerror or exc}"))
    if arrays:
        probs = _engine(eng).predict(model, preprocess(np.stack(arrays)), run.config.batch_size)
        labels, p = probabilities_to_labels(probs, run.config.task)
        good = iter(zip(labels, p, strict=True))
        for i, r in enumerate(results):
            if r is None:
                k, q = next(good)
                results[i] = (run.class_names[int(k)], float(q))
    return results


def show(
    run_dir: str | os.PathLike,
    image: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    engine: str | None = None,
) -> Path:
    """Draw the first conv layer's filters and every conv layer's feature maps for one image.

    The activations are computed by the run's model in ``engine`` (default: the
    run's own engine).

    Returns:
        The PNG written (default: ``RUN/show_<image stem>.png``).
    """
    from cnnlab import plots

    run = load_run(run_dir)
    x = read_images(run, [image])
    eng_name = engine or run.config.engine
    eng = _engine(eng_name)
    model = load_model(run, eng_name)
    convs = eng.conv_layers(model)
    if not convs:
        raise RunError(f"{run.dir}: the model has no Conv2D layer to show")
    kernel = np.asarray(convs[0].get_weights()[0])
    maps = eng.activations(model, x)
    probs = eng.predict(model, x, 1)
    label, p = probabilities_to_labels(probs, run.config.task)
    title = f"{Path(image).name}: {run.class_names[int(label[0])]} ({float(p[0]):.1%})"
    out = Path(out) if out is not None else run.dir / f"show_{Path(image).stem}.png"
    return plots.plot_feature_maps(x[0], maps, out, kernel=kernel, title=title)


__all__ = [
    "ENGINES",
    "MODEL_FILES",
    "Run",
    "TrainConfig",
    "TrainingDiverged",
    "evaluate_run",
    "load_model",
    "load_run",
    "predict_images",
    "read_history_csv",
    "resume",
    "show",
    "train",
]
