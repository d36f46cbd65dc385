"""Where did the model look? Grad-CAM and saliency maps, for either engine.

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
from collections.abc import Iterator
from typing import Any

import numpy as np

from cnnlab import _validate, nn
from cnnlab.engines import engine_of
from cnnlab.errors import ArgumentError
from cnnlab.nn import registry
from cnnlab.nn.layers.base import ActivatedLayer
from cnnlab.nn.layers.core import Dropout
from cnnlab.nn.layers.normalization import BatchNormalization


# ---- the model, whichever engine ---------------------------------------------------------
def _n_outputs(model: Any) -> int:
    return int(model.output_shape[-1])


def n_classes(model: Any) -> int:
    """The classes a model tells apart: its output units, or 2 for one sigmoid unit."""
    n = _n_outputs(model)
    return 2 if n == 1 else n


def conv_layer_names(model: Any) -> list[str]:
    """The names of the model's Conv2D layers (either engine), in order."""

    return [layer.name for layer in model.layers if registry.is_conv(layer)]


def conv_layer(model: Any, layer: str | None):
    """The Conv2D layer named ``layer`` (default: the last one)."""

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

    x = model._prepare_x(x)
    if isinstance(model, nn.Model):
        return _graph_gradients(model, x, class_index, stop)
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


def _graph_gradients(model, x, class_index, stop: int | None):
    """:func:`_numpy_gradients` for a graph :class:`~cnnlab.nn.Model`: the layers in graph
    order, the gradients of a tensor used twice added (as :class:`~cnnlab.nn.plan.GraphPlan`)."""
    layers = model.layers
    inbound = [model.inbound[layer.name] for layer in layers]
    last = layers[-1]
    activated = isinstance(last, ActivatedLayer)
    target = model._input.name if stop is None else layers[stop].name

    def inputs(tensors, names):
        return tensors[names[0]] if len(names) == 1 else [tensors[n] for n in names]

    with _untouched(model):
        tensors = {model._input.name: x}
        for layer, names in zip(layers[:-1], inbound[:-1], strict=True):
            # training=True keeps the caches backward needs; Dropout stays the identity
            tensors[layer.name] = layer.forward(
                inputs(tensors, names), training=not isinstance(layer, Dropout)
            )
        h = inputs(tensors, inbound[-1])
        logits = last.forward_logits(h, training=True) if activated else last.forward(h, True)
        logits = np.array(logits, copy=True)
        classes = _class_indices(model, class_index, logits)
        g = _score_seed(logits, classes)
        grads = {inbound[-1][0]: last.backward_logits(g) if activated else last.backward(g)}
        for i in range(len(layers) - 2, -1, -1):
            if layers[i].name == target:
                break
            dy = grads.pop(layers[i].name, None)
            if dy is None:
                continue
            dx = layers[i].backward(dy)
            parts = [dx] if len(inbound[i]) == 1 else dx
            for name, part in zip(inbound[i], parts, strict=True):
                grads[name] = part if name not in grads else grads[name] + part
    return tensors[target], grads[target], logits, classes


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


def grad_cam_raw(model, x, class_index=None, layer=None):
    """``(L_c at the layer's size (N, h', w') float64, classes (N,))``, before scaling."""
    x = _as_batch(model, x)
    conv = conv_layer(model, layer)
    if engine_of(model) == "numpy":
        maps, grads, _, classes = _numpy_gradients(model, x, class_index, model.layers.index(conv))
    else:
        maps, grads, _, classes = _keras_gradients(model, x, class_index, conv)
    maps = np.asarray(maps, dtype=np.float64)
    alpha = np.asarray(grads, dtype=np.float64).mean(axis=(1, 2))  # (N, K)
    return np.maximum(np.einsum("nijk,nk->nij", maps, alpha), 0.0), classes


def grad_cam(model: Any, x: Any, class_index: Any = None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM heat maps: where in each image the evidence for a class lies.

    Args:
        model: a Keras model, a :class:`cnnlab.nn.Sequential` or a graph
            :class:`cnnlab.nn.Model`, whose last layer gives the class scores (see the module
            docstring: the logits).
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
    cam, _ = grad_cam_raw(model, x, class_index, layer)
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
    if engine_of(model) == "numpy":
        _, grads, _, _ = _numpy_gradients(model, x, class_index, None)
    else:
        _, grads, _, _ = _keras_gradients(model, x, class_index, None)
    return np.abs(np.asarray(grads)).max(axis=-1)


def class_scores(model: Any, x: Any) -> np.ndarray:
    """The logits ``(N, outputs)`` that :func:`grad_cam` and :func:`saliency` differentiate."""
    x = _as_batch(model, x)
    if engine_of(model) == "numpy":
        _, _, logits, _ = _numpy_gradients(model, x, None, None)
    else:
        _, _, logits, _ = _keras_gradients(model, x, None, None)
    return np.asarray(logits)
