"""Known mistakes, as deliberately broken variants of the reference loops.

When a learner's function fails, ``cnnlab check`` runs each variant of that function on
the same inputs (in the parent process) and compares: a variant that reproduces the
learner's outputs on *every* case (the same numbers where the learner returned numbers,
the same exception type where the learner's code raised) names the mistake. A variant that
reproduces only the first failing case gives a weaker "probably" diagnosis.

The variants are written as the course's loops with one thing changed, so a learner
reading this file sees each mistake in the same shape as their own code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import product

import numpy as np


@dataclass(frozen=True)
class Mistake:
    """A known mistake: a short id, a title and what it means."""

    id: str
    title: str
    explanation: str


MISTAKES = {
    m.id: m
    for m in (
        Mistake(
            "bias-missing",
            "the bias b is missing",
            "Every output value is sum(a_slice_prev * W) + b; without + b each output of "
            "filter c is off by b[..., c].",
        ),
        Mistake(
            "bias-wrong",
            "the bias is added wrongly",
            "Filter c gets its own bias b[0, 0, 0, c], added once to the sum: not another "
            "channel's bias, and not added to every product before summing "
            "(sum(a * W + b) adds it f * f * n_C_prev times).",
        ),
        Mistake(
            "channel-sum-missing",
            "the sum over the input channels is missing",
            "A filter spans all n_C_prev input channels: Z = sum over i, j and k of "
            "a[i, j, k] * W[i, j, k]. Using one channel, or summing over the height and "
            "width only, leaves the other channels out.",
        ),
        Mistake(
            "stride-ignored",
            "the stride is ignored",
            "Output position h starts at row h * stride (vert_start = h * stride), and "
            "position w at column w * stride; with the stride left out the windows move "
            "one pixel at a time.",
        ),
        Mistake(
            "stride-one-direction",
            "the stride is applied in one direction only",
            "Both vert_start = h * stride and horiz_start = w * stride need the stride.",
        ),
        Mistake(
            "padding-not-applied",
            "the padding is not applied",
            "The windows must slide over A_prev_pad = zero_pad(A_prev, pad), and the "
            "output size counts the padding: n_H = (n_H_prev - f + 2 * pad) // stride + 1.",
        ),
        Mistake(
            "padding-sliced-away",
            "the padding is sliced away with a[pad:-pad], which is empty when pad is 0",
            "-0 is 0, so x[0:-0] is x[0:0], an empty array. Slice x[pad:pad + n_H_prev] "
            "(or x[pad:x.shape[0] - pad]) instead.",
        ),
        Mistake(
            "padding-every-axis",
            "the padding is added to every axis",
            "Only the height and width are padded: np.pad(X, ((0, 0), (pad, pad), "
            "(pad, pad), (0, 0))). Padding the examples and the channels too changes the "
            "shape to (m + 2 * pad, ..., n_C + 2 * pad).",
        ),
        Mistake(
            "height-width-swapped",
            "the height and the width are swapped",
            "NHWC: axis 1 is the height (rows, vert_start, index h) and axis 2 the width "
            "(columns, horiz_start, index w). Square inputs hide this mistake; non-square "
            "ones show it.",
        ),
        Mistake(
            "average-wrong-count",
            "the average divides by the wrong count",
            "An f x f window holds f * f values: its average is their sum / (f * f), and "
            "distribute_value gives each of the n_H * n_W cells dz / (n_H * n_W).",
        ),
        Mistake(
            "mask-wrong-window",
            "the max-pooling mask is taken over the wrong window or axis",
            "The mask marks where the window x reaches its single maximum: x == np.max(x), "
            "the maximum over the whole f x f window of one channel (not per row or "
            "column, and not across channels). Keeping every tied maximum, as the course "
            "does, is accepted.",
        ),
        Mistake(
            "pool-backward-stride-ignored",
            "pool_backward ignores the stride",
            "The gradient of output (h, w) goes back to the same window the forward pass "
            "read: rows h * stride to h * stride + f, columns w * stride to w * stride + f.",
        ),
        Mistake(
            "gradients-not-accumulated",
            "the gradients are assigned (=) instead of accumulated (+=)",
            "Windows overlap and every filter is used at every position, so each "
            "contribution is added: da_prev_pad[...] += W[..., c] * dZ[i, h, w, c], "
            "dW[..., c] += a_slice * dZ[i, h, w, c], db[..., c] += dZ[i, h, w, c].",
        ),
        Mistake(
            "db-wrong-axes",
            "db is summed over the wrong axes",
            "db[0, 0, 0, c] is the sum of dZ[:, :, :, c] over the examples, the height and "
            "the width: np.sum(dZ, axis=(0, 1, 2), keepdims=True), shape (1, 1, 1, n_C).",
        ),
    )
}


@dataclass(frozen=True)
class Variant:
    """One broken version of a function: the mistake it shows, and how exactly."""

    mistake: str
    detail: str
    fn: Callable


# --- the loop engines, with switches for each mistake ---------------------------------------


def _starts(h, w, stride, *, stride_h=True, stride_w=True, swap=False):
    if swap:
        h, w = w, h
    return h * (stride if stride_h else 1), w * (stride if stride_w else 1)


def _pad(X, pad, every_axis=False):
    if every_axis:
        return np.pad(X, pad, mode="constant")
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant")


def _single(a, W, b, *, bias="ok", channels="all"):
    """One filter on one window, with the chosen mistake (``b`` is the filter's own bias)."""
    if channels == "first":
        a, W = a[..., 0], W[..., 0]
    elif channels == "last":
        a, W = a[..., -1], W[..., -1]
    if bias == "per-element":
        return np.sum(a * W + np.asarray(b).item())
    s = np.sum(a * W, axis=(0, 1)) if channels == "spatial" else np.sum(a * W)
    if bias == "none":
        return s
    return s + np.asarray(b).item()


def _conv_forward(A_prev, W, b, hparameters, *, bias="ok", channels="all", pad_mode="ok", **kw):
    """The course's conv_forward; ``bias`` "ok" | "none" | "first" | "per-element";
    ``channels`` "all" | "first" | "last"; ``pad_mode`` "ok" | "unpadded" (the output size
    counts the padding but the windows slide over A_prev) | "none"; ``kw`` for
    :func:`_starts` and ``shape_swap``."""
    shape_swap = kw.pop("shape_swap", False)
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    size_pad = 0 if pad_mode == "none" else pad
    if shape_swap:
        n_H_prev, n_W_prev = n_W_prev, n_H_prev
    n_H = (n_H_prev - f + 2 * size_pad) // stride + 1
    n_W = (n_W_prev - f + 2 * size_pad) // stride + 1
    X = A_prev if pad_mode in ("unpadded", "none") else _pad(A_prev, pad)
    Z = np.zeros((m, n_H, n_W, n_C))
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = _starts(h, w, stride, **kw)
                a = X[i, vs : vs + f, hs : hs + f, :]
                for c in range(n_C):
                    bc = b[0, 0, 0, 0] if bias == "first" else b[0, 0, 0, c]
                    one = "ok" if bias == "first" else bias
                    Z[i, h, w, c] = _single(a, W[..., c], bc, bias=one, channels=channels)
    return (Z,)


def _conv_single_step(a, W, b, **kw):
    return (_single(a, W, b, **kw),)


def _zero_pad(X, pad, *, every_axis=False, none=False):
    return (np.array(X) if none else _pad(X, pad, every_axis),)


def _pool_forward(A_prev, hparameters, mode="max", *, divisor="ok", **kw):
    m, n_H_prev, n_W_prev, n_C = A_prev.shape
    f, stride = hparameters["f"], hparameters["stride"]
    n_H = (n_H_prev - f) // stride + 1
    n_W = (n_W_prev - f) // stride + 1
    A = np.zeros((m, n_H, n_W, n_C))
    count = {"ok": f * f, "f": f, "none": 1, "2f": 2 * f}[divisor]
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = _starts(h, w, stride, **kw)
                for c in range(n_C):
                    window = A_prev[i, vs : vs + f, hs : hs + f, c]
                    A[i, h, w, c] = np.max(window) if mode == "max" else np.sum(window) / count
    return (A,)


def _mask(x, *, how="ok"):
    if how == "axis0":
        return x == np.max(x, axis=0)
    if how == "axis1":
        return x == np.max(x, axis=1, keepdims=True)
    if how == "axis1-flat":
        return x == np.max(x, axis=1)
    if how == "first":
        mask = np.zeros(x.shape, dtype=bool)
        mask[np.unravel_index(np.argmax(x), x.shape)] = True
        return mask
    return x == np.max(x)


def _create_mask(x, **kw):
    return (_mask(np.asarray(x), **kw),)


def _distribute_value(dz, shape, *, divisor="ok"):
    n_H, n_W = shape
    count = {"ok": n_H * n_W, "n_H": n_H, "n_W": n_W, "sum": n_H + n_W, "none": 1}[divisor]
    return (np.ones(shape) * dz / count,)


def _pool_backward(dA, cache, mode="max", *, mask="first", divisor="ok", **kw):
    """``mask`` "first" | "ok" (every tie) | "axis0" | "axis1" | "channels" (the window's
    maximum over all channels)."""
    A_prev, hparameters = cache
    f, stride = hparameters["f"], hparameters["stride"]
    m, n_H, n_W, n_C = dA.shape
    dA_prev = np.zeros(A_prev.shape)
    count = {"ok": f * f, "f": f, "none": 1}[divisor]
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = _starts(h, w, stride, **kw)
                for c in range(n_C):
                    window = A_prev[i, vs : vs + f, hs : hs + f, c]
                    if mode == "max":
                        if mask == "channels":
                            whole = A_prev[i, vs : vs + f, hs : hs + f, :]
                            mk = window == np.max(whole)
                        else:
                            mk = _mask(window, how=mask)
                        dA_prev[i, vs : vs + f, hs : hs + f, c] += mk * dA[i, h, w, c]
                    else:
                        dA_prev[i, vs : vs + f, hs : hs + f, c] += (
                            np.ones((f, f)) * dA[i, h, w, c] / count
                        )
    return (dA_prev,)


def _conv_backward(dZ, cache, *, assign=(), db_axes="ok", pad_mode="ok", **kw):
    """``assign``: which of "dA", "dW", "db" use = instead of +=; ``db_axes`` "ok" | "all"
    (the total of dZ in every channel) | "all-keepdims" | "per-example" | "times-m";
    ``pad_mode`` "ok" | "slice" (a[pad:-pad] per example) | "slice-batch" | "unpadded"."""
    A_prev, W, b, hparameters = cache
    m, n_H_prev, n_W_prev, _ = A_prev.shape
    f, _, _, n_C = W.shape
    stride, pad = hparameters["stride"], hparameters["pad"]
    _, n_H, n_W, _ = dZ.shape
    dA_prev = np.zeros(A_prev.shape)
    dW = np.zeros(W.shape)
    db = np.zeros((1, 1, 1, n_C))
    A_prev_pad = A_prev if pad_mode == "unpadded" else _pad(A_prev, pad)
    dA_prev_pad = np.zeros(dA_prev.shape) if pad_mode == "unpadded" else _pad(dA_prev, pad)
    for i in range(m):
        a_prev_pad, da_prev_pad = A_prev_pad[i], dA_prev_pad[i]
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = _starts(h, w, stride, **kw)
                a_slice = a_prev_pad[vs : vs + f, hs : hs + f, :]
                for c in range(n_C):
                    g = dZ[i, h, w, c]
                    if "dA" in assign:
                        da_prev_pad[vs : vs + f, hs : hs + f, :] = W[..., c] * g
                    else:
                        da_prev_pad[vs : vs + f, hs : hs + f, :] += W[..., c] * g
                    if "dW" in assign:
                        dW[..., c] = a_slice * g
                    else:
                        dW[..., c] += a_slice * g
                    if "db" in assign:
                        db[..., c] = g
                    else:
                        db[..., c] += g
        if pad_mode == "slice":
            dA_prev[i, :, :, :] = da_prev_pad[pad:-pad, pad:-pad, :]
        elif pad_mode == "unpadded":
            dA_prev[i] = da_prev_pad
        else:
            dA_prev[i, :, :, :] = da_prev_pad[pad : pad + n_H_prev, pad : pad + n_W_prev, :]
    if pad_mode == "slice-batch":
        dA_prev = dA_prev_pad[:, pad:-pad, pad:-pad, :]
    if db_axes == "all":
        db = np.full((1, 1, 1, n_C), np.sum(dZ))
    elif db_axes == "all-keepdims":
        db = np.sum(dZ, keepdims=True)
    elif db_axes == "per-example":
        db = np.sum(dZ, axis=(1, 2), keepdims=True)
    elif db_axes == "no-keepdims":
        db = np.sum(dZ, axis=(0, 1, 2))
    elif db_axes == "times-m":
        db = db * m
    return dA_prev, dW, db


# --- the variants of each function ---------------------------------------------------------


def _v(mistake, detail, fn, **kw):
    return Variant(mistake, detail, lambda *a, **k: fn(*a, **k, **kw))


_STRIDES = [
    ("stride-ignored", "in both directions", {"stride_h": False, "stride_w": False}),
    ("stride-one-direction", "ignored for the height (rows)", {"stride_h": False}),
    ("stride-one-direction", "ignored for the width (columns)", {"stride_w": False}),
]


def _conv_backward_variants() -> list[Variant]:
    out = []
    for flags in product((False, True), repeat=3):
        names = tuple(n for n, on in zip(("dA", "dW", "db"), flags, strict=True) if on)
        if names:
            out.append(
                _v(
                    "gradients-not-accumulated",
                    f"= instead of += for {', '.join(names)}",
                    _conv_backward,
                    assign=names,
                )  # fmt: skip
            )
    out += [
        _v(
            "db-wrong-axes",
            "db holds the sum of all of dZ in every channel",
            _conv_backward,
            db_axes="all",
        ),  # fmt: skip
        _v(
            "db-wrong-axes",
            "db is the sum of all of dZ, shape (1, 1, 1, 1)",
            _conv_backward,
            db_axes="all-keepdims",
        ),  # fmt: skip
        _v(
            "db-wrong-axes",
            "db is summed per example, shape (m, 1, 1, n_C)",
            _conv_backward,
            db_axes="per-example",
        ),  # fmt: skip
        _v(
            "db-wrong-axes",
            "db has shape (n_C,): keepdims=True is missing",
            _conv_backward,
            db_axes="no-keepdims",
        ),  # fmt: skip
        _v(
            "db-wrong-axes",
            "db is summed over the examples twice (m times too large)",
            _conv_backward,
            db_axes="times-m",
        ),  # fmt: skip
        _v(
            "padding-sliced-away",
            "da_prev_pad[pad:-pad, pad:-pad, :]",
            _conv_backward,
            pad_mode="slice",
        ),  # fmt: skip
        _v(
            "padding-sliced-away",
            "dA_prev_pad[:, pad:-pad, pad:-pad, :]",
            _conv_backward,
            pad_mode="slice-batch",
        ),  # fmt: skip
        _v(
            "padding-not-applied",
            "the windows slide over A_prev, not A_prev_pad",
            _conv_backward,
            pad_mode="unpadded",
        ),  # fmt: skip
        _v(
            "height-width-swapped",
            "vert_start uses w and horiz_start uses h",
            _conv_backward,
            swap=True,
        ),  # fmt: skip
    ]
    out += [_v(m, d, _conv_backward, **kw) for m, d, kw in _STRIDES]
    return out


VARIANTS: dict[str, list[Variant]] = {
    "zero_pad": [
        _v("padding-every-axis", "np.pad(X, pad) pads all four axes", _zero_pad, every_axis=True),
        _v("padding-not-applied", "X is returned unpadded", _zero_pad, none=True),
    ],
    "conv_single_step": [
        _v("bias-missing", "Z = np.sum(a_slice_prev * W)", _conv_single_step, bias="none"),
        _v(
            "bias-wrong",
            "np.sum(a_slice_prev * W + b) adds b to every product",
            _conv_single_step,
            bias="per-element",
        ),  # fmt: skip
        _v(
            "channel-sum-missing",
            "summed over the height and width only (axis=(0, 1))",
            _conv_single_step,
            channels="spatial",
        ),  # fmt: skip
    ],
    "conv_forward": [
        _v("bias-missing", "no + b", _conv_forward, bias="none"),
        _v(
            "bias-wrong",
            "every filter gets the first filter's bias b[..., 0]",
            _conv_forward,
            bias="first",
        ),  # fmt: skip
        _v(
            "bias-wrong",
            "b is added to every product before the sum",
            _conv_forward,
            bias="per-element",
        ),  # fmt: skip
        _v(
            "channel-sum-missing",
            "only the first input channel is used",
            _conv_forward,
            channels="first",
        ),  # fmt: skip
        _v(
            "channel-sum-missing",
            "only the last input channel is used",
            _conv_forward,
            channels="last",
        ),  # fmt: skip
        *[_v(m, d, _conv_forward, **kw) for m, d, kw in _STRIDES],
        _v(
            "padding-not-applied",
            "the windows slide over A_prev, not A_prev_pad",
            _conv_forward,
            pad_mode="unpadded",
        ),  # fmt: skip
        _v(
            "padding-not-applied",
            "no padding at all (not in the output size either)",
            _conv_forward,
            pad_mode="none",
        ),  # fmt: skip
        _v(
            "height-width-swapped",
            "vert_start uses w and horiz_start uses h",
            _conv_forward,
            swap=True,
        ),  # fmt: skip
        _v(
            "height-width-swapped",
            "n_H is computed from the width and n_W from the height",
            _conv_forward,
            shape_swap=True,
        ),  # fmt: skip
    ],
    "pool_forward": [
        _v(
            "average-wrong-count",
            "the sum is divided by f instead of f * f",
            _pool_forward,
            divisor="f",
        ),  # fmt: skip
        _v(
            "average-wrong-count", "the sum is not divided at all", _pool_forward, divisor="none"
        ),  # fmt: skip
        _v("average-wrong-count", "the sum is divided by 2 * f", _pool_forward, divisor="2f"),
        *[_v(m, d, _pool_forward, **kw) for m, d, kw in _STRIDES],
        _v(
            "height-width-swapped",
            "vert_start uses w and horiz_start uses h",
            _pool_forward,
            swap=True,
        ),  # fmt: skip
    ],
    "create_mask_from_window": [
        _v(
            "mask-wrong-window",
            "x == np.max(x, axis=0) marks each column's maximum",
            _create_mask,
            how="axis0",
        ),  # fmt: skip
        _v(
            "mask-wrong-window",
            "x == np.max(x, axis=1, keepdims=True) marks each row's maximum",
            _create_mask,
            how="axis1",
        ),  # fmt: skip
        _v(
            "mask-wrong-window",
            "x == np.max(x, axis=1) compares with the row maxima sideways",
            _create_mask,
            how="axis1-flat",
        ),  # fmt: skip
    ],
    "distribute_value": [
        _v("average-wrong-count", "dz / n_H (the height only)", _distribute_value, divisor="n_H"),
        _v("average-wrong-count", "dz / n_W (the width only)", _distribute_value, divisor="n_W"),
        _v("average-wrong-count", "dz / (n_H + n_W)", _distribute_value, divisor="sum"),
        _v("average-wrong-count", "dz is not divided at all", _distribute_value, divisor="none"),
    ],
    "pool_backward": [
        _v(
            "pool-backward-stride-ignored",
            "in both directions",
            _pool_backward,
            stride_h=False,
            stride_w=False,
        ),  # fmt: skip
        _v(
            "pool-backward-stride-ignored", "for the height (rows)", _pool_backward, stride_h=False
        ),  # fmt: skip
        _v(
            "pool-backward-stride-ignored",
            "for the width (columns)",
            _pool_backward,
            stride_w=False,
        ),  # fmt: skip
        _v(
            "mask-wrong-window",
            "the mask compares with the maximum over all channels",
            _pool_backward,
            mask="channels",
        ),  # fmt: skip
        _v(
            "mask-wrong-window",
            "the mask marks each column's maximum (axis=0)",
            _pool_backward,
            mask="axis0",
        ),  # fmt: skip
        _v(
            "mask-wrong-window",
            "the mask marks each row's maximum (axis=1)",
            _pool_backward,
            mask="axis1",
        ),  # fmt: skip
        _v(
            "average-wrong-count",
            "dA is divided by f instead of f * f",
            _pool_backward,
            divisor="f",
        ),  # fmt: skip
        _v("average-wrong-count", "dA is not divided at all", _pool_backward, divisor="none"),
        _v(
            "height-width-swapped",
            "vert_start uses w and horiz_start uses h",
            _pool_backward,
            swap=True,
        ),  # fmt: skip
    ],
    "conv_backward": _conv_backward_variants(),
}


#: Variants of ``pool_backward`` with the course's mask (every tie): a mistake made with
#: either mask is still named.
for _variant in list(VARIANTS["pool_backward"]):
    if "mask" not in _variant.detail:
        VARIANTS["pool_backward"].append(
            Variant(
                _variant.mistake,
                _variant.detail,
                lambda *a, _f=_variant.fn, **k: (
                    _f(*a, **k, mask="ok") if k.get("mode", "max") == "max" else _f(*a, **k)
                ),
            )  # fmt: skip
        )
