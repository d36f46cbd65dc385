"""Export a run's model for serving: a ``.keras`` file, a TensorFlow SavedModel, ONNX or LiteRT.

Every format goes through the run's model in Keras: a Keras run's own model, a NumPy run's
model converted with ``model.to_keras()`` (:func:`cnnlab.training.load_model` with
``"keras"``); augmentation layers, which do nothing at inference, are left out. Keras writes
the artifact itself (``model.save`` for ``keras``, ``Model.export(path, format=...)`` for the
others), so the exported model is exactly the network Keras runs:

==================  ==============================  ===========================================
format              default output (in the run)     runtime that reads it back
==================  ==============================  ===========================================
``keras``           ``export/keras.keras``          ``keras.saving.load_model``
``tf_saved_model``  ``export/tf_saved_model/``      ``tf.saved_model.load(path).serve(x)``
``onnx``            ``export/onnx.onnx``            ``onnxruntime.InferenceSession``
``litert``          ``export/litert.tflite``        the LiteRT (TensorFlow Lite) interpreter
==================  ==============================  ===========================================

``onnx`` needs the optional extra ``cnnlab[onnx]`` (tf2onnx and onnx convert, onnxruntime runs
the file); without it the export stops with one line saying how to install it. ``litert``
needs nothing beyond TensorFlow: Keras converts with ``tf.lite.TFLiteConverter`` and
TensorFlow's ``tf.lite.Interpreter`` runs the file (the separate ``ai-edge-litert`` package is
the interpreter Google now recommends for devices; it is not needed here).

Every exported model takes float32 NHWC images scaled as the run was trained (pixels / 255, in
[0, 1]; a face run expects the face already found and cropped) and returns the probabilities:
``(N, 1)`` of the second class for a mood run, ``(N, classes)`` for a signs run, in the order
of the run's ``class_names.json``.

Writing is atomic and checked: the artifact is written under a hidden temporary name beside
the output, read back with its own runtime and compared with the run's model on a few seeded
random images (largest difference at most :data:`TOLERANCE`), and only then renamed into
place. An existing output is refused unless ``overwrite=True`` (``--force``); a file is then
replaced in one rename, a SavedModel folder in two (the old folder is moved aside, the new
one moved in, the old one deleted).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from cnnlab import _io
from cnnlab.data.prepare import STEPS
from cnnlab.errors import ArgumentError, ExportError
from cnnlab.keras_models import strip_augmentation
from cnnlab.nn.keras_file import load_keras_model
from cnnlab.tasks import get_task
from cnnlab.training.rundir import Run, load_model, load_run

FORMATS = ("keras", "tf_saved_model", "onnx", "litert")
"""The export formats, as ``cnnlab export --format`` spells them."""

SUFFIXES = {"keras": ".keras", "tf_saved_model": "", "onnx": ".onnx", "litert": ".tflite"}
"""The default output's suffix per format (a SavedModel is a folder)."""

EXTRAS = {"onnx": ("tf2onnx", "onnx", "onnxruntime")}
"""The modules each format needs beyond cnnlab's own dependencies (all in the extra of the
format's name: ``pip install 'cnnlab[onnx]'``)."""

TOLERANCE = 1e-5
"""Largest absolute difference allowed between the exported model's probabilities and the
run's model's on the check images."""

CHECK_IMAGES = 4

MARKER = ".cnnlab-export.json"
"""The file an exported SavedModel folder holds to say cnnlab wrote it: ``--force`` replaces
only such a folder (or a file of the format's own kind), never a folder of the user's."""


def default_output(run_dir: str | os.PathLike, format: str) -> Path:
    """``RUN/export/<format><suffix>``: ``keras.keras``, ``tf_saved_model/``, ``onnx.onnx``,
    ``litert.tflite``."""
    _check_format(format)
    return Path(run_dir) / "export" / f"{format}{SUFFIXES[format]}"


def export_run(
    run_dir: str | os.PathLike | Run,
    format: str,
    out: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    check: bool = True,
) -> Path:
    """Export the run's model as ``format`` to ``out`` (default :func:`default_output`).

    Args:
        run_dir: a run directory (either engine) or a loaded :class:`Run`.
        format: one of :data:`FORMATS`.
        out: where to write (a ``.keras`` file must end in ``.keras``, an ONNX file in
            ``.onnx``, a LiteRT file in ``.tflite``; a SavedModel is a folder, whose name
            must not end like one of those files).
        overwrite: replace an existing output (otherwise it is an error).
        check: read the artifact back with its runtime and compare it with the run's model
            before putting it in place (see the module's docstring).

    Returns:
        The path written.

    Raises:
        ArgumentError: an unknown format, or an output name the format cannot take.
        RunError: ``run_dir`` is not a complete run.
        ExportError: the format's optional packages are missing, ``out`` exists (without
            ``overwrite``), or the exported model does not reproduce the run's.
    """
    _check_format(format)
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    out = Path(out) if out is not None else default_output(run.dir, format)
    _check_output_name(out, format)
    _io.check_folder_possible(out)
    # The output's checks before the extra's: importing tf2onnx imports TensorFlow (seconds).
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise ExportError(f"{out}: already exists (pass --force to replace it)")
    if overwrite:
        check_replaceable(out, format)
    _require(format)
    model = _inference_model(run)
    x = check_images(model) if check else None
    expected = np.asarray(model.predict(x, verbose=0)) if check else None

    def write(tmp: Path) -> None:
        with _quiet():
            if format == "keras":
                model.save(str(tmp))
            else:
                model.export(str(tmp), format=format, verbose=False)
        if check:
            with _quiet():  # the LiteRT interpreter announces its CPU delegate on fd 2
                got = load_exported(tmp, format)(x)
            diff = float(np.max(np.abs(got - expected)))
            if not diff <= TOLERANCE:
                raise ExportError(
                    f"{out}: the exported {format} model does not reproduce the run's model "
                    f"(largest probability difference {diff:.3g} > {TOLERANCE:g}); not written"
                )

    if format == "tf_saved_model":
        _write_folder(out, write, overwrite)
    else:
        with _io.atomic_path(out) as tmp:
            write(tmp)
    return out


def load_exported(path: str | os.PathLike, format: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function ``x -> probabilities`` running the exported file with its own runtime.

    ``x`` is float32 ``(N, H, W, C)`` as the run's model takes it (pixels / 255); the result is
    a float32 NumPy array ``(N, outputs)``.
    """
    _check_format(format)
    path = str(path)
    if format == "keras":
        model = load_keras_model(path)  # the checked loader, as for a run's model
        return lambda x: np.asarray(model.predict(np.asarray(x, np.float32), verbose=0))
    if format == "tf_saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)  # keep a reference: serve() needs its variables
        return lambda x: np.asarray(loaded.serve(tf.constant(x, tf.float32)))
    if format == "onnx":
        _require(format)
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: np.asarray(session.run(None, {name: np.asarray(x, np.float32)})[0])
    return _tflite_runner(path)


def describe_io(run: Run) -> str:
    """What the exported model takes and returns, in one line."""
    cfg = run.config
    h, w = cfg.image_size
    c = 1 if cfg.grayscale else 3
    names = ", ".join(run.class_names)
    if get_task(cfg.task).binary:
        out = f"(N, 1) probability of {run.class_names[1]!r} (classes: {names})"
    else:
        out = f"(N, {len(run.class_names)}) probabilities of the classes {names}"
    step = cfg.preprocess
    face = f"; {STEPS[step].what}s found and cropped first" if step != "none" else ""
    return f"input float32 (N, {h}, {w}, {c}) NHWC, pixels / 255{face}; output {out}"


def check_images(model, n: int = CHECK_IMAGES, seed: int = 0) -> np.ndarray:
    """``n`` seeded random float32 images in [0, 1] of the model's input shape."""
    shape = tuple(int(d) for d in model.input_shape[1:])
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ArgumentError(
            f"format must be one of {', '.join(FORMATS)}. Received: format={format!r}"
        )


def _check_output_name(out: Path, format: str) -> None:
    suffix = SUFFIXES[format]
    if suffix and out.suffix != suffix:
        raise ArgumentError(
            f"--out for format {format} must end in {suffix}. Received: --out={out}"
        )
    file_suffixes = {s for s in SUFFIXES.values() if s} | {".h5", ".npz"}
    if not suffix and out.suffix in file_suffixes:
        raise ArgumentError(
            f"--out for format {format} is a folder, not a {out.suffix} file. Received: --out={out}"
        )


def _require(format: str) -> None:
    """Raise :class:`ExportError` (one line: which extra to install) if a module is missing."""
    missing = []
    for module in EXTRAS.get(format, ()):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ExportError(
            f"--format {format} needs the optional extra cnnlab[{format}] (missing: "
            f"{', '.join(missing)}): pip install 'cnnlab[{format}]', or in a clone "
            f"uv sync --extra {format}"
        )


def _inference_model(run: Run):
    """The run's model in Keras, without augmentation layers, called once (ONNX needs it)."""

    model = strip_augmentation(load_model(run, "keras"))
    model(np.zeros((1, *(int(d) for d in model.input_shape[1:])), np.float32))
    return model


def _tflite_runner(path: str) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    with warnings.catch_warnings():  # TF 2.20 points to ai-edge-litert; this one still works
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=path)

    def run(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float32)
        inp = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(inp["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))

    return run


def check_replaceable(out: Path, format: str) -> None:
    """Refuse to replace anything ``cnnlab export --format FORMAT`` did not write.

    A SavedModel folder is replaced only when it holds :data:`MARKER` (an earlier export);
    a file format replaces only a file (never a folder, and never through a link).

    Raises:
        ExportError: naming ``out`` and why it is kept.
    """
    if not (out.exists() or out.is_symlink()):
        return
    if out.is_symlink():
        raise ExportError(f"{out}: is a link; --force replaces only an earlier export, not this")
    if format == "tf_saved_model":
        if not out.is_dir():
            raise ExportError(
                f"{out}: is a file, not a SavedModel folder that cnnlab export wrote; "
                "--force replaces only an earlier export: choose another --out"
            )
        if not (out / MARKER).is_file():
            raise ExportError(
                f"{out}: is a folder that cnnlab export did not write (no {MARKER} in it); "
                "--force replaces only an earlier export: choose another --out"
            )
    elif out.is_dir():
        raise ExportError(
            f"{out}: is a folder; a {format} export is one file: choose another --out"
        )


def _write_folder(out: Path, write: Callable[[Path], None], overwrite: bool) -> None:
    """``write`` into a hidden temporary folder beside ``out`` (marked with :data:`MARKER`),
    then move it into place; a replaced earlier export is removed, or named in an error."""
    _io._make_folder(out.parent)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{_io.TEMP_PREFIX}{out.name}."))
    old: Path | None = None
    try:
        shutil.rmtree(tmp)  # the exporter creates the folder itself
        write(tmp)
        _io.write_text(tmp / MARKER, json.dumps({"exported_by": "cnnlab export"}) + "\n")
        if overwrite and (out.exists() or out.is_symlink()):
            if out.is_dir() and not out.is_symlink():
                old = Path(
                    tempfile.mkdtemp(dir=out.parent, prefix=f"{_io.TEMP_PREFIX}{out.name}.old.")
                )
                os.replace(out, old)
            else:
                out.unlink()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not out.exists():
            os.replace(old, out)
            old = None
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
        if old.exists():
            raise ExportError(
                f"{out}: written, but the export it replaced could not be removed completely; "
                f"what is left is in {old}"
            )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the converters' chatter (tf2onnx's log, TFLite's C++ log on fd 2, Python
    warnings) while exporting; if the export fails, what they said is written to stderr."""
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        ok = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
            ok = True
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if not ok:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))
