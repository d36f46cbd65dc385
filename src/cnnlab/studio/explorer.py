"""What the studio knows about the runs folder: the runs, their models and data, one image
through a model layer by layer, and how one feature map was made.

:class:`RunsFolder` is the only thing the web routes talk to. It names runs by their folder
name, and only folders directly inside the runs folder are runs: no path from a client ever
reaches the file system. Models, datasets and predictions are loaded once and kept while
their files are unchanged (a run still training gets a new model each epoch).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _validate, interpret, ops, plots
from cnnlab.data.prepare import STEPS, decode_prepared, scale_pixels
from cnnlab.errors import ArgumentError, CnnlabError, RunError
from cnnlab.interpret import SPLITS, Interpretation
from cnnlab.studio import layers as layer_detail
from cnnlab.studio.encode import diverging_maps, gray_maps, png_url, rounded
from cnnlab.studio.layers import value_maps as _value_maps
from cnnlab.studio.models import ModelFile, RunSource, mtime_ns
from cnnlab.studio.playground import gray_grid, pads_json, window_view
from cnnlab.studio.walk import Step, walk
from cnnlab.tasks import get_task
from cnnlab.training import load_run

RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@-]{0,199}")
"""A run is named by its folder; anything else (``..``, ``a/b``, an absolute path) is refused."""
TRAINING_SECONDS = 600
"""An unfinished run whose checkpoint.json changed this recently is "training"."""
MAX_UPLOADS = 64
KEEP_RUNS = 4
"""Runs whose loaded model, dataset and predictions stay in memory (the ones used last)."""
MAX_VALUES = 1024
"""A 1-D layer output longer than this is not sent as numbers."""
DRAWN_DATA = "digits"
"""The data whose images are drawings (light strokes on a dark ground): its runs get the
drawing pad, and a dark-on-light upload to them is inverted."""
MAX_DETAIL_NUMBERS = 200_000
"""The feature-map detail sends the previous layer's numbers up to this many."""


class NotFound(CnnlabError):
    """The request names a run, image, layer or channel that does not exist (HTTP 404)."""


@dataclass
class _Loaded:
    key: tuple
    value: Any


BLANK_CAM = (
    "Grad-CAM is blank here: the class score of \u201c{cls}\u201d gets no positive weighted sum "
    "from {layer}'s maps (its gradients there are all zero, or every map that matters lowers "
    "the score), so no region is marked"
)
"""The explorer's line for an all-zero Grad-CAM (``{cls}``, ``{layer}`` filled in)."""


def decision(run, model, x: np.ndarray, probs: np.ndarray, blank: str = BLANK_CAM):
    """``{"predicted", "probabilities", "grad_cam"}`` of an explore or camera answer: ``x`` (a
    batch of one) and its class ``probs``, the model held by the caller (:meth:`RunsFolder.
    model_in_use`); ``blank`` is the line for an all-zero Grad-CAM (:data:`BLANK_CAM`)."""
    top = get_task(run.config.task).top_k(probs, len(run.class_names))[0]
    best, p = top[0]
    cls = run.class_names[best]
    cam = None
    convs = interpret.conv_layer_names(model)
    if convs:
        heat = interpret.grad_cam(model, x, best, convs[-1])
        cam = {
            "layer": convs[-1],
            "overlay": png_url(plots.overlay(x[0], heat[0])),
            "blank": None if heat.any() else blank.format(cls=cls, layer=convs[-1]),
        }
    by_class = dict(top)
    return {
        "predicted": {"index": best, "class": cls, "p": p},
        "probabilities": [{"class": c, "p": by_class[k]} for k, c in enumerate(run.class_names)],
        "grad_cam": cam,
    }


class RunsFolder:
    """The runs under one folder, as the studio shows them.

    Args:
        root: the runs folder. It need not exist (then there are no runs).
        models: model files (:class:`~cnnlab.studio.models.ModelFile`) listed before the
            runs, by their names; the explorer and the runs view treat them as runs.
    """

    def __init__(self, root: str | os.PathLike, models: list[ModelFile] = ()):
        self.root = Path(root).expanduser().resolve()
        self.models = {m.name: m for m in models}
        self._lock = threading.RLock()
        """Guards the dictionaries below only: it is never held while a model is loaded or
        anything is computed, so one run's slow work never makes another run wait."""
        self._entry_locks: dict[tuple[str, str], threading.RLock] = {}
        """One lock per cache entry (kind, run): the entry is made by one thread at a time;
        the others asking for it wait on this lock only, and then find it made."""
        self._cache: OrderedDict[tuple[str, str], _Loaded] = OrderedDict()
        self._inverted: set[str] = set()
        """Upload ids inverted (dark-on-light uploads to a run of the built-in digits)."""
        self._uploads: OrderedDict[str, tuple[str, np.ndarray, bool]] = OrderedDict()

    # ---- finding runs --------------------------------------------------------------------
    def run_dir(self, name: str) -> Path:
        """The folder of run ``name``, checked to be a direct child of the runs folder.

        Raises:
            NotFound: a malformed name, no such run, or a folder (or link) leading outside.
        """
        if not isinstance(name, str) or not RUN_NAME.fullmatch(name):
            raise NotFound(f"no run named {name!r} in {self.root}")
        path = self.root / name
        resolved = path.resolve()
        if resolved.parent != self.root or not resolved.is_dir():
            raise NotFound(f"no run named {name!r} in {self.root}")
        return resolved

    def check_name(self, name: str) -> None:
        """Raises NotFound unless ``name`` is a model file's or a run folder's."""
        if name not in self.models:
            self.run_dir(name)

    def _load_run(self, name: str) -> RunSource | ModelFile:
        """The source of run (or model file) ``name``: see :mod:`cnnlab.studio.models`."""
        if isinstance(name, str) and name in self.models:
            return self.models[name]
        path = self.run_dir(name)
        if not (path / "config.json").is_file():
            raise NotFound(f"{name!r} in {self.root} is not a run (no config.json)")
        return RunSource(load_run(path))

    def list_runs(self) -> dict:
        """Every run in the folder, newest first, and the folders that look like broken runs."""
        runs, broken = [], []
        if self.root.is_dir():
            for path in self.root.iterdir():
                if not path.is_dir() or not RUN_NAME.fullmatch(path.name):
                    continue
                if path.name in self.models:
                    continue
                if not (path / "config.json").exists():
                    continue
                try:
                    runs.append(self.summary(path.name))
                except (CnnlabError, OSError) as exc:
                    broken.append({"name": path.name, "error": str(exc)})
        runs.sort(key=lambda r: r["updated"], reverse=True)
        runs[:0] = [self.summary(name) for name in self.models]
        return {"runs_dir": str(self.root), "runs": runs, "broken": broken}

    def summary(self, name: str, run=None) -> dict:
        """One run's settings and state (no model is loaded)."""
        run = run or self._load_run(name)
        cfg = run.config
        updated = run.updated()
        test = (run.metrics or {}).get("test") or {}
        return {
            "name": name,
            "task": cfg.task,
            "engine": cfg.engine,
            "model": cfg.model,
            "data": cfg.data,
            "drawn": cfg.data == DRAWN_DATA,
            "image_size": list(cfg.image_size),
            "channels": 1 if cfg.grayscale else 3,
            "preprocess": cfg.preprocess,
            "class_names": list(run.class_names),
            "epochs_done": run.epochs_done,
            "epochs": cfg.epochs,
            "finished": run.finished,
            "training": (not run.finished) and time.time() - updated < TRAINING_SECONDS,
            "test_accuracy": test.get("accuracy"),
            "updated": updated,
            "source": run.source,
            "labelled": run.labelled,
        }

    def details(self, name: str) -> dict:
        """The summary, history, metrics, config and picture files of a run."""
        run = self._load_run(name)
        files = run.files()
        return self.summary(name, run) | {
            "history": run.history,
            "metrics": run.metrics,
            "config": run.config.to_json(),
            "best_epoch": run.best["epoch"] if run.best else None,
            "files": files,
        }

    # ---- cached loads --------------------------------------------------------------------
    def _cached(self, kind: str, name: str, key: tuple, make):
        """``make()``'s value for run ``name``, kept while ``key`` (its files' names and times)
        is unchanged; only the :data:`KEEP_RUNS` runs used last keep theirs (a folder of many
        runs would otherwise hold every model and dataset opened).

        ``make()`` runs under the entry's own lock (:meth:`_entry_lock`), never under the
        folder's: the loads of different runs (or kinds) go on side by side, and an entry that
        several requests want at once is made once."""
        hit = self._hit(kind, name, key)
        if hit is not None:
            return hit.value
        with self._entry_lock(kind, name):
            hit = self._hit(kind, name, key)  # made while this thread waited
            if hit is not None:
                return hit.value
            value = make()
            with self._lock:
                self._cache[(kind, name)] = _Loaded(key, value)
                self._cache.move_to_end((kind, name))
                kept = list(dict.fromkeys(n for _, n in reversed(self._cache)))[:KEEP_RUNS]
                for k in [k for k in self._cache if k[1] not in kept]:
                    del self._cache[k]
            return value

    def _hit(self, kind: str, name: str, key: tuple) -> _Loaded | None:
        with self._lock:
            hit = self._cache.get((kind, name))
            if hit is None or hit.key != key:
                return None
            self._cache.move_to_end((kind, name))
            return hit

    def _entry_lock(self, kind: str, name: str) -> threading.RLock:
        """The lock of one cache entry, or (kind "model-use") of one run's model while it
        computes: its layers may keep what a forward pass saw for the backward one, so one
        computation at a time per model. A lock is kept for each (kind, run) asked for."""
        with self._lock:
            return self._entry_locks.setdefault((kind, name), threading.RLock())

    def cached_runs(self) -> list[str]:
        """The runs whose model, data or predictions are held in memory, most recent first."""
        with self._lock:
            return list(dict.fromkeys(n for _, n in reversed(self._cache)))

    def _model(self, name: str):

        run = self._load_run(name)
        key = (str(run.model_path), mtime_ns(run.model_path))
        try:
            model = self._cached("model", name, key, run.load_model)
        except FileNotFoundError:
            raise RunError(f"{name}: its model is being replaced by a newer epoch; retry") from None
        return run, model

    @contextlib.contextmanager
    def model_in_use(self, name: str):
        """``(run, model)`` of run ``name``, its model used by this computation alone for the
        ``with`` block (see :meth:`_entry_lock`): for the explorer and the camera alike."""
        run, model = self._model(name)
        with self._entry_lock("model-use", name):
            yield run, model

    def _dataset(self, name: str):

        run = self._load_run(name)
        key = (str(run.config.to_json()),)
        return run, self._cached("data", name, key, run.dataset)

    def _interpretation(self, name: str) -> tuple[Interpretation, int]:
        """The test split's predictions by the run's current model, and the epoch whose
        weights made them; a run still training gets new ones with each epoch's checkpoint."""
        run, model = self._model(name)
        _, ds = self._dataset(name)
        epoch = run.model_epoch
        key = (str(run.model_path), mtime_ns(run.model_path), epoch)
        interp = self._cached(
            "interpretation",
            name,
            key,
            lambda: self._using(name, lambda: run.interpretation(model, ds)),
        )
        return interp, epoch

    def _using(self, name: str, compute):
        """``compute()`` while it alone uses run ``name``'s model."""
        with self._entry_lock("model-use", name):
            return compute()

    # ---- images --------------------------------------------------------------------------
    def samples(self, name: str, split: str = "test", limit: int = 24) -> dict:
        """The first ``limit`` images of a split, as the run made it."""
        split = _split(split)
        run, ds = self._dataset(name)
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        n = min(len(x), _limit(limit, 200))
        return {
            "split": split,
            "count": int(len(x)),
            "samples": [
                {"index": i, "label": run.label(y[i]), "thumb": png_url(x[i])} for i in range(n)
            ],
        }

    def sample_grids(self, name: str, size: int = 16, n: int = 10) -> list[dict]:
        """The first ``n`` test images of a run as gray ``size x size`` grids (playground)."""

        if not isinstance(size, int) or not 4 <= size <= 64:
            raise ArgumentError(f"size must be between 4 and 64. Received: size={size!r}")
        run, ds = self._dataset(name)
        x, y = ds.x_test, ds.y_test
        if len(x) == 0:
            x, y = ds.x_train, ds.y_train
        return [
            {
                "id": f"{name}:{i}",
                "label": run.label(y[i]),
                "grid": gray_grid(x[i], size),
            }
            for i in range(min(n, len(x)))
        ]

    def _sample(self, name: str, split: str, index: Any) -> np.ndarray:
        split = _split(split)
        _, ds = self._dataset(name)
        x = getattr(ds, f"x_{split}")
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(x):
            raise NotFound(
                f"{name}: the {split} split has images 0..{len(x) - 1}. Received: {index!r}"
            )
        return x[index]

    def prepared(self, name: str, data: bytes, what: str) -> tuple[Any, np.ndarray, bool, bool]:
        """Image-file bytes as run ``name`` sees its images: ``(run, uint8 (H, W, C), found,
        inverted)``, for an upload and a camera frame alike.

        The bytes go to a private temporary file and through cnnlab's own decoding (format
        sniffing, the decompression-bomb limit, the run's size, colour and face or hand
        step); a dark-on-light image for a run of the built-in digits is inverted. An error
        names the file as ``what``.
        """
        run = self._load_run(name)
        cfg = run.config
        with tempfile.TemporaryDirectory(prefix="cnnlab-studio-") as tmp:
            path = Path(tmp) / "image"
            path.write_bytes(data)
            try:
                arr, found = decode_prepared(path, cfg.image_size, cfg.grayscale, cfg.preprocess)
            except CnnlabError as exc:
                raise ArgumentError(str(exc).replace(str(path), what)) from None
        invert = cfg.data == DRAWN_DATA and float(arr.mean()) > 127.5
        if invert:  # a digit drawn dark on light: the built-in digits are light on dark
            arr = (255 - arr.astype(np.int16)).astype(np.uint8)
        return run, arr, found, invert

    def upload(self, name: str, data: bytes) -> str:
        """Decode an uploaded image file as the run sees its images (:meth:`prepared`);
        returns its image id."""
        self.check_name(name)  # an unknown run before anything else
        digest = hashlib.sha256(name.encode() + b"\0" + data).hexdigest()[:20]
        image_id = f"u:{digest}"
        with self._lock:
            if image_id in self._uploads:
                self._uploads.move_to_end(image_id)
                return image_id
        _, arr, found, invert = self.prepared(name, data, "the uploaded file")
        with self._lock:
            self._uploads[image_id] = (name, arr, found)
            if invert:
                self._inverted.add(image_id)
            while len(self._uploads) > MAX_UPLOADS:
                gone, _ = self._uploads.popitem(last=False)
                self._inverted.discard(gone)
        return image_id

    def image(self, name: str, image_id: str) -> tuple[np.ndarray, bool]:
        """``(uint8 image (H, W, C), face found)`` of an image id (``s:SPLIT:I`` or ``u:HASH``)."""
        if isinstance(image_id, str) and image_id.startswith("s:"):
            parts = image_id.split(":")
            if len(parts) == 3 and parts[2].isdigit():
                return self._sample(name, parts[1], int(parts[2])), True
        if isinstance(image_id, str) and image_id.startswith("u:"):
            with self._lock:
                hit = self._uploads.get(image_id)
            if hit is not None and hit[0] == name:
                return hit[1], hit[2]
            raise NotFound(f"image {image_id!r} is no longer kept for {name}; upload it again")
        raise NotFound(f"no image {image_id!r}: expected s:SPLIT:INDEX or an upload's id")

    # ---- the model explorer --------------------------------------------------------------
    def explore(self, name: str, image_id: str) -> dict:
        """One image through the run's model: every layer's output, the class probabilities
        and the Grad-CAM of the predicted class."""

        image, found = self.image(name, image_id)
        run, model = self._model(name)
        x = scale_pixels(image[None])
        walk = self._walk(name, image_id, run, model, x)
        with self._entry_lock("model-use", name):
            decided = decision(run, model, x, walk[-1].output[None])
        layers = []
        for i, step in enumerate(walk):
            out = step.output
            lo, hi = (float(out.min()), float(out.max())) if out.size else (0.0, 0.0)
            layers.append(
                {
                    "index": i,
                    "name": step.name,
                    "type": step.kind,
                    "output_shape": list(out.shape),
                    "params": step.params,
                    "range": [lo, hi],
                    "maps": _value_maps(out, lo, hi) if out.ndim == 3 else None,
                    "scale": "diverging" if lo < 0 else "sequential",
                    "values": rounded(out) if out.ndim == 1 and out.size <= MAX_VALUES else None,
                    "n_values": int(out.size),
                    "detail": layer_detail.explains(step),
                    "note": _undrawn(out),
                }
            )
        note = None
        if run.config.preprocess != "none" and not found:
            step = STEPS[run.config.preprocess]
            note = f"no {step.what} found: the model saw {step.instead}"
        if image_id in self._inverted:
            note = (
                "the upload was dark on light; the digits are light on dark, so it was "
                "inverted before the model saw it"
            )
        return {
            "image_id": image_id,
            "input": {"thumb": png_url(image), "shape": list(image.shape)},
            "note": note,
            **decided,
            "layers": layers,
        }

    def feature_map(self, name: str, image_id: str, layer: str, channel: Any) -> dict:
        """How channel (or unit) ``channel`` of ``layer`` was made for this image (a Conv2D
        here, every other layer in :mod:`cnnlab.studio.layers`)."""

        image, _ = self.image(name, image_id)
        run, model = self._model(name)
        walk = self._walk(name, image_id, run, model, scale_pixels(image[None]))
        step = next((s for s in walk if s.name == layer), None)
        if step is None:
            raise NotFound(f"{name}: the model has no layer {layer!r}")
        count = step.output.shape[-1] if step.output.ndim else 1
        if not isinstance(channel, int) or not 0 <= channel < count:
            what = "channels" if step.output.ndim == 3 else "units"
            raise NotFound(f"{layer} has {what} 0..{count - 1}. Received: {channel!r}")
        if step.kind != "Conv2D":  # every other layer: cnnlab.studio.layers
            return layer_detail.explain(step, channel)
        if step.input.ndim != 3:
            raise ArgumentError(f"{layer} is a {step.kind}: only a Conv2D's maps can be opened")
        weights = [np.asarray(w, dtype=np.float64) for w in step.layer.get_weights()]
        kernel = weights[0][:, :, :, channel]
        bias = float(weights[1][channel]) if len(weights) > 1 else 0.0
        cfg = step.layer.get_config()
        strides, padding = tuple(cfg.get("strides", (1, 1))), cfg.get("padding", "valid")
        prev = step.input.astype(np.float64)
        z, _ = ops.conv2d_forward(prev[None], kernel[..., None], np.array([bias]), strides, padding)
        pads = ops.resolve_padding(padding, kernel.shape[:2], strides, prev.shape[:2])
        padded = ops.padding.pad_nhwc(prev[None], pads)[0]
        kh, kw = kernel.shape[:2]
        win = window_view(padded, (kh, kw), strides, z.shape[1:3])  # (oh, ow, C, kh, kw)
        shares = np.einsum("ijckl,klc->ijc", win, kernel)
        lo, hi = float(prev.min()), float(prev.max())
        klo, khi = float(kernel.min()), float(kernel.max())
        k_abs = max(abs(klo), abs(khi)) or 1.0
        out = step.output[:, :, channel]
        numbers = padded.size <= MAX_DETAIL_NUMBERS
        return {
            "layer": layer,
            "channel": channel,
            "input_layer": step.input_name,
            "inputs": self._input_maps(step.input_name, prev, lo, hi),
            "input_kind": "image" if step.input_name == "input" else "activation",
            "input_range": [lo, hi],
            "padded": rounded(padded) if numbers else None,
            "pads": pads_json(pads),
            "stride": list(strides),
            "kernel": rounded(kernel),
            "kernels": diverging_maps(kernel, k_abs),
            "bias": bias,
            "activation": cfg.get("activation", "linear") or "linear",
            "z": rounded(z[0, :, :, 0]) if numbers else None,
            "output": rounded(out) if numbers else None,
            "channel_sums": rounded(shares) if numbers else None,
            "output_map": _value_maps(out[:, :, None], float(out.min()), float(out.max()))[0],
        }

    def ranged_maps(self, name: str, image_id: str, choice: Any) -> dict:
        """Every feature map of the image's walk on the range ``choice`` (per map, layer or
        network: :func:`cnnlab.studio.layers.ranged_maps`)."""
        image, _ = self.image(name, image_id)
        run, model = self._model(name)
        walk = self._walk(name, image_id, run, model, scale_pixels(image[None]))
        return layer_detail.ranged_maps(walk, choice)

    @staticmethod
    def _input_maps(input_name: str, prev: np.ndarray, lo: float, hi: float) -> list[str]:
        """The maps a Conv2D read, in the studio's colours: the image as it is (gray, white
        is white), activations in viridis, and signed values blue-white-red around 0."""
        if input_name == "input":
            return gray_maps(prev)
        return _value_maps(prev, lo, hi)

    def _walk(self, name: str, image_id: str, run, model, x: np.ndarray) -> list[Step]:
        """:func:`_walk` of the run's model on image ``image_id``, kept for the run's last
        image: the explore answer computes it, and each feature map clicked then reuses it."""
        key = (str(run.model_path), mtime_ns(run.model_path), image_id)
        return self._cached("walk", name, key, lambda: self._using(name, lambda: walk(model, x)))

    # ---- runs: confusion and top losses --------------------------------------------------
    def confusion(self, name: str) -> dict:
        """The test split's confusion matrix by the run's current model (``epoch``: the epoch
        whose weights it is; it changes while the run trains)."""
        interp, epoch = self._interpretation(name)
        matrix = interp.confusion_matrix()
        return {
            "split": interp.split,
            "epoch": epoch,
            "class_names": list(interp.class_names),
            "matrix": np.asarray(matrix).astype(int).tolist(),
            "accuracy": float((interp.preds == interp.targets).mean()),
        }

    def confusion_cell(self, name: str, true: int, pred: int, limit: int = 24) -> dict:
        interp, epoch = self._interpretation(name)
        k = len(interp.class_names)
        if not (0 <= true < k and 0 <= pred < k):
            raise NotFound(f"{name}: class indices are 0..{k - 1}. Received: {true}, {pred}")
        idx = np.flatnonzero((interp.targets == true) & (interp.preds == pred))
        return {
            "epoch": epoch,
            "count": int(len(idx)),
            "images": [self._image_entry(interp, int(i)) for i in idx[: _limit(limit, 200)]],
        }

    def top_losses(self, name: str, k: int = 12) -> dict:
        """The ``k`` misclassified test images with the largest loss (``wrong``) and, when
        fewer than ``k`` are misclassified, the correct ones with the largest loss to make up
        ``k`` (``right``: the model is right but least sure), each with the Grad-CAM of its
        guess. ``n_wrong``: how many test images are misclassified in all."""
        interp, epoch = self._interpretation(name)
        k = _limit(k, 64)
        order, _ = interp.top_losses()
        miss = interp.preds[order] != interp.targets[order]
        wrong, right = order[miss][:k], order[~miss][: max(0, k - int(miss.sum()))]
        idx = np.concatenate([wrong, right]).astype(int)
        entries = [self._image_entry(interp, int(i)) for i in idx]
        if len(idx) and interpret.conv_layer_names(interp.model):
            with self._entry_lock("model-use", name):
                heat = interp.grad_cam(idx)
            x = scale_pixels(interp.images[idx])
            for entry, img, h in zip(entries, x, heat, strict=True):
                entry["cam"] = png_url(plots.overlay(img, h))
        return {
            "epoch": epoch,
            "n_wrong": int(miss.sum()),
            "wrong": entries[: len(wrong)],
            "right": entries[len(wrong) :],
        }

    def _image_entry(self, interp, i: int) -> dict:
        pred = int(interp.preds[i])
        return {
            "index": i,
            "thumb": png_url(interp.images[i]),
            "true": interp.class_names[int(interp.targets[i])],
            "pred": interp.class_names[pred],
            "p_pred": float(interp.probs[i, pred]),
            "loss": float(interp.losses[i]),
            "cam": None,
        }


def _undrawn(out: np.ndarray) -> str | None:
    """Why a layer's output is not drawn (only (H, W, C) maps and 1-D vectors are), or None."""
    if out.ndim in (1, 3):
        return None
    return f"a {' × '.join(map(str, out.shape)) or 'scalar'} output: not drawn as maps"


def _split(split: Any) -> str:

    return _validate.one_of(split, "split", SPLITS)


def _limit(value: Any, most: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise ArgumentError(f"limit must be between 1 and {most}. Received: {value!r}")
    return value
