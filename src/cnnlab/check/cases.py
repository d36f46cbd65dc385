"""The cases ``cnnlab check`` runs: the course's published examples, then a grid of traps.

Every case holds only *inputs* and the expected outputs computed here, in the parent
process, by :mod:`cnnlab.ops.reference`; the learner's code (in the child process) sees
the inputs alone. For each function the cases are, in order:

1. the course's published example(s), drawn as the course draws them
   (``np.random.seed(1)`` then ``np.random.randn``; ``RandomState(1)`` gives the same
   numbers);
2. a fixed grid that hits the known traps: pad 0, stride 2 and 3, non-square inputs,
   overlapping and non-overlapping pooling windows, tied maxima, float32 and float64,
   batch size 1;
3. ``n_random`` random shapes and hyperparameters from ``seed``.

Filters and pooling windows stay square, as in the course (``W`` is ``(f, f, n_C_prev,
n_C)`` and the pooling ``f`` is one int); :mod:`cnnlab.ops.reference` rejects others.

Max ties: the course's mask, ``x == np.max(x)``, marks every tied maximum, while
``ops.reference`` (like TensorFlow) marks only the first. Both are accepted.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cnnlab.ops import reference as ref

FUNCTIONS = (
    "zero_pad",
    "conv_single_step",
    "conv_forward",
    "pool_forward",
    "conv_backward",
    "create_mask_from_window",
    "distribute_value",
    "pool_backward",
)

#: The names of each function's return values, in order.
OUTPUTS = {
    "zero_pad": ("X_pad",),
    "conv_single_step": ("Z",),
    "conv_forward": ("Z", "cache"),
    "pool_forward": ("A", "cache"),
    "conv_backward": ("dA_prev", "dW", "db"),
    "create_mask_from_window": ("mask",),
    "distribute_value": ("a",),
    "pool_backward": ("dA_prev",),
}

#: The cache each forward function returns, as the course's backward functions unpack it.
CACHES = {
    "conv_forward": ("A_prev", "W", "b", "hparameters"),
    "pool_forward": ("A_prev", "hparameters"),
}

#: Which of the learner's own functions each function usually calls.
CALLS = {
    "conv_forward": ("zero_pad", "conv_single_step"),
    "conv_backward": ("zero_pad",),
    "pool_backward": ("create_mask_from_window", "distribute_value"),
}


@dataclass
class Case:
    """One call: its inputs, what it means, and the acceptable outputs."""

    function: str
    label: str
    params: dict[str, Any]
    args: tuple
    kwargs: dict[str, Any] = field(default_factory=dict)
    expected: list[tuple] = field(default_factory=list)  # alternatives; values only (no cache)
    dtype: str = "float64"

    def call(self, fn: Callable) -> Any:
        """``fn`` on a deep copy of the inputs (the case's own arrays stay untouched)."""
        args, kwargs = copy.deepcopy((self.args, self.kwargs))
        return fn(*args, **kwargs)


def values_of(function: str, result: Any) -> tuple:
    """The compared outputs of ``result``: all of them but the cache."""
    names = OUTPUTS[function]
    if len(names) == 1:
        return (result,)
    return tuple(v for n, v in zip(names, result, strict=True) if n != "cache")


def course_mask(x: np.ndarray) -> np.ndarray:
    """The course's ``create_mask_from_window``: every tied maximum is marked."""
    return x == np.max(x)


def _pool_backward_course(dA, cache, mode="max"):
    """``pool_backward`` with the course's mask (ties share the gradient each in full)."""
    (A_prev, hparameters) = cache
    if mode != "max":
        return ref.pool_backward(dA, cache, mode=mode)
    stride, f = hparameters["stride"], hparameters["f"]
    dA_prev = np.zeros(A_prev.shape, dtype=np.result_type(A_prev, dA, np.float32))
    m, n_H, n_W, n_C = dA.shape
    for i in range(m):
        for h in range(n_H):
            for w in range(n_W):
                vs, hs = h * stride, w * stride
                for c in range(n_C):
                    window = A_prev[i, vs : vs + f, hs : hs + f, c]
                    dA_prev[i, vs : vs + f, hs : hs + f, c] += course_mask(window) * dA[i, h, w, c]
    return dA_prev


def _draw(rng: np.random.Generator, shape, dtype: str, ties: bool = False) -> np.ndarray:
    if ties:  # small integers: many equal values, several tied maxima per window
        return rng.integers(0, 3, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _shape_text(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def _make(function: str, label: str, params: dict, args: tuple, kwargs=None, dtype="float64"):
    case = Case(function, label, params, args, dict(kwargs or {}), dtype=dtype)
    reference = getattr(ref, function)
    case.expected.append(values_of(function, case.call(reference)))
    if function == "create_mask_from_window":
        case.expected.insert(0, (course_mask(args[0]),))
    if function == "pool_backward" and kwargs and kwargs.get("mode") == "max":
        course = (case.call(_pool_backward_course),)
        if not np.array_equal(course[0], case.expected[0][0]):
            case.expected.append(course)
    return case


# --- each function's cases -------------------------------------------------------------------


def _zero_pad(label, rng, m, H, W, C, pad, dtype, course=None):
    X = course if course is not None else _draw(rng, (m, H, W, C), dtype)
    params = {"X": _shape_text(X.shape), "pad": pad, "dtype": str(X.dtype)}
    return _make("zero_pad", label, params, (X, pad), dtype=str(X.dtype))


def _conv_single_step(label, rng, f, C, dtype, course=None):
    if course is not None:
        a, W, b = course
    else:
        a, W, b = (_draw(rng, s, dtype) for s in ((f, f, C), (f, f, C), (1, 1, 1)))
    params = {"a_slice_prev": _shape_text(a.shape), "W": _shape_text(W.shape), "b": "(1, 1, 1)"}
    params["dtype"] = str(a.dtype)
    return _make("conv_single_step", label, params, (a, W, b), dtype=str(a.dtype))


def _conv_params(A_prev, W, hp) -> dict:
    return {
        "A_prev": _shape_text(A_prev.shape),
        "W": _shape_text(W.shape),
        "pad": hp["pad"],
        "stride": hp["stride"],
        "dtype": str(A_prev.dtype),
    }


def _conv_inputs(rng, m, H, Wd, C, f, n_C, dtype):
    return (
        _draw(rng, (m, H, Wd, C), dtype),
        _draw(rng, (f, f, C, n_C), dtype),
        _draw(rng, (1, 1, 1, n_C), dtype),
    )


def _conv_forward(label, rng, m, H, Wd, C, f, n_C, pad, stride, dtype, course=None):
    A_prev, W, b = course if course is not None else _conv_inputs(rng, m, H, Wd, C, f, n_C, dtype)
    hp = {"pad": pad, "stride": stride}
    params = _conv_params(A_prev, W, hp)
    return _make("conv_forward", label, params, (A_prev, W, b, hp), dtype=str(A_prev.dtype))


def _conv_backward(label, rng, m, H, Wd, C, f, n_C, pad, stride, dtype, course=None):
    A_prev, W, b = course if course is not None else _conv_inputs(rng, m, H, Wd, C, f, n_C, dtype)
    hp = {"pad": pad, "stride": stride}
    Z, _ = ref.conv_forward(A_prev, W, b, hp)
    dZ = Z if course is not None else _draw(rng, Z.shape, dtype)
    params = {"dZ": _shape_text(dZ.shape), **_conv_params(A_prev, W, hp)}
    args = (dZ, (A_prev, W, b, hp))
    return _make("conv_backward", label, params, args, dtype=str(A_prev.dtype))


def _pool_params(A_prev, hp, mode) -> dict:
    return {
        "A_prev": _shape_text(A_prev.shape),
        "f": hp["f"],
        "stride": hp["stride"],
        "mode": mode,
        "dtype": str(A_prev.dtype),
    }


def _pool_forward(label, rng, m, H, Wd, C, f, stride, mode, dtype, ties=False, course=None):
    A_prev = course if course is not None else _draw(rng, (m, H, Wd, C), dtype, ties)
    hp = {"f": f, "stride": stride}
    params = _pool_params(A_prev, hp, mode) | ({"ties": True} if ties else {})
    return _make(
        "pool_forward", label, params, (A_prev, hp), {"mode": mode}, dtype=str(A_prev.dtype)
    )


def _pool_backward(label, rng, m, H, Wd, C, f, stride, mode, dtype, ties=False, course=None):
    hp = {"f": f, "stride": stride}
    if course is not None:
        A_prev, dA = course
    else:
        A_prev = _draw(rng, (m, H, Wd, C), dtype, ties)
        A, _ = ref.pool_forward(A_prev, hp, mode=mode)
        dA = _draw(rng, A.shape, dtype)
    params = {"dA": _shape_text(dA.shape), **_pool_params(A_prev, hp, mode)}
    params |= {"ties": True} if ties else {}
    args = (dA, (A_prev, hp))
    return _make("pool_backward", label, params, args, {"mode": mode}, dtype=str(A_prev.dtype))


def _mask(label, rng, shape, ties=False, x=None):
    if x is None:
        x = _draw(rng, shape, "float64", ties)
    params = {"x": _shape_text(x.shape)} | ({"ties": True} if ties else {})
    return _make("create_mask_from_window", label, params, (x,))


def _distribute(label, dz, shape):
    params = {"dz": dz, "shape": tuple(shape)}
    return _make("distribute_value", label, params, (dz, tuple(shape)))


# --- the three groups --------------------------------------------------------------------------


def published_cases() -> dict[str, list[Case]]:
    """The course's examples, with the course's seeds and shapes."""

    def course():
        return np.random.RandomState(1)

    out: dict[str, list[Case]] = {}
    c = course()
    out["zero_pad"] = [_zero_pad("course example", None, 0, 0, 0, 0, 3, "", c.randn(4, 3, 3, 2))]
    c = course()
    out["conv_single_step"] = [
        _conv_single_step(
            "course example", None, 0, 0, "", (c.randn(4, 4, 3), c.randn(4, 4, 3), c.randn(1, 1, 1))
        )
    ]
    c = course()
    conv = (c.randn(2, 5, 7, 4), c.randn(3, 3, 4, 8), c.randn(1, 1, 1, 8))
    out["conv_forward"] = [_conv_forward("course example", None, *[0] * 6, 1, 2, "", conv)]
    c = course()
    A_prev = c.randn(2, 5, 5, 3)
    out["pool_forward"] = [
        _pool_forward(
            f"course example ({mode}, stride {s})", None, *[0] * 4, 3, s, mode, "", course=A_prev
        )  # fmt: skip
        for s in (1, 2)
        for mode in ("max", "average")
    ]
    c = course()
    conv = (c.randn(10, 4, 4, 3), c.randn(2, 2, 3, 8), c.randn(1, 1, 1, 8))
    out["conv_backward"] = [_conv_backward("course example", None, *[0] * 6, 2, 2, "", conv)]
    c = course()
    out["create_mask_from_window"] = [_mask("course example", None, None, x=c.randn(2, 3))]
    out["distribute_value"] = [_distribute("course example", 2.0, (2, 2))]
    cases = []
    for mode in ("max", "average"):
        c = course()
        A_prev = c.randn(5, 5, 3, 2)
        dA = c.randn(5, 4, 2, 2)
        cases.append(
            _pool_backward(
                f"course example ({mode})", None, *[0] * 4, 2, 1, mode, "", course=(A_prev, dA)
            )  # fmt: skip
        )
    out["pool_backward"] = cases
    return out


def trap_cases(rng: np.random.Generator) -> dict[str, list[Case]]:
    """A fixed grid over the known traps (the arrays drawn from ``rng``)."""
    f32, f64 = "float32", "float64"
    out: dict[str, list[Case]] = {}
    out["zero_pad"] = [
        _zero_pad("pad 0", rng, 2, 3, 4, 2, 0, f64),
        _zero_pad("pad 1, non-square, batch 1", rng, 1, 2, 5, 1, 1, f64),
        _zero_pad("pad 2, float32", rng, 3, 4, 3, 3, 2, f32),
    ]
    out["conv_single_step"] = [
        _conv_single_step("1 channel", rng, 3, 1, f64),
        _conv_single_step("f 2, 3 channels, float32", rng, 2, 3, f32),
        _conv_single_step("f 1, 4 channels", rng, 1, 4, f64),
    ]
    conv_grid = [  # label, m, H, W, C, f, n_C, pad, stride, dtype
        ("pad 0, stride 1, batch 1", 1, 4, 4, 1, 3, 1, 0, 1, f64),
        ("pad 1, stride 2, non-square", 2, 5, 7, 3, 3, 2, 1, 2, f64),
        ("pad 0, stride 3, non-square", 1, 7, 5, 2, 2, 3, 0, 3, f64),
        ("pad 2, stride 1, f 1, float32", 2, 3, 4, 3, 1, 2, 2, 1, f32),
        ("pad 1, stride 1, non-square, float32", 1, 4, 6, 2, 3, 2, 1, 1, f32),
        ("pad 0, stride 2, non-square", 2, 6, 5, 2, 2, 3, 0, 2, f64),
    ]
    out["conv_forward"] = [_conv_forward(*g[:1], rng, *g[1:]) for g in conv_grid]
    out["conv_backward"] = [_conv_backward(*g[:1], rng, *g[1:]) for g in conv_grid]
    pool_grid = [  # label, m, H, W, C, f, stride, dtype, ties
        ("f 2, stride 2 (windows do not overlap)", 2, 4, 6, 2, 2, 2, f64, False),
        ("f 3, stride 1 (windows overlap), batch 1", 1, 5, 4, 2, 3, 1, f64, False),
        ("f 3, stride 2 (overlap), non-square, float32", 2, 7, 5, 1, 3, 2, f32, False),
        ("f 2, stride 3 (gaps), non-square", 1, 5, 8, 2, 2, 3, f64, False),
        ("f 2, stride 1, tied maxima", 2, 4, 5, 2, 2, 1, f64, True),
        ("f 3, stride 2, tied maxima, float32", 1, 5, 7, 2, 3, 2, f32, True),
    ]
    for name, builder in (("pool_forward", _pool_forward), ("pool_backward", _pool_backward)):
        out[name] = [
            builder(f"{mode}, {g[0]}", rng, *g[1:7], mode, g[7], ties=g[8])
            for g in pool_grid
            for mode in ("max", "average")
        ]
    out["create_mask_from_window"] = [
        _mask("2 x 2", rng, (2, 2)),
        _mask("3 x 3", rng, (3, 3)),
        _mask("non-square 2 x 4", rng, (2, 4)),
        _mask("tied maxima", None, None, ties=True, x=np.array([[1.0, 3.0], [3.0, -1.0]])),
        _mask("all zeros (after a ReLU)", None, None, ties=True, x=np.zeros((3, 3))),
    ]
    out["distribute_value"] = [
        _distribute("3 x 3", 9.0, (3, 3)),
        _distribute("non-square 2 x 3", -1.5, (2, 3)),
        _distribute("non-square 4 x 1", 0.8, (4, 1)),
        _distribute("1 x 1", 5.0, (1, 1)),
    ]
    return out


def random_cases(rng: np.random.Generator, n: int) -> dict[str, list[Case]]:
    """``n`` cases per function with random shapes and hyperparameters."""
    out: dict[str, list[Case]] = {name: [] for name in FUNCTIONS}

    def pick(values):
        return values[int(rng.integers(len(values)))]

    for k in range(n):
        label = f"random {k + 1}"
        dtype = pick(["float64", "float32"])
        m, C = pick([1, 2, 3]), pick([1, 2, 3])
        f, pad, stride = pick([1, 2, 3]), pick([0, 1, 2]), pick([1, 2, 3])
        H, W = (int(v) for v in rng.integers(max(f, 2), 8, size=2))
        out["zero_pad"].append(_zero_pad(label, rng, m, H, W, C, pad, dtype))
        out["conv_single_step"].append(_conv_single_step(label, rng, f, C, dtype))
        n_C = pick([1, 2, 3])
        out["conv_forward"].append(
            _conv_forward(label, rng, m, H, W, C, f, n_C, pad, stride, dtype)
        )
        out["conv_backward"].append(
            _conv_backward(label, rng, m, H, W, C, f, n_C, pad, stride, dtype)
        )
        mode, ties, pf = pick(["max", "average"]), bool(rng.integers(2)), pick([2, 3])
        H, W = (int(v) for v in rng.integers(pf, 9, size=2))
        for name, builder in (("pool_forward", _pool_forward), ("pool_backward", _pool_backward)):
            out[name].append(builder(label, rng, m, H, W, C, pf, stride, mode, dtype, ties=ties))
        shape = tuple(int(v) for v in rng.integers(1, 5, size=2))
        out["create_mask_from_window"].append(_mask(label, rng, shape, ties=ties))
        dz = float(np.round(rng.standard_normal() * 3, 3))
        out["distribute_value"].append(_distribute(label, dz, shape))
    return out


def build_cases(seed: int = 0, n_random: int = 5, functions=FUNCTIONS) -> dict[str, list[Case]]:
    """Every function's cases in order: published, traps, then ``n_random`` random ones."""
    rng = np.random.default_rng(seed)
    groups = (published_cases(), trap_cases(rng), random_cases(rng, n_random))
    return {name: [c for g in groups for c in g[name]] for name in functions}
