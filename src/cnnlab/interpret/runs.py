"""A run's decisions: its predictions on a split (per-image losses, top losses, the most
confused pairs, a per-class report), the files ``cnnlab interpret`` writes, and ``show`` (one
image through the run's model: filters, feature maps, Grad-CAM).

This module sits above :mod:`cnnlab.training` (it loads a run's model and data as training
does) and draws Grad-CAM with :mod:`cnnlab.interpret.attribution`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _io, _validate, plots
from cnnlab.data.prepare import STEPS, scale_pixels
from cnnlab.engines import engine_of
from cnnlab.errors import ArgumentError, RunError
from cnnlab.interpret.attribution import conv_layer, grad_cam, saliency
from cnnlab.tasks import get_task
from cnnlab.training.engines import get_engine
from cnnlab.training.inference import read_image
from cnnlab.training.rundata import load_data
from cnnlab.training.rundir import load_model, load_run

SPLITS = ("test", "val", "train")
_EPSILON = 1e-7  # probabilities clipped to [eps, 1 - eps] in the loss, as Keras does


# ---- a run's predictions -----------------------------------------------------------------
@dataclasses.dataclass
class Interpretation:
    """A model's predictions on one split, ready to question.

    Attributes:
        class_names: one name per class index.
        targets: ``(N,)`` true class indices.
        probs: ``(N, n_classes)`` float64 probabilities (a sigmoid model's ``p`` becomes the
            two columns ``1 - p, p``).
        preds: ``(N,)`` predicted class indices (argmax of ``probs``; ties go to the lower).
        losses: ``(N,)`` cross-entropy of each image, ``-log(clip(probs[i, targets[i]]))``
            (for a sigmoid model: binary cross-entropy, the same number).
        images: ``(N, H, W, C)`` uint8 images (or None), ``model`` and ``run`` where known.
    """

    class_names: list[str]
    targets: np.ndarray
    probs: np.ndarray
    images: np.ndarray | None = None
    model: Any = None
    run: Any = None
    split: str = "test"
    preds: np.ndarray = dataclasses.field(init=False)
    losses: np.ndarray = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        probs = np.asarray(self.probs, dtype=np.float64)
        if probs.ndim == 2 and probs.shape[1] == 1:
            probs = np.concatenate([1.0 - probs, probs], axis=1)
        if probs.ndim == 1:
            probs = np.stack([1.0 - probs, probs], axis=1)
        self.probs = probs
        self.targets = np.asarray(self.targets, dtype=np.int64).reshape(-1)
        n, k = probs.shape
        if len(self.targets) != n or k != len(self.class_names):
            raise ArgumentError(
                f"probs {probs.shape}, targets {self.targets.shape} and {len(self.class_names)} "
                "class names do not match"
            )
        if n and (self.targets.min() < 0 or self.targets.max() >= k):
            raise ArgumentError(f"targets hold labels outside 0..{k - 1}")
        self.preds = probs.argmax(axis=1).astype(np.int64)
        p_true = probs[np.arange(n), self.targets]
        self.losses = -np.log(np.clip(p_true, _EPSILON, 1.0 - _EPSILON))

    @classmethod
    def from_run(
        cls,
        run_dir: str | os.PathLike,
        split: str = "test",
        *,
        engine: str | None = None,
        progress: bool | None = None,
        model: Any = None,
        dataset: Any = None,
    ) -> Interpretation:
        """Predict a split of a run's own data (loaded and preprocessed as in training) with
        the run's model (in ``engine``, default: the run's).

        ``model`` and ``dataset``: the run's model and data when the caller has loaded them
        already (``load_model(run, engine)``, ``load_data(run.config)``), so they are not
        loaded again.

        Raises:
            ArgumentError: ``split`` is not test, val or train.
            RunError: the run is missing or broken, or the split holds no images.
        """

        split = _validate.one_of(split, "split", SPLITS)
        run = load_run(run_dir)
        model = load_model(run, engine) if model is None else model
        eng = engine_of(model)
        ds = load_data(run.config, None, progress=progress) if dataset is None else dataset
        if list(ds.class_names) != run.class_names:
            raise RunError(
                f"{run.config.data}: classes {ds.class_names} differ from the run's "
                f"{run.class_names}"
            )
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if len(x) == 0:
            raise RunError(f"{run.dir}: the run's {split} split holds no images")
        probs = get_engine(eng).predict(model, scale_pixels(x), run.config.batch_size)
        return cls(list(run.class_names), y, probs, images=x, model=model, run=run, split=split)

    def top_losses(self, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, losses)`` of the ``k`` images with the largest loss, largest first
        (all of them when ``k`` is None; ties in index order)."""
        order = np.argsort(-self.losses, kind="stable")
        if k is not None:
            order = order[: _validate.positive_int(k, "k")]
        return order, self.losses[order]

    def confusion_matrix(self, normalize: str | None = None) -> np.ndarray:
        """Rows: true class, columns: predicted (as scikit-learn's ``confusion_matrix``,
        counted with NumPy: importing scikit-learn and SciPy takes the studio's server
        most of a second, during which it answers nobody).

        ``normalize="true"``: each row divided by its count (a class with no images: 0)."""
        if normalize not in (None, "true"):
            raise ArgumentError(
                f"normalize must be None or 'true'. Received: normalize={normalize!r}"
            )
        k = len(self.class_names)
        pairs = np.asarray(self.targets, np.int64) * k + np.asarray(self.preds, np.int64)
        cm = np.bincount(pairs, minlength=k * k).reshape(k, k)
        if normalize is None:
            return cm
        rows = cm.sum(axis=1, keepdims=True)
        return np.where(rows > 0, cm / np.where(rows > 0, rows, 1), 0.0)

    def most_confused(self, min_count: int = 1) -> list[tuple[str, str, int]]:
        """``[(true name, predicted name, count), ...]`` of the mistakes made at least
        ``min_count`` times, most frequent first."""
        min_count = _validate.positive_int(min_count, "min_count")
        cm = self.confusion_matrix()
        pairs = [
            (int(cm[i, j]), i, j)
            for i in range(len(cm))
            for j in range(len(cm))
            if i != j and cm[i, j] >= min_count
        ]
        pairs.sort(key=lambda t: (-t[0], t[1], t[2]))
        return [(self.class_names[i], self.class_names[j], c) for c, i, j in pairs]

    def classification_report(self, output_dict: bool = True) -> dict | str:
        """scikit-learn's precision, recall, F1 and support per class (and their averages):
        a dict (default) or, with ``output_dict=False``, the text table."""
        from sklearn.metrics import classification_report

        return classification_report(
            self.targets,
            self.preds,
            labels=list(range(len(self.class_names))),
            target_names=list(self.class_names),
            output_dict=output_dict,
            zero_division=0,
            digits=3,
        )

    def grad_cam(self, indices: Sequence[int], layer: str | None = None) -> np.ndarray:
        """Grad-CAM of images ``indices`` for their predicted classes."""

        if self.model is None or self.images is None:
            raise ArgumentError("grad_cam needs the model and images (use from_run)")
        idx = np.asarray(indices, dtype=np.int64)
        return grad_cam(self.model, scale_pixels(self.images[idx]), self.preds[idx], layer)

    # ---- figures -------------------------------------------------------------------------
    def plot_top_losses(
        self,
        k: int = 16,
        *,
        cam: bool = True,
        layer: str | None = None,
        path: str | os.PathLike | None = None,
    ):
        """The ``k`` worst images: true and predicted class, the probability of the prediction,
        the loss, and (``cam``) the Grad-CAM of the predicted class over the image."""

        if self.images is None:
            raise ArgumentError("plot_top_losses needs the images (use from_run)")
        idx, losses = self.top_losses(k)
        heat = self.grad_cam(idx, layer) if cam and self.model is not None else None
        return plots.plot_top_losses(
            self.images[idx].astype(np.float64) / 255.0,
            [self.class_names[t] for t in self.targets[idx]],
            [self.class_names[p] for p in self.preds[idx]],
            self.probs[idx, self.preds[idx]],
            losses,
            cams=heat,
            path=path,
        )

    def plot_confusion_matrix(self, path: str | os.PathLike | None = None):
        """The confusion matrix normalized by row: recall on the diagonal."""

        return plots.plot_normalized_confusion(
            self.confusion_matrix("true"),
            self.class_names,
            counts=self.confusion_matrix(),
            title=f"Confusion matrix ({self.split}), normalized by true class",
            path=path,
        )

    def plot_grad_cam(
        self, k: int = 8, *, layer: str | None = None, path: str | os.PathLike | None = None
    ):
        """Grad-CAM of the split's first ``k`` images, each for its predicted class."""

        if self.images is None:
            raise ArgumentError("plot_grad_cam needs the images (use from_run)")
        idx = np.arange(min(k, len(self.targets)))
        heat = self.grad_cam(idx, layer)
        titles = [
            f"true {self.class_names[self.targets[i]]}\npred {self.class_names[self.preds[i]]}"
            for i in idx
        ]
        return plots.plot_grad_cam(
            self.images[idx].astype(np.float64) / 255.0, heat, titles=titles, path=path
        )


def write_interpretation(
    run_dir: str | os.PathLike,
    split: str = "test",
    *,
    top: int = 16,
    cam: bool = True,
    layer: str | None = None,
    engine: str | None = None,
    progress: bool | None = None,
) -> tuple[Interpretation, dict[str, Path]]:
    """Write ``RUN/interpret/``: report.txt, report.json, top_losses.png,
    confusion_normalized.png and (with ``cam``) gradcam.png. Each file is written atomically.

    Returns:
        The :class:`Interpretation` and ``{file name: path written}``.
    """
    top = _validate.positive_int(top, "top")
    interp = Interpretation.from_run(run_dir, split, engine=engine, progress=progress)
    if cam:
        conv_layer(interp.model, layer)  # a bad --layer fails before anything is written
    out = Path(run_dir) / "interpret"
    written: dict[str, Path] = {}
    text = report_text(interp)
    _io.write_text(out / "report.txt", text)
    written["report.txt"] = out / "report.txt"
    summary = {
        "split": split,
        "n": int(len(interp.targets)),
        "accuracy": float((interp.preds == interp.targets).mean()),
        "mean_loss": float(interp.losses.mean()),
        "classification_report": interp.classification_report(),
        "confusion_matrix": interp.confusion_matrix().tolist(),
        "most_confused": [list(t) for t in interp.most_confused()],
        "top_losses": [
            {
                "index": int(i),
                "loss": float(v),
                "true": interp.class_names[interp.targets[i]],
                "predicted": interp.class_names[interp.preds[i]],
                "probability": float(interp.probs[i, interp.preds[i]]),
            }
            for i, v in zip(*interp.top_losses(top), strict=True)
        ],
    }
    _io.write_text(out / "report.json", json.dumps(summary, indent=2) + "\n")
    written["report.json"] = out / "report.json"
    figures = {
        "top_losses.png": lambda: interp.plot_top_losses(top, cam=cam, layer=layer),
        "confusion_normalized.png": interp.plot_confusion_matrix,
    }
    if cam:
        figures["gradcam.png"] = lambda: interp.plot_grad_cam(8, layer=layer)
    for name, draw in figures.items():
        written[name] = _io.save_figure(draw(), out / name)
    return interp, written


def report_text(interp: Interpretation, max_pairs: int = 10) -> str:
    """The classification report and the most-confused pairs, as printed by the CLI."""
    lines = [
        f"{interp.split} split: {len(interp.targets)} images, accuracy "
        f"{(interp.preds == interp.targets).mean():.1%}, mean loss {interp.losses.mean():.4f}",
        "",
        interp.classification_report(output_dict=False).rstrip(),
        "",
    ]
    pairs = interp.most_confused()
    if pairs:
        lines.append("most confused (true -> predicted: count):")
        lines += [f"  {t} -> {p}: {c}" for t, p, c in pairs[:max_pairs]]
    else:
        lines.append("no mistakes on this split")
    return "\n".join(lines) + "\n"


def show(
    run_dir: str | os.PathLike,
    image: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    engine: str | None = None,
    cam: bool = False,
    layer: str | None = None,
    class_index: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Draw the first conv layer's filters and every conv layer's feature maps for one image.

    The activations are computed by the run's model in ``engine`` (default: the
    run's own engine). With ``cam`` a row after the input adds the Grad-CAM of
    ``class_index`` (default: the predicted class) at the Conv2D ``layer`` (default: the
    last) over the image, and the saliency map (see :mod:`cnnlab.interpret.attribution`).

    Raises:
        ArgumentError: ``layer`` or ``class_index`` given without ``cam``, ``layer`` not a
            Conv2D of the model, or ``class_index`` out of range.

    Returns:
        The PNG written (default: ``RUN/show_<image stem>.png``); an existing file is
        replaced only with ``overwrite``.
    """
    # Every check that needs no model comes first: loading one takes seconds (TensorFlow).
    if not cam and (layer is not None or class_index is not None):
        raise ArgumentError("layer and class_index choose the Grad-CAM: give them with cam")
    run = load_run(run_dir)
    k = len(run.class_names)
    if class_index is not None and (not _validate.is_int(class_index) or not 0 <= class_index < k):
        raise ArgumentError(
            f"class_index must be an integer in 0..{k - 1} (the model has {k} classes). "
            f"Received: class_index={class_index!r}"
        )
    out = Path(out) if out is not None else run.dir / f"show_{Path(image).stem}.png"
    _io.png_path(out, "out", "show draws a PNG")
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise ArgumentError(f"{out}: already exists (pass --force to replace it)")
    _io.check_folder_possible(out)
    arr, found = read_image(run.config, image)
    x = scale_pixels(arr[None])
    model = load_model(run, engine)
    eng = get_engine(engine_of(model))
    convs = eng.conv_layers(model)
    if not convs:
        raise RunError(f"{run.dir}: the model has no Conv2D layer to show")
    kernel = np.asarray(convs[0].get_weights()[0])
    maps = eng.activations(model, x)
    probs = eng.predict(model, x, 1)
    label, p = get_task(run.config.task).labels(probs)
    title = f"{Path(image).name}: {run.class_names[int(label[0])]} ({float(p[0]):.1%})"
    if run.config.preprocess != "none":
        step = STEPS[run.config.preprocess]
        title += f", {step.what}" if found else f", no {step.what} found: {step.instead}"
    attention = None
    if cam:
        heat = grad_cam(model, x, class_index, layer)
        which = run.class_names[int(label[0]) if class_index is None else int(class_index)]
        attention = [
            (f"Grad-CAM of {which}", plots.overlay(x[0], heat[0])),
            ("saliency", saliency(model, x, class_index)[0]),
        ]
    fig = plots.plot_feature_maps(x[0], maps, kernel=kernel, title=title, attention=attention)
    return _io.save_figure(fig, out)
