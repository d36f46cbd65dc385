"""Where the studio's models come from: a run folder (:class:`RunSource`) or a model file
cnnlab did not train (:class:`ModelFile`: ``cnnlab studio --model FILE``,
:func:`cnnlab.studio.show`), behind one interface.

The explorer and the runs view talk to a *source*: a run's attributes (``config``,
``class_names``, ``model_path``, ``history``, ``metrics``, ...) and five methods,
``load_model()``, ``dataset()``, ``interpretation(model, ds)``, ``updated()`` and
``files()``. A model file answers them as a run with no training: no history, no metrics,
preprocess "none", its image size and channels from the model's input shape, its classes
from ``--data`` (class folders, whose images become its test samples), ``--classes`` or the
output indices. Its images are scaled to [0, 1] float32, as cnnlab's runs are.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data import load_split
from cnnlab.data.prepare import scale_pixels
from cnnlab.data.source import SplitSpec
from cnnlab.engines import engine_of
from cnnlab.engines import load_model as load_model_file
from cnnlab.errors import ArgumentError, CnnlabError, EngineNote, ModelFileError, RunError
from cnnlab.interpret import Interpretation
from cnnlab.nn import load_keras_h5
from cnnlab.training import load_model as load_run_model
from cnnlab.training.engines import get_engine
from cnnlab.training.rundata import load_data

__all__ = ["MODEL_SUFFIXES", "Images", "ModelConfig", "ModelFile", "RunSource", "open_model"]

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5", ".npz")
"""The model files the studio opens: Keras 3 archives, legacy Keras HDF5, cnnlab.nn's npz."""
BATCH = 64


def mtime_ns(path: Path) -> int:
    """``path``'s modification time in ns, 0 when it is gone (a cache key part)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RunSource:
    """A run folder as the studio sees it: the :class:`~cnnlab.training.rundir.Run`'s
    attributes, and the source interface."""

    source = "run"
    labelled = True

    def __init__(self, run):
        self.run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self.run, name)

    def load_model(self):
        return load_run_model(self.run)

    def dataset(self):
        return load_data(self.run.config, progress=False)

    def interpretation(self, model, ds) -> Interpretation:
        return Interpretation.from_run(self.run.dir, "test", model=model, dataset=ds)

    def updated(self) -> float:
        return mtime_ns(self.run.dir / "checkpoint.json") / 1e9

    def files(self) -> list[str]:
        return sorted(
            p.name
            for p in self.run.dir.iterdir()
            if p.is_file() and p.suffix in (".png", ".json", ".csv", ".txt")
        )

    def label(self, y: Any) -> str:
        return self.run.class_names[int(y)]


@dataclasses.dataclass
class ModelConfig:
    """What the studio reads from a run's config, for a model file."""

    task: str
    engine: str
    data: str
    image_size: tuple[int, int]
    grayscale: bool
    model: str = "file"
    preprocess: str = "none"
    epochs: int = 0
    batch_size: int = BATCH

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"image_size": list(self.image_size)}


@dataclasses.dataclass
class Images:
    """A model file's sample images, all in the test split; ``y_test`` is -1 where unlabelled."""

    class_names: list[str]
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self) -> None:
        empty = self.x_test[:0]
        self.x_train = self.x_val = empty
        self.y_train = self.y_val = self.y_test[:0]


def open_model(path: str | os.PathLike):
    """The model in ``path`` (``.keras``, legacy ``.h5``/``.hdf5``, cnnlab.nn's ``.npz``),
    in the NumPy engine where it can run it (else Keras, with an
    :class:`~cnnlab.errors.EngineNote`).

    Raises:
        ModelFileError: a missing file, another kind of file, or one that cannot be read;
            one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a model file" if path.is_dir() else "no such model file"
        raise ModelFileError(f"{path}: {what}")
    suffix = path.suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(
            f"{path}: not a model file (the studio opens {', '.join(MODEL_SUFFIXES)} files)"
        )
    try:
        if suffix in (".h5", ".hdf5"):
            return _open_h5(path)
        return load_model_file(path)
    except CnnlabError as exc:
        raise ModelFileError(_first_line(exc)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: cannot read the model ({_first_line(exc)})") from None


def _open_h5(path: Path):
    try:
        return load_keras_h5(path)
    except ArgumentError as exc:  # a layer cnnlab.nn lacks: Keras reads the file itself
        warnings.warn(
            f"{path}: opened with Keras, as the NumPy engine cannot run it ({exc})",
            EngineNote,
            stacklevel=3,
        )
    import keras

    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ModelFileError(f"{path}: cannot load the Keras model ({_first_line(exc)})") from None


def image_input(model, path: Path) -> tuple[tuple[int, int], int]:
    """``((H, W), C)`` of an image model's input; one line naming ``path`` otherwise."""
    shape = model.input_shape
    if isinstance(shape, list):
        if len(shape) != 1:
            raise ModelFileError(
                f"{path}: the model takes {len(shape)} inputs; the studio gives it one image"
            )
        shape = shape[0]
    shape = tuple(shape)[1:]
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise ModelFileError(
            f"{path}: not an image model: its input is {_shape(shape)}, the studio needs "
            "(height, width, 1 or 3 channels)"
        )
    if shape[0] is None or shape[1] is None:
        raise ModelFileError(
            f"{path}: its input size is not fixed ({_shape(shape)}): the studio needs the "
            "height and width the model was made for"
        )
    return (int(shape[0]), int(shape[1])), int(shape[2])


def class_outputs(model, path: Path) -> int:
    """How many output units the model has (a class probability each, or 1: a sigmoid)."""
    shape = model.output_shape
    shape = shape[0] if isinstance(shape, list) and len(shape) == 1 else shape
    if not isinstance(shape, tuple) or len(shape) != 2 or not shape[1]:
        raise ModelFileError(
            f"{path}: its output is {_shape(shape)}; the studio shows the class probabilities "
            "of a (batch, classes) output"
        )
    return int(shape[1])


def model_shape(model, path: Path) -> tuple[tuple[int, int], int, int, int]:
    """``((H, W), channels, outputs, classes)`` of an image classifier (2 classes for one
    sigmoid output); one line naming ``path`` when it is not one."""
    size, channels = image_input(model, path)
    outputs = class_outputs(model, path)
    return size, channels, outputs, 2 if outputs == 1 else outputs


def _shape(shape: Any) -> str:
    if not isinstance(shape, tuple):
        return str(shape)
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class ModelFile:
    """A model file cnnlab did not train, as a run with no training history.

    Args:
        path: the model file (see :data:`MODEL_SUFFIXES`).
        data: a folder of class folders: its classes are the model's (matched by count, in
            sorted order, as ``cnnlab evaluate --data`` reads them) and its images the
            explorer's samples (and, labelled, the confusion matrix and top losses).
        classes: the class names, one per output (2 for a single sigmoid output).
        images: sample images without labels, (N, H, W, C) uint8 0..255 or float 0..1.
        name: the name the studio lists (default: the file's name).

    Raises:
        ModelFileError: the file is missing, unreadable, or not an image classifier.
        ArgumentError: ``data``/``classes`` do not match the model's outputs; bad ``images``.
    """

    source = "model"
    history: dict = {}
    metrics = None
    epochs_done = 0
    train_seconds = 0.0
    best = None
    last_file = None
    model_epoch = 0
    finished = True

    def __init__(self, path, *, data=None, classes=None, images=None, name: str | None = None):
        self.path = self.model_path = Path(path).expanduser().resolve()
        self.dir = self.path.parent
        self.name = name or self.path.name
        shown = Path(path)
        self._model = open_model(shown)
        self._key = mtime_ns(self.path)
        self._shape = model_shape(self._model, shown)
        size, channels, outputs, n_classes = self._shape
        self.config = ModelConfig(
            task="mood" if outputs == 1 else "signs",
            engine=engine_of(self._model),
            data="no data",
            image_size=size,
            grayscale=channels == 1,
        )
        self.labelled = data is not None
        if data is not None:
            self._images = self._read_data(data, n_classes, shown)
            self.config.data = os.fspath(data)
        else:
            names = [str(k) for k in range(n_classes)] if classes is None else list(classes)
            if len(names) != n_classes or not all(isinstance(n, str) and n for n in names):
                raise ArgumentError(
                    f"classes: {shown} has {n_classes} classes"
                    + (" (one sigmoid output)" if outputs == 1 else "")
                    + f"; give {n_classes} names. Received: {names!r}"
                )
            x = _as_images(images, size, channels)
            self._images = Images(names, x, np.full(len(x), -1, dtype=np.int64))
            if images is not None:
                self.config.data = "images"
        if classes is not None and data is not None:
            self._check_names(list(classes))
        self.class_names = list(self._images.class_names)

    def _read_data(self, data, n_classes: int, shown: Path) -> Images:
        spec = SplitSpec(
            image_size=self.config.image_size,
            grayscale=self.config.grayscale,
            val_fraction=0.0,
            test_fraction=0.0,
        )
        ds = load_split(os.fspath(data), spec, progress=False)
        if len(ds.class_names) != n_classes:
            raise ArgumentError(
                f"--data {data}: {len(ds.class_names)} class folders "
                f"({', '.join(ds.class_names)}), but {shown} has {n_classes} classes"
            )
        x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
        y = np.concatenate([ds.y_train, ds.y_val, ds.y_test]).astype(np.int64)
        return Images(list(ds.class_names), x, y)

    def _check_names(self, classes: list[str]) -> None:
        if classes != list(self._images.class_names):
            raise ArgumentError(
                f"--classes {','.join(classes)} differ from the class folders of --data "
                f"({', '.join(self._images.class_names)}); give one of them"
            )

    # ---- the source interface ------------------------------------------------------------
    def load_model(self):
        """The model; read again when its file changed (a notebook saved a newer one)."""
        key = mtime_ns(self.path)
        if key != self._key:
            model = open_model(self.path)
            if model_shape(model, self.path) != self._shape:
                raise ModelFileError(
                    f"{self.path}: the file now holds a model with another input or number of "
                    "classes; restart the studio to open it"
                )
            self._model, self._key = model, key
        return self._model

    def dataset(self) -> Images:
        return self._images

    def interpretation(self, model, ds: Images) -> Interpretation:
        if not self.labelled:
            raise RunError(
                f"{self.name}: no labelled images to measure it on; start the studio with "
                "--data DIR (a folder of class folders) to see its confusion matrix"
            )
        if len(ds.x_test) == 0:
            raise RunError(f"{self.name}: --data {self.config.data} holds no images")
        probs = get_engine(engine_of(model)).predict(model, scale_pixels(ds.x_test), BATCH)
        return Interpretation(
            list(self.class_names), ds.y_test, probs, images=ds.x_test, model=model
        )

    def updated(self) -> float:
        return mtime_ns(self.path) / 1e9

    def files(self) -> list[str]:
        return []

    def label(self, y: Any) -> str:
        return self.class_names[int(y)] if int(y) >= 0 else ""


def _as_images(images, size: tuple[int, int], channels: int) -> np.ndarray:
    """``images`` (None or an array) as uint8 (N, H, W, C) of the model's size."""
    if images is None:
        return np.zeros((0, *size, channels), dtype=np.uint8)
    x = np.asarray(images)
    if x.ndim == 3 and channels == 1:
        x = x[..., None]
    if x.ndim != 4 or x.shape[1:] != (*size, channels):
        raise ArgumentError(
            f"images must be (N, {size[0]}, {size[1]}, {channels}) for this model. "
            f"Received: shape {x.shape}"
        )
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ArgumentError("images must be finite numbers: uint8 0..255 or float 0..1")
    if x.min() < 0 or x.max() > 1:
        raise ArgumentError(
            f"float images must lie in 0..1 (uint8 for 0..255). Received: "
            f"{float(x.min()):g}..{float(x.max()):g}"
        )
    return np.round(x * 255).astype(np.uint8)
