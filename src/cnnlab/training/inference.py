"""Using a finished run: evaluate it, predict images, and show its filters and feature maps."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab.data.images import list_class_folders
from cnnlab.data.prepare import STEPS, decode_prepared, scale_pixels
from cnnlab.data.source import resolve_source
from cnnlab.engines import check_engine, engine_of
from cnnlab.errors import ArgumentError, CnnlabError, RunError
from cnnlab.tasks import get_task
from cnnlab.training.config import TrainConfig
from cnnlab.training.engines import Engine, get_engine
from cnnlab.training.feed import stream_predict
from cnnlab.training.rundata import load_data
from cnnlab.training.rundir import Run, load_model, load_run


def split_metrics(engine: Engine, model, ds, cfg: TrainConfig) -> dict:
    metrics: dict[str, Any] = {}
    for split, name in (("train", "train"), ("val", "validation"), ("test", "test")):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if len(x) == 0:
            metrics[name] = None
            continue
        if getattr(ds, "streamed", False):  # a batch at a time; NumPy's metrics = the engines'
            probs, labels = stream_predict(engine, model, ds, split, cfg, cfg.batch_size)
            columns = np.arange(max(ds.n_classes, probs.shape[1]))
            res = metrics_from_probabilities(probs, labels, columns, cfg.task)
            metrics[name] = res | {"n": len(labels)}
            continue
        res = engine.evaluate(model, scale_pixels(x), get_task(cfg.task).targets(y), cfg.batch_size)
        metrics[name] = res | {"n": len(x)}
    return metrics


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    *,
    engine: str | None = None,
    class_map: Mapping[str, str] | None = None,
    progress: bool | None = None,
) -> dict:
    """Loss and accuracy of a run's model on its own splits, or on the whole of ``data``.

    Without ``data``: the run's dataset, split as in training (train, validation, test).

    With ``data`` (a name, a folder of class subfolders, a course ``.h5`` file or a folder
    holding one): every image of it is the test set (a named ``test_X.h5`` is that file
    alone, even with ``train_X.h5`` beside it; a folder holding both counts both), loaded
    with the run's image size, colour mode and preprocessing (the face step, for runs that
    use it: ``no_face`` counts the images where none was found). Its classes are matched
    to the run's **by name** (after ``class_map``):

    - the same classes as the run: an ordinary evaluation (``restricted`` is False);
    - a subset of them (e.g. 6 of 10 digits): labels are mapped to the run's indices and
      the predictions are restricted to those classes: the model's probabilities of the
      matched classes, renormalized to sum to 1, then argmax; the loss is the
      cross-entropy of the renormalized probabilities (``restricted`` is True). A mood
      run (one sigmoid output) needs both of its classes.

    Both cases compute the metrics with NumPy from the engine's ``predict``; unrestricted
    they equal the engine's own ``evaluate``.

    Args:
        run_dir: a run directory.
        data: the source to evaluate on (default: the run's own splits).
        engine: "keras" or "numpy" (default: the run's engine).
        class_map: ``{data class name: run class name}`` for names that differ, e.g.
            ``{"0": "not_smiling", "1": "smiling"}`` (only with ``data``).
        progress: progress bars while loading (default: when stdout is a terminal).

    Returns:
        Without ``data``: ``{"train": {"loss", "accuracy", "n"}, "validation": ...,
        "test": ...}`` (a split with no images is ``None``). With ``data``: ``{"train":
        None, "validation": None, "test": {"loss", "accuracy", "n"}, "data": data as
        given, "classes": [the run's classes evaluated, in the run's order],
        "restricted": bool, "preprocess": "none" | "face" | "hand", "no_face": int}``
        (``no_face`` counts the images where the step found nothing, hand or face).

    Raises:
        RunError: a class of ``data`` matches none of the run's (the message lists both
            sets and the ``--class-map`` that would pair them), or too few classes match.
        ArgumentError: ``class_map`` without ``data``, or a key that is not a class of
            ``data``.
    """
    if class_map is not None and data is None:
        raise ArgumentError("class_map applies to the classes of data; give data with it")
    class_map = _check_class_map(class_map)
    run = load_run(run_dir)
    if data is not None:  # a missing or unsupported source, or unmatched classes: before the model
        src = resolve_source(os.fspath(data))
        if src.kind == "folder":  # its classes are its subfolders' names: no image is decoded
            _match_classes(os.fspath(data), list_class_folders(src.path)[0], run, class_map)
    model = load_model(run, engine)
    eng = engine_of(model)
    if data is None:
        ds = load_data(run.config, None, progress=progress, streamed=True)
        if list(ds.class_names) != run.class_names:
            raise RunError(
                f"{run.config.data}: classes {ds.class_names} differ from the run's "
                f"{run.class_names}"
            )
        if eng != run.config.engine:
            compile_like(model, eng, run.config)
        return split_metrics(get_engine(eng), model, ds, run.config)

    source = os.fspath(data)
    whole = dataclasses.replace(run.config, val_fraction=0.0, test_fraction=0.0)
    ds = load_data(whole, source, progress=progress)
    to_run = _match_classes(source, ds.class_names, run, class_map)
    named = _named_h5_part(source, ds.meta)
    no_face = ds.meta.get("no_face", 0)
    if named is None:
        x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
        y = to_run[np.concatenate([ds.y_train, ds.y_val, ds.y_test])]
    elif named == "test":  # test_X.h5 named on its own: that file, not train_X.h5 beside it
        x, y = ds.x_test, to_run[ds.y_test]
        no_face = ds.meta.get("no_face_parts", {}).get("test", no_face)
    else:
        x = np.concatenate([ds.x_train, ds.x_val])
        y = to_run[np.concatenate([ds.y_train, ds.y_val])]
        no_face = ds.meta.get("no_face_parts", {}).get("train", no_face)
    columns = np.unique(to_run)  # the run's classes evaluated, in the run's order
    probs = get_engine(eng).predict(model, scale_pixels(x), run.config.batch_size)
    test = metrics_from_probabilities(probs, y, columns, run.config.task)
    return {
        "train": None,
        "validation": None,
        "test": test | {"n": len(y)},
        "data": source,
        "classes": [run.class_names[int(k)] for k in columns],
        "restricted": len(columns) < len(run.class_names),
        "preprocess": run.config.preprocess,
        "no_face": int(no_face),
    }


def _named_h5_part(source: str, meta: dict) -> str | None:
    """ "test" or "train" when ``source`` names one file of a course pair that was loaded as
    a pair (the file beside it came along); None when the whole source is meant."""
    if meta.get("kind") != "h5" or not (meta.get("train_file") and meta.get("test_file")):
        return None
    path = Path(source).expanduser()
    if not path.is_file():
        return None
    for part in ("test", "train"):
        if path.resolve() == Path(meta[f"{part}_file"]).resolve():
            return part
    return None


def _check_class_map(class_map: Mapping[str, str] | None) -> dict[str, str] | None:
    if class_map is None:
        return None
    if not isinstance(class_map, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in class_map.items()
    ):
        raise ArgumentError(
            "class_map must be a dict of data class name -> run class name (strings). "
            f"Received: class_map={class_map!r}"
        )
    return dict(class_map)


def _match_classes(
    source: str, names: Sequence[str], run: Run, class_map: dict[str, str] | None
) -> np.ndarray:
    """The run's class index of each of the data's classes (matched by name after ``class_map``).

    Raises:
        ArgumentError: a ``class_map`` key that is not a class of the data.
        RunError: a class that matches none of the run's, two data classes mapped onto one
            run class, a mood run without both classes, or a single matched class.
    """
    class_map = class_map or {}
    listed = ", ".join(names)
    unknown = [k for k in class_map if k not in names]
    if unknown:
        raise ArgumentError(
            f"class_map names {', '.join(repr(k) for k in unknown)}, not a class of "
            f"{source} (its classes: {listed})"
        )
    mapped = [class_map.get(n, n) for n in names]
    run_index = {n: i for i, n in enumerate(run.class_names)}
    unmatched = [n for n, m in zip(names, mapped, strict=True) if m not in run_index]
    run_listed = ", ".join(run.class_names)
    if unmatched:
        which = (
            f"class {mapped[names.index(unmatched[0])]!r} matches"
            if len(unmatched) == 1
            else f"classes {', '.join(repr(mapped[names.index(n)]) for n in unmatched)} match"
        )
        free = [c for c in run.class_names if c not in mapped]
        if len(free) == len(unmatched):  # pair them in order, as the course's 0, 1 files
            pairs = {**class_map, **dict(zip(unmatched, free, strict=True))}
            hint = ",".join(f"{k}={v}" for k, v in pairs.items() if k != v)
        else:
            hint = ""
        raise RunError(
            f"{source}: {which} none of the run's classes ({run_listed}); the data's classes: "
            f"{listed}; map them with --class-map {hint or 'DATA=RUN,...'}"
        )
    seen: dict[str, str] = {}
    for n, m in zip(names, mapped, strict=True):
        if m in seen:
            raise RunError(
                f"{source}: classes {seen[m]!r} and {n!r} both match the run's class {m!r}"
            )
        seen[m] = n
    if get_task(run.config.task).binary and len(seen) != len(run.class_names):
        missing = ", ".join(c for c in run.class_names if c not in seen)
        raise RunError(
            f"{source}: a {run.config.task} run (one sigmoid output) is evaluated on both of "
            "its classes "
            f"({run_listed}); the data has no {missing} (its classes: {listed})"
        )
    if len(seen) < 2:
        raise RunError(
            f"{source}: only one of the run's classes ({', '.join(seen)}) is in the data; "
            "restricted to one class every prediction would be right: give at least 2 classes"
        )
    return np.array([run_index[m] for m in mapped], dtype=np.int64)


_EPSILON = 1e-7  # probabilities are clipped to [eps, 1 - eps] in the loss, as Keras does


def metrics_from_probabilities(
    probs: np.ndarray, y: np.ndarray, columns: np.ndarray, task: str
) -> dict[str, float]:
    """Loss and accuracy of the model's outputs ``probs`` for the run's labels ``y``,
    restricted to the run's classes ``columns`` (all of them: the engines' own metrics)."""
    probs = np.asarray(probs, dtype=np.float64)
    if get_task(task).binary:  # both classes (checked): the sigmoid output as it is
        p = np.clip(probs.reshape(-1), _EPSILON, 1.0 - _EPSILON)
        t = y.astype(np.float64)
        loss = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))
        hit = (probs.reshape(-1) > 0.5) == (t > 0.5)  # Keras's binary accuracy
    else:
        q = probs[:, columns]
        s = q.sum(axis=1, keepdims=True)
        # all of an image's probability on other classes (underflowed to 0 in float32): the
        # model tells nothing among these classes, so they are equally likely
        q = np.where(s > 0, q / np.where(s > 0, s, 1.0), 1.0 / len(columns))
        position = np.searchsorted(columns, y)  # each label's column in q
        rows = np.arange(len(y))
        loss = -np.log(np.clip(q[rows, position], _EPSILON, 1.0 - _EPSILON))
        hit = columns[q.argmax(axis=1)] == y
    return {"loss": float(loss.mean()), "accuracy": float(hit.mean())}


def compile_like(model, engine: str, cfg: TrainConfig) -> None:
    """Compile a model converted from the other engine, for evaluate()."""
    if engine == "keras":
        model.compile(loss=get_task(cfg.task).loss, metrics=["accuracy"])
    else:
        model.compile(optimizer="adam", loss=get_task(cfg.task).loss, metrics=["accuracy"])


def read_images(run: Run, paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """Image files -> float32 ``(N, H, W, C)`` in [0, 1], resized as in training.

    Raises:
        DatasetError: an image is missing, corrupt or not an image.
    """
    cfg = run.config
    if not paths:
        raise ArgumentError("give at least one image")
    return scale_pixels(np.stack([read_image(cfg, p)[0] for p in paths]))


def read_image(cfg: TrainConfig, path) -> tuple[np.ndarray, bool]:
    """One image as the run's training data was prepared (size, colour, face step)."""

    return decode_prepared(path, cfg.image_size, cfg.grayscale, cfg.preprocess)


def _no_face_line(paths: list, preprocess: str = "face") -> str | None:
    if not paths:
        return None
    step = STEPS[preprocess]
    names = ", ".join(str(p) for p in paths[:5]) + (", ..." if len(paths) > 5 else "")
    n = len(paths)
    images = f"image{'s' if n != 1 else ''}"
    return f"no {step.what} found in {n} {images} ({names}); used {step.instead}"


def predict_images(
    run_dir: str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    *,
    engine: str | None = None,
    errors: str = "raise",
    note: Callable[[str], None] | None = None,
    top_k: int | None = None,
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
        top_k: give each image's ``top_k`` most probable classes instead of the best one
            (a mood run has 2 classes: not smiling ``1 - p``, smiling ``p``).

    Returns:
        ``[(class_name, probability), ...]``, one per path, in order; with ``top_k`` each
        entry is a list of ``top_k`` such pairs, most probable first; with
        ``errors="collect"`` an unreadable image's entry is its ``CnnlabError``.

    Raises:
        ArgumentError: ``top_k`` is not between 1 and the run's number of classes.

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
    if top_k is not None and (
        not _validate.is_int(top_k) or not 1 <= top_k <= len(run.class_names)
    ):
        raise ArgumentError(
            f"top_k must be between 1 and the run's {len(run.class_names)} classes "
            f"({', '.join(run.class_names)}). Received: top_k={top_k!r}"
        )
    check_engine(engine)
    cfg = run.config
    results: list = []
    arrays: list[np.ndarray] = []
    no_face: list = []
    for path in paths:
        try:
            arr, found = read_image(cfg, path)
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
    if arrays:  # the images are read first: a missing one is named before a model loads
        model = load_model(run, engine)
        eng = engine_of(model)
        x = scale_pixels(np.stack(arrays))
        probs = get_engine(eng).predict(model, x, run.config.batch_size)
        labels, p = get_task(run.config.task).labels(probs)
        if top_k is None:
            good = iter(zip(labels, p, strict=True))
        else:
            good = iter(get_task(run.config.task).top_k(probs, top_k))
        for i, r in enumerate(results):
            if r is None:
                if top_k is None:
                    k, q = next(good)
                    results[i] = (run.class_names[int(k)], float(q))
                else:
                    results[i] = [(run.class_names[int(k)], float(q)) for k, q in next(good)]
    line = _no_face_line(no_face, cfg.preprocess)
    if line is not None:
        if note is not None:
            note(line)
        else:
            warnings.warn(line, UserWarning, stacklevel=2)
    return results
