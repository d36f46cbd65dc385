"""Why did the model decide? Grad-CAM, saliency, top losses and a per-class report.

Both engines: a Keras model (gradients from ``tf.GradientTape``, as in the keras.io Grad-CAM
example) or a :class:`cnnlab.nn.Sequential` (gradients from the layers' own ``backward``).
On the same weights the two agree to floating-point precision (the tests check it).

**The class score** ``S_c`` that every map here differentiates is the *logit* of class ``c``,
the last layer's pre-activation output (Selvaraju et al. use the score before the softmax):

- softmax output (``n`` units): ``S_c = z_c``;
- sigmoid output (1 unit, a binary task with classes 0 and 1): ``S_1 = z`` and ``S_0 = -z``
  (``1 - sigmoid(z) = sigmoid(-z)``: ``-z`` is the logit of class 0).

A last layer without an activation scores its output itself.

**Grad-CAM** of a conv layer with feature maps ``A^k`` (``k`` = channel)::

    alpha_k = mean over (i, j) of dS_c / dA^k_ij        (one weight per channel)
    L_c     = ReLU(sum_k alpha_k A^k)                    (h', w') map at the layer's size

then divided by its maximum (a map with no positive evidence stays 0) and resized
bilinearly (half-pixel centres, as ``tf.image.resize``) to the input's ``(H, W)``.

**Saliency**: ``max over channels of |dS_c / dx|``, one value per input pixel.

Example:
    >>> from cnnlab import interpret, numpy_models
    >>> model = numpy_models.signs_model((16, 16, 3), n_classes=3)
    >>> x = np.random.default_rng(0).random((2, 16, 16, 3), dtype="float32")
    >>> interpret.grad_cam(model, x).shape
    (2, 16, 16)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _io, _validate
from cnnlab.errors import ArgumentError, RunError

SPLITS = ("test", "val", "train")
_EPSILON = 1e-7  # probabilities clipped to [eps, 1 - eps] in the loss, as Keras does


# ---- the model, whichever engine ---------------------------------------------------------
def _is_numpy(model: Any) -> bool:
    from cnnlab import nn

    return isinstance(model, nn.Sequential)


def _n_outputs(model: Any) -> int:
    return int(model.output_shape[-1])


def n_classes(model: Any) -> int:
    """The classes a model tells apart: its output units, or 2 for one sigmoid unit."""
    n = _n_outputs(model)
    return 2 if n == 1 else n


def conv_layer_names(model: Any) -> list[str]:
    """The names of the model's Conv2D layers (either engine), in order."""
    from cnnlab.nn import registry

    return [layer.name for layer in model.layers if registry.is_conv(layer)]


def _conv_layer(model: Any, layer: str | None):
    """The Conv2D layer named ``layer`` (default: the last one)."""
    from cnnlab.nn import registry

    names = conv_layer_names(model)
    if not names:
        raise ArgumentError(f"model {model.name!r} has no Conv2D layer: Grad-CAM needs one")
    listed = ", ".join(names)
    if layer is None:
        return model.get_layer(names[-1])
    by_name = {lay.name: lay for lay in model.layers}
    if not isinstance(layer, str) or layer not in by_name:
        raise ArgumentError(
            f"layer {layer!r} is not a layer of model {model.name!r}; its Conv2D layers: {listed}"
        )
    found = by_name[layer]
    if not registry.is_conv(found):
        raise ArgumentError(
            f"layer {layer!r} is a {registry.kind(found)}, not a Conv2D layer; Grad-CAM needs "
            f"the feature maps of a Conv2D layer: {listed}"
        )
    return found


def _as_batch(model: Any, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ArgumentError(
            f"x must be a batch of images (N, H, W, C). Received: x.shape={x.shape}"
        )
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x


def _class_indices(model: Any, class_index: Any, logits: np.ndarray) -> np.ndarray:
    """``(N,)`` class indices: the predicted ones (None), one for all, or one per image."""
    n = logits.shape[0]
    k = n_classes(model)
    if class_index is None:
        if logits.shape[1] == 1:
            return (logits[:, 0] >= 0).astype(np.int64)  # sigmoid(z) >= 0.5
        return logits.argmax(axis=1).astype(np.int64)
    c = np.asarray(class_index)
    if c.ndim == 0:
        c = np.full(n, c)
    if (
        c.shape != (n,)
        or not all(_validate.is_int(v) for v in c.tolist())
        or c.min() < 0
        or c.max() >= k
    ):
        raise ArgumentError(
            f"class_index must be an integer in 0..{k - 1} (the model has {k} classes), or one "
            f"per image ({n}). Received: class_index={class_index!r}"
        )
    return c.astype(np.int64)


def _score_seed(logits: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """d(sum of the class scores) / d(logits): one-hot (softmax), +1 or -1 (sigmoid)."""
    seed = np.zeros_like(logits)
    rows = np.arange(len(classes))
    if logits.shape[1] == 1:
        seed[:, 0] = np.where(classes == 1, 1.0, -1.0)
    else:
        seed[rows, classes] = 1.0
    return seed


# ---- the NumPy engine: the layers' own backward ------------------------------------------
@contextlib.contextmanager
def _untouched(model) -> Iterator[None]:
    """Run a forward/backward pass that leaves the model as it was: every weight's value and
    accumulated gradient are restored afterwards, and BatchNormalization layers run on their
    moving statistics (as a frozen layer does: ``trainable=False`` for the pass, which keeps
    the cache backward needs without touching the statistics)."""
    from cnnlab.nn.layers.normalization import BatchNormalization

    saved = [(w, w.value.copy(), None if w.grad is None else w.grad.copy()) for w in model.weights]
    frozen = [
        layer for layer in model.layers if isinstance(layer, BatchNormalization) and layer.trainable
    ]
    try:
        for layer in frozen:
            layer.trainable = False
        yield
    finally:
        for layer in frozen:
            layer.trainable = True
        for w, value, grad in saved:
            w.value[...] = value
            if grad is not None:
                w.grad[...] = grad


def _numpy_gradients(model, x, class_index, stop: int | None):
    """Inference-mode forward keeping the activations, then backward from the class scores.

    ``stop``: the position of the layer whose output gradient is wanted (None: the input).
    Returns ``(activation of layer stop or x, its gradient, logits, classes)``.
    """
    from cnnlab.nn.layers.base import ActivatedLayer
    from cnnlab.nn.layers.core import Dropout

    x = model._prepare_x(x)
    layers = model.layers
    last = layers[-1]
    activated = isinstance(last, ActivatedLayer)
    with _untouched(model):
        h = x
        acts = []
        for layer in layers[:-1]:
            # training=True keeps the caches backward needs; Dropout stays the identity
            h = layer.forward(h, training=not isinstance(layer, Dropout))
            acts.append(h)
        if activated:
            logits = last.forward_logits(h, training=True)
        else:
            logits = last.forward(h, training=True)
        logits = np.array(logits, copy=True)
        classes = _class_indices(model, class_index, logits)
        g = _score_seed(logits, classes)
        g = last.backward_logits(g) if activated else last.backward(g)
        low = -1 if stop is None else stop
        for i in range(len(layers) - 2, low, -1):
            g = layers[i].backward(g)
    target = x if stop is None else acts[stop]
    return target, g, logits, classes


# ---- Keras: GradientTape -----------------------------------------------------------------
def _keras_logits(last, h):
    """The logits of Keras's last layer from its input ``h`` (a tensor)."""
    from keras import ops

    kind = type(last).__name__
    if kind == "Dense":
        z = ops.matmul(h, last.kernel)
        return z + last.bias if last.use_bias else z
    if kind == "Activation":
        return h
    return last(h, training=False)


def _keras_gradients(model, x, class_index, conv):
    """``(feature maps or x, gradient, logits, classes)`` from a GradientTape."""
    import keras
    import tensorflow as tf

    last = model.layers[-1]
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    dtype = last.compute_dtype
    xt = tf.convert_to_tensor(x, dtype=dtype)
    if conv is None:
        probe = keras.Model(inputs=inputs, outputs=last.input)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            logits = _keras_logits(last, probe(xt, training=False))
            z = logits.numpy()
            classes = _class_indices(model, class_index, z)
            score = tf.reduce_sum(logits * tf.constant(_score_seed(z, classes), dtype=logits.dtype))
        return x, tape.gradient(score, xt).numpy(), z, classes
    with tf.GradientTape() as tape:
        if isinstance(model, keras.Sequential):
            # Layer by layer: a Sequential loaded from a .keras file may hold its layers'
            # symbolic outputs in another graph than its input, so a probe Model over
            # conv.output would not connect the maps to the logits.
            h = xt
            for layer in model.layers[:-1]:
                h = layer(h, training=False)
                if layer is conv:
                    maps = h
        else:
            probe = keras.Model(inputs=inputs, outputs=[conv.output, last.input])
            maps, h = probe(xt, training=False)
        logits = _keras_logits(last, h)
        z = logits.numpy()
        classes = _class_indices(model, class_index, z)
        score = tf.reduce_sum(logits * tf.constant(_score_seed(z, classes), dtype=logits.dtype))
    return maps.numpy(), tape.gradient(score, maps).numpy(), z, classes


# ---- the maps ----------------------------------------------------------------------------
def resize_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(N, h, w)`` -> ``(N, H, W)`` by bilinear interpolation with half-pixel centres
    (``tf.image.resize(..., "bilinear")`` without antialiasing). Values stay in the input's
    range: every output is a convex mix of four inputs."""
    maps = np.asarray(maps, dtype=np.float64)
    out_h, out_w = size

    def axis(n_in: int, n_out: int):
        s = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(s).astype(np.int64)
        return i0, np.minimum(i0 + 1, n_in - 1), s - i0

    r0, r1, fr = axis(maps.shape[1], out_h)
    c0, c1, fc = axis(maps.shape[2], out_w)
    rows = maps[:, r0] * (1 - fr)[None, :, None] + maps[:, r1] * fr[None, :, None]
    return rows[:, :, c0] * (1 - fc) + rows[:, :, c1] * fc


def _grad_cam_raw(model, x, class_index=None, layer=None):
    """``(L_c at the layer's size (N, h', w') float64, classes (N,))``, before scaling."""
    x = _as_batch(model, x)
    conv = _conv_layer(model, layer)
    if _is_numpy(model):
        maps, grads, _, classes = _numpy_gradients(model, x, class_index, model.layers.index(conv))
    else:
        maps, grads, _, classes = _keras_gradients(model, x, class_index, conv)
    maps = np.asarray(maps, dtype=np.float64)
    alpha = np.asarray(grads, dtype=np.float64).mean(axis=(1, 2))  # (N, K)
    return np.maximum(np.einsum("nijk,nk->nij", maps, alpha), 0.0), classes


def grad_cam(model: Any, x: Any, class_index: Any = None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heat maps: where in each image the evidence for a class lies.

    Args:
        model: a Keras model or a :class:`cnnlab.nn.Sequential` (either engine), whose last
            layer gives the class scores (see the module docstring: the logits).
        x: ``(N, H, W, C)`` images as the model takes them (float, e.g. in [0, 1]).
        class_index: None (each image's predicted class), an int for all images, or
            ``(N,)`` ints. A sigmoid model has classes 0 and 1.
        layer: the name of a Conv2D layer (default: the last one).

    Returns:
        float32 ``(N, H, W)`` in [0, 1]: ``ReLU(sum_k alpha_k A^k)`` divided by its maximum
        (all 0 where nothing speaks for the class), resized bilinearly to ``(H, W)``.

    Raises:
        ArgumentError: ``layer`` is unknown or not a Conv2D (the message lists the Conv2D
            layers), the model has none, or ``class_index`` is out of range.

    The model is left as it was: weights, BatchNormalization statistics and (NumPy engine)
    the accumulated gradients are unchanged.
    """
    x = _as_batch(model, x)
    cam, _ = _grad_cam_raw(model, x, class_index, layer)
    top = cam.max(axis=(1, 2), keepdims=True)
    cam = np.where(top > 0, cam / np.where(top > 0, top, 1.0), 0.0)
    return np.clip(resize_bilinear(cam, x.shape[1:3]), 0.0, 1.0).astype(np.float32)


def saliency(model: Any, x: Any, class_index: Any = None) -> np.ndarray:
    """Saliency maps: how strongly each pixel moves the class score.

    Args:
        model, x, class_index: as :func:`grad_cam`.

    Returns:
        ``(N, H, W)`` ``max over channels of |dS_c / dx|`` (S_c: the class's logit), in the
        model's float type, not rescaled.
    """
    x = _as_batch(model, x)
    if _is_numpy(model):
        _, grads, _, _ = _numpy_gradients(model, x, class_index, None)
    else:
        _, grads, _, _ = _keras_gradients(model, x, class_index, None)
    return np.abs(np.asarray(grads)).max(axis=-1)


def class_scores(model: Any, x: Any) -> np.ndarray:
    """The logits ``(N, outputs)`` that :func:`grad_cam` and :func:`saliency` differentiate."""
    x = _as_batch(model, x)
    if _is_numpy(model):
        _, _, logits, _ = _numpy_gradients(model, x, None, None)
    else:
        _, _, logits, _ = _keras_gradients(model, x, None, None)
    return np.asarray(logits)


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
        from cnnlab.training.engines import get_engine
        from cnnlab.training.prep import load_data, preprocess
        from cnnlab.training.rundir import load_model, load_run

        split = _validate.one_of(split, "split", SPLITS)
        run = load_run(run_dir)
        eng = engine or run.config.engine
        model = load_model(run, eng) if model is None else model
        ds = load_data(run.config, None, progress=progress) if dataset is None else dataset
        if list(ds.class_names) != run.class_names:
            raise RunError(
                f"{run.config.data}: classes {ds.class_names} differ from the run's "
                f"{run.class_names}"
            )
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if len(x) == 0:
            raise RunError(f"{run.dir}: the run's {split} split holds no images")
        probs = get_engine(eng).predict(model, preprocess(x), run.config.batch_size)
        return cls(list(run.class_names), y, probs, images=x, model=model, run=run, split=split)

    def top_losses(self, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(indices, losses)`` of the ``k`` images with the largest loss, largest first
        (all of them when ``k`` is None; ties in index order)."""
        order = np.argsort(-self.losses, kind="stable")
        if k is not None:
            order = order[: _validate.positive_int(k, "k")]
        return order, self.losses[order]

    def confusion_matrix(self, normalize: str | None = None) -> np.ndarray:
        """Rows: true class, columns: predicted (scikit-learn's ``confusion_matrix``).

        ``normalize="true"``: each row divided by its count (a class with no images: 0)."""
        from sklearn.metrics import confusion_matrix

        if normalize not in (None, "true"):
            raise ArgumentError(
                f"normalize must be None or 'true'. Received: normalize={normalize!r}"
            )
        labels = list(range(len(self.class_names)))
        cm = confusion_matrix(self.targets, self.preds, labels=labels)
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
        from cnnlab.training.prep import preprocess

        if self.model is None or self.images is None:
            raise ArgumentError("grad_cam needs the model and images (use from_run)")
        idx = np.asarray(indices, dtype=np.int64)
        return grad_cam(self.model, preprocess(self.images[idx]), self.preds[idx], layer)

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
        from cnnlab import plots

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
        from cnnlab import plots

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
        from cnnlab import plots

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
        _conv_layer(interp.model, layer)  # a bad --layer fails before anything is written
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
