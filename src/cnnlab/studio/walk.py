"""One image through a model, layer by layer, as the model explorer draws it: each layer's
output, the one input it took, and its parameter count."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.engines import layer_outputs
from cnnlab.explain.model import explain_model

__all__ = ["Step", "walk"]


@dataclass
class Step:
    """One layer of the walk."""

    layer: Any
    name: str
    kind: str
    params: int
    input: np.ndarray
    """The one input of the layer for this image (no batch axis)."""
    input_name: str
    """The layer feeding it ("input": the image)."""
    output: np.ndarray
    sources: tuple[tuple[str, np.ndarray], ...] = ()
    """Every input of the layer, as ``(layer name, output)`` pairs ("input": the image): one
    for most layers, several for Add or Concatenate."""


_PARAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def walk(model: Any, x: np.ndarray) -> list[Step]:
    """Every layer's output for one image ``x`` (1, H, W, C), with the input each layer got,
    and its parameter count (from ``cnnlab explain``, worked out once per loaded model)."""
    params = _PARAMS.get(model)
    if params is None:
        params = {row.name: row.params for row in explain_model(model).rows}
        _PARAMS[model] = params
    steps: list[Step] = []
    by_name: dict[str, np.ndarray] = {"input": x[0]}
    for got in layer_outputs(model, x):
        if len(got.parents) == 1 and got.parents[0] in by_name:
            src, src_name = by_name[got.parents[0]], got.parents[0]
        elif not got.parents:
            src, src_name = x[0], "input"
        else:  # Add, Concatenate, ...: several inputs, no single one to show
            src, src_name = np.zeros(0), "several"
        n = params.get(got.name, got.layer.count_params())
        sources = tuple((p, by_name[p]) for p in got.parents if p in by_name)
        steps.append(Step(got.layer, got.name, got.kind, n, src, src_name, got.output, sources))
        by_name[got.name] = got.output
    return steps
