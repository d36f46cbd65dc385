"""How a layer other than a Conv2D made its output, for the model explorer's detail panel, and
the feature maps drawn on the range the page asks for (per map, per layer, whole network).

Every explanation is built from the model's own weights and the image's own activations (the
layer walk, :mod:`cnnlab.studio.walk`): the input a layer got, its output, and the numbers in
between worked out with :mod:`cnnlab.ops` and :mod:`cnnlab.nn.activations` as the NumPy engine
does. Each is checked against the layer's output; a layer whose output those numbers do not
give (a Keras option cnnlab does not know) is refused with one line, never explained wrongly.

docs/studio-api.md lists the answers (``"kind"``: activation, pool, batchnorm, dense, add,
note).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab import ops
from cnnlab.errors import ArgumentError, RunError
from cnnlab.nn import activations
from cnnlab.studio.encode import colour_maps, diverging_maps, rounded
from cnnlab.studio.playground import pads_json, window_view
from cnnlab.studio.walk import Step

__all__ = ["RANGES", "explain", "explains", "ranged_maps", "value_maps"]

RANGES = ("map", "layer", "network")
"""The ranges a feature map's colours can be read on (the explorer's control)."""
TOP_SHARES = 8
"""A Dense unit's largest contributions listed one by one; the rest are summed."""
POOLS = {
    "MaxPooling2D": "max",
    "AveragePooling2D": "average",
    "GlobalMaxPooling2D": "max",
    "GlobalAveragePooling2D": "average",
}
ELEMENTWISE = ("relu", "linear", "tanh", "sigmoid")
NOTES = {
    "Flatten": "lays the maps out as one vector, row by row with the channels innermost: "
    "no number changes",
    "Dropout": "passes its input through unchanged here; only while training it zeroes a "
    "random {rate:.0%} of the values and scales the rest by 1 / (1 - {rate:g})",
    "Rescaling": "multiplies every value by {scale:g} and adds {offset:g}: y = x * {scale:g} "
    "+ {offset:g}",
    "ZeroPadding2D": "adds a border of zeros around each map: no number changes",
    "Reshape": "gives the same numbers another shape: no number changes",
    "InputLayer": "is the image itself",
    "Concatenate": "puts its inputs side by side along the last axis: no number changes",
    "Add": "adds its inputs value by value",
}


def value_maps(maps: np.ndarray, lo: float, hi: float) -> list[str]:
    """Activations in viridis on ``lo..hi``; maps with negative values in blue-white-red
    around 0 (the studio's colours, docs/studio.md)."""
    if lo < 0:
        return diverging_maps(maps, max(abs(lo), abs(hi)))
    return colour_maps(maps, lo, hi)


def explains(step: Step) -> bool:
    """Whether the explorer can open ``step``'s maps or units (every layer but a Conv2D whose
    input is not one map stack, which :meth:`RunsFolder.feature_map` refuses)."""
    return step.kind != "Conv2D" or step.input.ndim == 3


def _activation(layer: Any) -> str:
    return str(layer.get_config().get("activation") or "linear").lower()


def explain(step: Step, channel: Any) -> dict:
    """How channel (or unit) ``channel`` of ``step``'s output was made."""
    out = step.output
    count = out.shape[-1] if out.ndim else 1
    if not isinstance(channel, int) or not 0 <= channel < count:
        what = "channels" if out.ndim == 3 else "units"
        raise ArgumentError(f"{step.name} has {what} 0..{count - 1}. Received: {channel!r}")
    head = {
        "layer": step.name,
        "type": step.kind,
        "channel": channel,
        "input_layer": step.input_name,
        "output_shape": list(out.shape),
    }
    kind = step.kind
    if kind in POOLS and step.input.ndim == 3:
        return head | _pool(step, channel)
    if kind == "BatchNormalization":
        return head | _batchnorm(step, channel)
    if kind == "Dense" and step.input.ndim == 1:
        return head | _dense(step, channel)
    if kind in ("Activation", "ReLU"):
        fn = "relu" if kind == "ReLU" else _activation(step.layer)
        if fn in ELEMENTWISE or out.ndim == 1:
            return head | _elementwise(step, channel, fn)
    if kind == "Add" and len(step.sources) > 1:
        return head | _add(step, channel)
    return head | _note(step)


# ---- the checks ---------------------------------------------------------------------------
def _check(step: Step, mine: np.ndarray, theirs: np.ndarray) -> None:
    """Refuse to explain a layer whose output the explanation's numbers do not give."""
    mine, theirs = np.asarray(mine, np.float64), np.asarray(theirs, np.float64)
    scale = max(1.0, float(np.abs(theirs).max()) if theirs.size else 1.0)
    if mine.shape != theirs.shape or not np.allclose(mine, theirs, rtol=1e-3, atol=1e-4 * scale):
        raise RunError(
            f"{step.name} ({step.kind}) computes something cnnlab cannot explain: its output "
            "differs from the explanation's numbers"
        )


def _map(values: np.ndarray) -> str:
    """One map (2-D) in the studio's colours, on its own range."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim < 2:
        v = v.reshape(1, -1)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    return value_maps(v[:, :, None], lo, hi)[0]


def _channel(a: np.ndarray, c: int) -> np.ndarray:
    return a[..., c] if a.ndim == 3 else a[c : c + 1].reshape(1, 1)


# ---- activations -------------------------------------------------------------------------
def apply(fn: str, z: np.ndarray) -> np.ndarray:
    """``fn`` of ``z`` as :mod:`cnnlab.nn.activations` computes it (softmax: the last axis)."""
    return activations.forward(fn, np.array(z, dtype=np.float64, copy=True))


def activation_part(fn: str, z: np.ndarray, out: np.ndarray, unit: int | None) -> dict:
    """The activation step from ``z`` (before) to the model's ``out`` (after). For a vector
    (``unit`` set): every unit's z and output, with exp(z) and their sum for a softmax."""
    part: dict[str, Any] = {"function": fn}
    if unit is None:
        return part
    part |= {"z": rounded(z), "output": rounded(out), "unit": unit}
    if fn == "softmax":
        shift = float(z.max()) if float(z.max()) > 50 else 0.0
        e = np.exp(z - shift)
        part |= {"shift": shift, "exp": rounded(e), "sum_exp": float(e.sum())}
    elif fn == "sigmoid":
        part |= {"exp_neg": rounded(np.exp(-z))}
    return part


def _elementwise(step: Step, c: int, fn: str) -> dict:
    x, y = step.input.astype(np.float64), step.output
    _check(step, apply(fn, x), y)
    if y.ndim == 1:
        return {
            "kind": "dense-activation",
            "what": f"applies {fn} to the {x.size} values it gets",
            "activation": activation_part(fn, x, y, c),
        }
    before, after = _channel(x, c), _channel(y, c)
    return {
        "kind": "activation",
        "what": _FUNCTIONS.get(fn, fn) + ", value by value",
        "function": fn,
        "before": rounded(before),
        "after": rounded(after),
        "before_map": _map(before),
        "after_map": _map(after),
        "zeroed": int((before < 0).sum()) if fn == "relu" else None,
    }


_FUNCTIONS = {
    "relu": "relu(x) = max(0, x): negatives become 0, the rest pass",
    "sigmoid": "sigmoid(x) = 1 / (1 + exp(-x)): any number to 0..1",
    "tanh": "tanh(x): any number to -1..1",
    "linear": "linear(x) = x: nothing changes",
}


# ---- pooling ------------------------------------------------------------------------------
def _pool(step: Step, c: int) -> dict:
    mode = POOLS[step.kind]
    x = step.input[:, :, c].astype(np.float64)
    cfg = step.layer.get_config()
    glob = step.kind.startswith("Global")
    if glob:
        window, strides, padding = tuple(x.shape), tuple(x.shape), "valid"
    else:
        window = tuple(cfg.get("pool_size", (2, 2)))
        strides = tuple(cfg.get("strides") or window)
        padding = cfg.get("padding", "valid")
    mine, _ = ops.pool2d_forward(x[None, :, :, None], window, strides, padding, mode=mode)
    theirs = step.output[..., c].reshape(mine.shape[1:3])
    _check(step, mine[0, :, :, 0], theirs)
    pads = ops.resolve_padding(padding, window, strides, x.shape)
    padded = ops.padding.pad_nhwc(x[None, :, :, None], pads, value=np.nan)[0, :, :, 0]
    wins = window_view(padded, window, strides, theirs.shape)  # (oh, ow, ph, pw)
    answer: dict[str, Any] = {
        "kind": "pool",
        "what": (
            f"keeps the {'largest value' if mode == 'max' else 'mean'} of each "
            + ("whole map" if glob else f"{window[0]} × {window[1]} window, stride {strides[0]}")
        ),
        "mode": mode,
        "global": glob,
        "padded": rounded(padded),
        "pads": pads_json(pads),
        "pool_size": list(window),
        "stride": list(strides),
        "output": rounded(theirs),
        "input_map": _map(x),
        "output_map": _map(theirs),
        "picked": None,
        "sums": None,
        "counts": None,
    }
    if mode == "max":
        flat = np.where(np.isnan(wins), -np.inf, wins).reshape(*wins.shape[:2], -1)
        first = flat.argmax(axis=-1)
        rows = np.arange(theirs.shape[0])[:, None] * strides[0] + first // window[1]
        cols = np.arange(theirs.shape[1])[None, :] * strides[1] + first % window[1]
        answer["picked"] = np.stack([rows, cols], axis=-1).tolist()
    else:
        answer["sums"] = rounded(np.nansum(wins, axis=(2, 3)))
        answer["counts"] = (~np.isnan(wins)).sum(axis=(2, 3)).tolist()
    return answer


# ---- batch normalization ------------------------------------------------------------------
def _batchnorm(step: Step, c: int) -> dict:
    cfg = step.layer.get_config()
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, list | tuple) else axis
    if axis not in (-1, step.output.ndim):  # the layer's own axis counts the batch
        return _note(step)
    weights = [np.asarray(w, dtype=np.float64) for w in step.layer.get_weights()]
    n = step.output.shape[-1]
    gamma = weights.pop(0) if cfg.get("scale", True) else np.ones(n)
    beta = weights.pop(0) if cfg.get("center", True) else np.zeros(n)
    mean, var = weights[0], weights[1]
    eps = float(cfg.get("epsilon", 1e-3))
    x = step.input.astype(np.float64)
    mine = gamma * (x - mean) / np.sqrt(var + eps) + beta
    _check(step, mine, step.output)
    before, after = _channel(x, c), _channel(step.output, c)
    factor = float(gamma[c] / np.sqrt(var[c] + eps))
    return {
        "kind": "batchnorm",
        "what": "normalizes each channel with the mean and variance learned in training, "
        "then scales by gamma and shifts by beta",
        "gamma": float(gamma[c]),
        "beta": float(beta[c]),
        "moving_mean": float(mean[c]),
        "moving_variance": float(var[c]),
        "epsilon": eps,
        "factor": factor,
        "before": rounded(before),
        "after": rounded(after),
        "before_map": _map(before),
        "after_map": _map(after),
    }


# ---- dense --------------------------------------------------------------------------------
def _dense(step: Step, c: int) -> dict:
    weights = [np.asarray(w, dtype=np.float64) for w in step.layer.get_weights()]
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[1])
    x = step.input.astype(np.float64)
    fn = _activation(step.layer)
    z = x @ kernel + bias
    _check(step, apply(fn, z), step.output)
    shares = x * kernel[:, c]
    order = np.argsort(-np.abs(shares), kind="stable")
    top, rest = order[:TOP_SHARES], order[TOP_SHARES:]
    w_abs = float(np.abs(kernel[:, c]).max()) or 1.0
    return {
        "kind": "dense",
        "what": f"each unit adds up its {x.size} inputs times its weights, plus its bias",
        "n_inputs": int(x.size),
        "shares": [
            {
                "index": int(i),
                "input": float(x[i]),
                "weight": float(kernel[i, c]),
                "share": float(shares[i]),
            }
            for i in top
        ],
        "rest": {"count": int(rest.size), "sum": float(shares[rest].sum())},
        "bias": float(bias[c]),
        "z_unit": float(z[c]),
        "share_extent": float(np.abs(shares).max()) or 1.0,
        "weight_extent": w_abs,
        "activation": activation_part(fn, z, step.output, c),
    }


# ---- add and the one-line layers ----------------------------------------------------------
def _add(step: Step, c: int) -> dict:
    out = step.output
    chan = _channel(out, c)
    i, j = np.unravel_index(int(np.abs(chan).argmax()), chan.shape)
    mine = sum(np.asarray(a, np.float64) for _, a in step.sources)
    _check(step, mine, out)
    return {
        "kind": "add",
        "what": NOTES["Add"],
        "cell": [int(i), int(j)],
        "inputs": [{"layer": n, "value": float(_channel(a, c)[i, j])} for n, a in step.sources],
        "value": float(chan[i, j]),
    }


def _note(step: Step) -> dict:
    cfg = step.layer.get_config()
    text = NOTES.get(step.kind)
    if text is None:
        text = f"turns {list(step.input.shape)} into {list(step.output.shape)}"
    else:
        text = text.format(
            rate=float(cfg.get("rate", 0) or 0),
            scale=float(cfg.get("scale", 1) or 0),
            offset=float(cfg.get("offset", 0) or 0),
        )
    answer = {"kind": "note", "what": text, "example": None}
    x, y = step.input, step.output
    if x.size and x.size == y.size:  # a value before -> after (the largest one moved)
        k = int(np.abs(y.ravel()).argmax())
        answer["example"] = {
            "before": float(x.ravel()[k]),
            "after": float(y.ravel()[k]),
            "at_before": [int(i) for i in np.unravel_index(k, x.shape)],
            "at_after": [int(i) for i in np.unravel_index(k, y.shape)],
        }
    return answer


# ---- the range choice ---------------------------------------------------------------------
def ranged_maps(walk: list[Step], choice: Any) -> dict:
    """Every feature map drawn on the range ``choice`` asks for: ``"map"`` (its own min..max),
    ``"layer"`` (its layer's) or ``"network"`` (every layer's maps: one range for the
    activations, viridis, and one extent for the signed layers, blue-white-red)."""
    if choice not in RANGES:
        raise ArgumentError(f"range must be one of {list(RANGES)}. Received: range={choice!r}")
    stacks = [(s.name, s.output.astype(np.float64)) for s in walk if s.output.ndim == 3]
    signed = [a for _, a in stacks if a.size and a.min() < 0]
    plain = [a for _, a in stacks if a.size and a.min() >= 0]
    network = {
        "sequential": [min(a.min() for a in plain), max(a.max() for a in plain)] if plain else None,
        "diverging": max(float(np.abs(a).max()) for a in signed) if signed else None,
    }
    network["sequential"] = network["sequential"] and [float(v) for v in network["sequential"]]
    layers = []
    for name, a in stacks:
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        diverging = lo < 0
        ranges = []
        maps = []
        for c in range(a.shape[2]):
            m = a[:, :, c : c + 1]
            if choice == "map":
                r = [float(m.min()), float(m.max())] if m.size else [0.0, 0.0]
                if diverging:
                    ext = max(abs(r[0]), abs(r[1]))
                    r = [-ext, ext]
            elif choice == "layer":
                r = [-max(-lo, hi), max(-lo, hi)] if diverging else [lo, hi]
            else:
                ext = network["diverging"] or 1.0
                r = [-ext, ext] if diverging else network["sequential"]
            ranges.append(r)
            maps += diverging_maps(m, r[1]) if diverging else colour_maps(m, r[0], r[1])
        layers.append(
            {
                "name": name,
                "scale": "diverging" if diverging else "sequential",
                "maps": maps,
                "ranges": ranges,
                "range": None if choice == "map" else ranges[0],
            }
        )
    return {"range": choice, "network": network, "layers": layers}
