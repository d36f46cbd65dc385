"""Using a finished run: evaluate it, predict images, and show its filters and feature maps."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _io
from cnnlab.errors import ArgumentError, CnnlabError, RunError
from cnnlab.training.config import TrainConfig
from cnnlab.training.engines import _Engine, _engine, _loss_name
from cnnlab.training.prep import load_data, preprocess, probabilities_to_labels, targets
from cnnlab.training.rundir import Run, load_model, load_run


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
    cfg = run.config.resolved()
    if not paths:
        raise ArgumentError("give at least one image")
    return preprocess(np.stack([_read_image(cfg, p)[0] for p in paths]))


def _read_image(cfg: TrainConfig, path) -> tuple[np.ndarray, bool]:
    """One image as the run's training data was prepared (size, colour, face step)."""
    from cnnlab.data.prepare import decode_prepared

    return decode_prepared(path, cfg.image_size, cfg.grayscale, cfg.preprocess)


def _no_face_line(paths: list) -> str | None:
    if not paths:
        return None
    names = ", ".join(str(p) for p in paths[:5]) + (", ..." if len(paths) > 5 else "")
    n = len(paths)
    return f"no face found in {n} image{'s' if n != 1 else ''} ({names}); used a centre crop"


def predict_images(
    run_dir: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    engine: str | None = None,
    errors: str = "raise",
    note: Callable[[str], None] | None = None,
) -> list:
    """Class name and its probability for each image (JPEG, PNG, BMP, GIF, TIFF or WebP; any size).

    Args:
        run_dir: a run directory (either engine).
        paths: image files (JPEG, PNG, BMP, ...); resized and converted as in training.
        engine: "keras" or "numpy" to run the model in (default: the run's engine).
        errors: "raise": the first image that cannot be read raises its
            :class:`~cnnlab.errors.DatasetError`; "collect": every readable image is
            predicted and each unreadable one gets its error in its place.
        note: called with one line naming the images in which the run's face step found
            no face (they were predicted from a centre crop); default: a ``UserWarning``.

    Returns:
        ``[(class_name, probability), ...]``, one per path, in order; with
        ``errors="collect"`` an unreadable image's entry is its ``CnnlabError``.

    Example:
        >>> for path, r in zip(paths, predict_images(run, paths, errors="collect")):
        ...     print(r if isinstance(r, Exception) else f"{path} {r[0]} {r[1]:.2f}")
        ... # doctest: +SKIP
    """
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
    no_face: list = []
    for path in paths:
        try:
            arr, found = _read_image(cfg, path)
            arrays.append(arr)
            results.append(None)
            if not found:
                no_face.append(path)
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
    line = _no_face_line(no_face)
    if line is not None:
        if note is not None:
            note(line)
        else:
            warnings.warn(line, UserWarning, stacklevel=2)
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
    arr, found = _read_image(run.config.resolved(), image)
    x = preprocess(arr[None])
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
    if run.config.resolved().preprocess == "face":
        title += ", face" if found else ", no face found: centre crop"
    out = Path(out) if out is not None else run.dir / f"show_{Path(image).stem}.png"
    return _io.save_figure(plots.plot_feature_maps(x[0], maps, kernel=kernel, title=title), out)
