"""The model walk behind ``cnnlab explain model``: a model's layers, shapes and parameters.

Walks a Keras model (Sequential or Functional), a :class:`cnnlab.nn.Sequential`, a
course model by name (``'happy'``, ``'signs'``) or a training run, and computes each
layer's output shape and parameters with the calculators of
:mod:`cnnlab.explain.calculators`, with the worked formula as the row's note.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _validate, keras_models
from cnnlab.engines import keras_parents
from cnnlab.errors import ArgumentError
from cnnlab.explain.calculators import (
    FLOAT32_BYTES,
    explain_conv,
    explain_pool,
    format_bytes,
    parse_size,
    shape_text,
)
from cnnlab.nn import registry
from cnnlab.training import load_model, load_run

_ELEMENTWISE = {
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "PReLU",
    "Softmax",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "Identity",
    "Rescaling",
    "Normalization",
}


@dataclass(frozen=True)
class LayerRow:
    """One layer of a model: its output shape and parameters, with how they were found.

    Attributes:
        name: the layer's name.
        kind: its class name (``'Conv2D'``, ``'MaxPooling2D'``, ...).
        output_shape: per-example output shape (no batch axis).
        params: total parameters (trainable and not).
        trainable: trainable parameters.
        note: the worked formula, or where the numbers came from.
    """

    name: str
    kind: str
    output_shape: tuple[int, ...]
    params: int
    trainable: int
    note: str = ""


@dataclass(frozen=True)
class ModelExplanation:
    """A model's layers with shapes and parameters computed by the calculators.

    Attributes:
        name: the model's name.
        input_shape: per-example input shape.
        rows: one :class:`LayerRow` per layer, in order.
    """

    name: str
    input_shape: tuple[int, ...]
    rows: tuple[LayerRow, ...] = field(default_factory=tuple)

    @property
    def params(self) -> int:
        """All parameters."""
        return sum(r.params for r in self.rows)

    @property
    def trainable(self) -> int:
        """Trainable parameters."""
        return sum(r.trainable for r in self.rows)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """The last layer's output shape."""
        return self.rows[-1].output_shape if self.rows else self.input_shape

    def lines(self) -> list[str]:
        """A table: layer, output shape, parameters, and how they were computed."""
        head = ("Layer (type)", "Output shape", "Params", "How")
        body = [
            (f"{r.name} ({r.kind})", shape_text(r.output_shape), f"{r.params:,}", r.note)
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(3)]

        def fmt(row: tuple[str, ...]) -> str:
            return (
                f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
            ).rstrip()

        rule = "-" * (
            sum(widths) + 4 + max(len(head[3]), max((len(r[3]) for r in body), default=0))
        )
        return [
            f"Model {self.name}: input {shape_text(self.input_shape)}",
            fmt(head),
            rule[:120],
            *[fmt(row) for row in body],
            rule[:120],
            f"Total params: {self.params:,} = {format_bytes(self.params * FLOAT32_BYTES)} in "
            f"float32; trainable: {self.trainable:,}; non-trainable: "
            f"{self.params - self.trainable:,}",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _layer_row(
    name: str, kind: str, config: dict[str, Any], in_shapes: list[tuple[int, ...]]
) -> LayerRow | None:
    """Compute one layer's row from its class name, config and input shape(s).

    Returns None for a layer the calculators do not know.
    """
    shape = in_shapes[0] if in_shapes else ()
    if kind in _ELEMENTWISE:
        act = config.get("activation")
        note = f"element-wise{f' {act}' if isinstance(act, str) else ''}: shape unchanged"
        return LayerRow(name, kind, shape, 0, 0, note)
    if registry.is_augmentation(kind):
        return LayerRow(name, kind, shape, 0, 0, "augmentation (training only): shape unchanged")
    if kind == "InputLayer":
        return None
    if kind == "ZeroPadding2D":
        (t, b), (l, r) = config["padding"]
        h, w, c = shape
        out = (h + t + b, w + l + r, c)
        return LayerRow(name, kind, out, 0, 0, f"({h}+{t}+{b}, {w}+{l}+{r}, {c}) zeros added")
    if kind == "Conv2D":
        if tuple(config.get("dilation_rate", (1, 1))) != (1, 1) or config.get("groups", 1) != 1:
            return None
        e = explain_conv(
            shape,
            config["filters"],
            tuple(config["kernel_size"]),
            tuple(config["strides"]),
            config["padding"],
            config.get("use_bias", True),
        )
        fh, fw = e.kernel_size
        bias = " + 1" if e.use_bias else ""
        note = (
            f"({fh}*{fw}*{shape[2]}{bias})*{e.filters}; "
            f"n_H = floor(({e.axes[0].n} + {sum(e.axes[0].pad)} - {fh})/{e.strides[0]}) + 1"
        )
        return LayerRow(name, kind, e.output_shape, e.params, e.params, note)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        e = explain_pool(
            shape,
            tuple(config["pool_size"]),
            None if config.get("strides") is None else tuple(config["strides"]),
            config["padding"],
        )
        fh = e.pool_size[0]
        note = f"no params; n_H = floor(({e.axes[0].n} + {sum(e.axes[0].pad)} - {fh})"
        note += f"/{e.strides[0]}) + 1"
        return LayerRow(name, kind, e.output_shape, 0, 0, note)
    if kind == "BatchNormalization":
        c = shape[-1]
        per = int(bool(config.get("center", True))) + int(bool(config.get("scale", True)))
        note = f"{per}*{c} trainable (gamma, beta) + 2*{c} moving mean/variance"
        return LayerRow(name, kind, shape, (per + 2) * c, per * c, note)
    if kind == "Flatten":
        n = int(np.prod(shape))
        return LayerRow(name, kind, (n,), 0, 0, " * ".join(map(str, shape)) + f" = {n:,}")
    if kind in ("GlobalAveragePooling2D", "GlobalMaxPooling2D"):
        return LayerRow(name, kind, (shape[-1],), 0, 0, "one value per channel")
    if kind == "Dense":
        units, n_in = int(config["units"]), shape[-1]
        bias = int(bool(config.get("use_bias", True)))
        params = (n_in + bias) * units
        act = config.get("activation", "linear")
        note = f"({n_in:,}{' + 1' if bias else ''})*{units}, {act}"
        return LayerRow(name, kind, (*shape[:-1], units), params, params, note)
    if kind in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
        return LayerRow(name, kind, shape, 0, 0, f"element-wise over {len(in_shapes)} inputs")
    if kind == "Concatenate":
        axis = config.get("axis", -1)
        if axis != -1 and axis != len(shape):
            return None
        c = sum(s[-1] for s in in_shapes)
        note = " + ".join(str(s[-1]) for s in in_shapes) + " channels"
        return LayerRow(name, kind, (*shape[:-1], c), 0, 0, note)
    return None


def explain_layers(
    layers: Sequence[tuple[str, str, dict[str, Any]]],
    input_shape: Sequence[int],
    name: str = "model",
) -> ModelExplanation:
    """Explain a chain of layers given as ``(name, class_name, config)`` (Keras config keys).

    Each layer's output shape and parameter count comes from the calculators
    above, starting from ``input_shape`` (per example, no batch axis).

    Raises:
        ValueError: for a layer type the calculators do not know.

    Example:
        >>> m = explain_layers(
        ...     [("c", "Conv2D", {"filters": 8, "kernel_size": (3, 3), "strides": (1, 1),
        ...                       "padding": "valid"}),
        ...      ("f", "Flatten", {})],
        ...     (6, 6, 3))
        >>> m.output_shape, m.params
        ((128,), 224)
    """
    rows: list[LayerRow] = []
    shape = tuple(int(v) for v in input_shape)
    for layer_name, kind, config in layers:
        row = _layer_row(layer_name, kind, config, [shape])
        if row is None:
            if kind == "InputLayer":
                continue
            raise ArgumentError(
                f"cannot explain layer {layer_name!r}: type {kind} is not known to the calculator"
            )
        rows.append(row)
        shape = row.output_shape
    return ModelExplanation(name, tuple(int(v) for v in input_shape), tuple(rows))


def explain_keras_model(model: Any) -> ModelExplanation:
    """Explain a built Keras model (Sequential or Functional) layer by layer.

    Shapes and parameters come from this module's calculators, following the
    graph from the model's input; Keras itself is only read for each layer's
    config and connections. A layer the calculators do not know is reported with
    Keras's own numbers and the note ``'(from Keras)'``.

    Args:
        model: a built ``keras.Model`` with one image input.

    Raises:
        ValueError: for a model with several inputs, or one that is not built.
    """
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ArgumentError(f"the model {model.name!r} is not built; call it on an input first")
    if len(inputs) != 1:
        raise ArgumentError(
            f"explain handles models with one input. Received: {len(inputs)} inputs "
            f"for {model.name!r}"
        )
    input_shape = tuple(int(v) for v in inputs[0].shape[1:])
    shapes: dict[int, tuple[int, ...]] = {}
    rows: list[LayerRow] = []
    previous: tuple[int, ...] = input_shape
    for layer in model.layers:
        kind = registry.kind(layer)
        if kind == "InputLayer":
            shapes[id(layer)] = input_shape
            previous = input_shape
            continue
        parents = [p for p in keras_parents(layer) if id(p) in shapes]
        in_shapes = [shapes[id(p)] for p in parents] or [previous]
        row = _layer_row(layer.name, kind, layer.get_config(), in_shapes)
        if row is None:
            out = tuple(int(v) for v in layer.output.shape[1:])
            trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
            row = LayerRow(layer.name, kind, out, layer.count_params(), trainable, "(from Keras)")
        rows.append(row)
        shapes[id(layer)] = row.output_shape
        previous = row.output_shape
    return ModelExplanation(model.name, input_shape, tuple(rows))


COURSE_MODELS = ("happy", "signs")
MAX_CHANNELS = 64
"""The most input channels ``explain model happy|signs --input`` builds a model for."""


def explain_model(
    target: str | os.PathLike | Any, input_shape: Sequence[int] | None = None
) -> ModelExplanation:
    """Explain the course's ``'happy'`` or ``'signs'`` model, a run directory, or a model.

    Args:
        target: ``'happy'`` (Sequential), ``'signs'`` (Functional), the path of a
            training run (see :func:`cnnlab.training.load_run`), or a built
            ``keras.Model`` or ``cnnlab.nn`` model.
        input_shape: image shape for ``'happy'``/``'signs'``; default ``(64, 64, 3)``.

    Raises:
        ValueError: for an unknown name; ``RunError`` for a directory that is not a run.

    Example:
        >>> explain_model("signs").params          # doctest: +SKIP
        1310
    """
    if isinstance(target, str | os.PathLike):
        name = str(target)
        if name in COURSE_MODELS:
            build = keras_models.happy_model if name == "happy" else keras_models.signs_model
            if input_shape is None:
                return explain_keras_model(build())
            shape = parse_size(input_shape)
            # A real Keras model is built: its image is held to the size a run may take.
            _validate.image_size(shape[:2], "--input")
            if not 1 <= shape[2] <= MAX_CHANNELS:
                raise ArgumentError(
                    f"input channels must be between 1 and {MAX_CHANNELS}. "
                    f"Received: input={'x'.join(map(str, shape))}"
                )
            model = build(shape)
            return explain_keras_model(model)
        if input_shape is not None:
            raise ArgumentError(
                "input_shape applies to 'happy' and 'signs' only; a run has its own. "
                f"Received: target={name!r}, input_shape={input_shape!r}"
            )
        if not Path(name).exists():
            raise ArgumentError(
                "target must be 'happy', 'signs' or a training run directory. "
                f"Received: {name!r} (no such directory)"
            )
        return _explain_run(Path(name))
    return _explain_any_model(target)


def _explain_any_model(model: Any) -> ModelExplanation:
    if hasattr(model, "get_config") and hasattr(model, "inputs") and hasattr(model, "layers"):
        try:
            import keras
        except ImportError:  # pragma: no cover - keras ships with cnnlab
            keras = None
        if keras is not None and isinstance(model, keras.Model):
            return explain_keras_model(model)
    return explain_nn_model(model)


def explain_nn_model(model: Any) -> ModelExplanation:
    """Explain a built ``cnnlab.nn`` model (Keras-like layers with ``get_config()``).

    Raises:
        ValueError: when the model is not built (its input shape is unknown).
    """
    layers = getattr(model, "layers", None)
    if layers is None:
        raise ArgumentError(
            f"cannot explain {type(model).__name__}: expected a keras.Model or a cnnlab.nn "
            "model with .layers"
        )
    shape = getattr(model, "input_shape", None)
    if shape is None:
        raise ArgumentError(
            f"the model {getattr(model, 'name', '')!r} is not built; build it first"
        )
    shape = tuple(int(v) for v in shape if v is not None)
    specs = [(layer.name, registry.kind(layer), layer.get_config()) for layer in layers]
    return explain_layers(specs, shape, name=getattr(model, "name", "model"))


def _explain_run(run_dir: Path) -> ModelExplanation:

    run = load_run(run_dir)
    e = _explain_any_model(load_model(run))
    return ModelExplanation(f"{e.name} (run {run_dir})", e.input_shape, e.rows)
