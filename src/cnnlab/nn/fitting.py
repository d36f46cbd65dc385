"""What ``Sequential.fit`` / ``evaluate`` / ``train_on_batch`` need besides the model: the
checks of their arguments (data, labels, sample and class weights, batch size, epochs, seed,
verbosity), the :class:`History` they return, and the per-epoch progress output.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlab import _progress, _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn import metrics as metrics_mod

if TYPE_CHECKING:
    from cnnlab.nn.model import Sequential


class History:
    """What ``fit`` returns: ``history`` maps each key ("loss", "accuracy", "val_loss",
    "val_accuracy") to one value per epoch; ``epoch`` lists the epoch indices run."""

    def __init__(self, model: Sequential | None = None, params: dict | None = None):
        self.model = model
        self.params = params or {}
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={sorted(self.history)}>"


def quiet_overflow():
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


# Tells the layers' per-epoch random streams apart from the shuffling's (seed, epoch).
_LAYER_STREAM = 0x6C61796572  # "layer"


def check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if not _validate.is_int(seed) or seed < 0:
        raise ArgumentError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    return int(seed)


def _epoch_range(epochs: Any, initial_epoch: Any) -> tuple[int, int]:
    for name, value in (("epochs", epochs), ("initial_epoch", initial_epoch)):
        if not _validate.is_int(value) or value < 0:
            raise ArgumentError(
                f"{name} must be a non-negative integer. Received: {name}={value!r}"
            )
    return int(epochs), int(initial_epoch)


def as_numbers(a: Any, name: str) -> np.ndarray:
    """``a`` as an array of numbers, or an ArgumentError naming it (strings, ragged lists)."""
    if a is None:
        raise ArgumentError(f"{name} is required. Received: {name}=None")
    try:
        arr = np.asarray(a)
    except ValueError as exc:  # a ragged nested list
        raise ArgumentError(f"{name} must be a rectangular array of numbers ({exc})") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ArgumentError(f"{name} must hold numbers. Received: {name}.dtype={arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise ArgumentError(f"{name} must hold real numbers. Received: {name}.dtype={arr.dtype}")
    return arr


def as_labels(y: Any, n: int) -> np.ndarray:
    """``y`` as an array of numbers with one entry per sample, or an ArgumentError."""
    y = as_numbers(y, "y")
    if y.ndim == 0 or y.shape[0] != n:
        raise ArgumentError(
            f"x and y must have the same number of samples. Received: x has {n}, "
            f"y has shape {y.shape}"
        )
    return y


def verbosity(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose in (0, 1, 2) and not isinstance(verbose, float):
        return int(verbose)
    raise ArgumentError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")


def check_finite(a: np.ndarray, name: str) -> None:
    """Refuse NaN or infinite training data: it would make every weight NaN, silently."""
    if not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise ArgumentError(f"{name} must hold numbers. Received: {name}.dtype={a.dtype}")
    if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all():
        sample = int(np.argwhere(~np.isfinite(a))[0][0])
        raise ArgumentError(
            f"{name} contains NaN or infinite values (the first in sample {sample}). "
            "Fix or drop those samples before training."
        )


def check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return 32
    if not _validate.is_int(batch_size) or batch_size <= 0:
        raise ArgumentError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
        )
    return int(batch_size)


def sample_weights(y: np.ndarray, class_weight: dict | None, sample_weight: Any):
    """Per-sample loss weights: ``sample_weight`` times ``class_weight[label]`` (as Keras:
    a class missing from ``class_weight`` weighs 1)."""
    n = y.shape[0]
    sw = None
    if sample_weight is not None:
        sw = np.asarray(sample_weight)
        if not (np.issubdtype(sw.dtype, np.number) or sw.dtype == bool):
            raise ArgumentError(
                f"sample_weight must hold numbers. Received: sample_weight.dtype={sw.dtype}"
            )
        sw = sw.astype(np.float64)
        if sw.shape not in ((n,), (n, 1)):
            raise ArgumentError(
                f"sample_weight must have one value per sample, shape ({n},). "
                f"Received: sample_weight.shape={sw.shape}"
            )
        sw = sw.reshape(n)
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ArgumentError(
                "sample_weight must be finite and non-negative. Received: values from "
                f"{sw.min()} to {sw.max()}"
            )
    if class_weight is None:
        return sw
    if not isinstance(class_weight, dict):
        raise ArgumentError(
            "class_weight must be a dict {class id: weight}. "
            f"Received: class_weight of type {type(class_weight).__name__}"
        )
    if y.ndim == 2 and y.shape[1] > 1:
        ids = y.argmax(axis=1)
    else:
        ids = np.round(y.reshape(n)).astype(np.int64)
    w = np.ones(n)
    for k, v in class_weight.items():
        ok_key = _validate.is_int(k) and k >= 0
        try:
            v = float(v)
        except (TypeError, ValueError):
            v = float("nan")
        if not ok_key or not np.isfinite(v) or v < 0:
            raise ArgumentError(
                "class_weight must map class ids (non-negative ints) to finite, "
                f"non-negative weights. Received: class_weight={class_weight!r}"
            )
        w[ids == k] = v
    return w if sw is None else w * sw


def _print_epoch(verbose, epoch, epochs, seconds, steps, logs) -> None:
    parts = [f"Epoch {epoch + 1}/{epochs}", f"{steps}/{steps}", f"{seconds:.1f}s"]
    parts += [f"{k}: {v:.4f}" for k, v in logs.items()]
    print(" - ".join(parts), flush=True)


class _Progress:
    """A rich progress bar for one epoch when verbose == 1 and stdout is a terminal.

    :mod:`cnnlab._progress` decides when (a terminal) and how (its ``"steps"`` style).
    """

    def __init__(self, verbose: int, steps: int, title: str):
        self.enabled = verbose == 1 and _progress.enabled(None)
        self.steps = steps
        self.title = title

    def __enter__(self):
        if self.enabled:
            self._bar = _progress.rich_bar("steps", transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.title, total=self.steps, stats="")
        return self

    def advance(self, loss: float) -> None:
        if self.enabled:
            self._bar.update(self._task, advance=1, stats=f"loss: {loss:.4f}")

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.__exit__(*exc)
        return False


# ---------------------------------------------------------------- batches: arrays or a source


def is_batch_source(x: Any) -> bool:
    """Whether ``x`` is a source of ready batches (as Keras accepts): an iterator or a
    generator of ``(x, y)`` / ``(x, y, sample_weight)`` tuples, or any other iterable object
    that is not an array, a list or a tuple (an object whose ``__iter__`` yields such batches,
    e.g. a :mod:`cnnlab.data.stream` split, is iterated afresh each epoch)."""
    if x is None or isinstance(x, np.ndarray | list | tuple | str | bytes | dict):
        return False
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


def array_batches(x: np.ndarray, y: np.ndarray, sw, batch_size: int, order):
    """``(x, y, sample_weight)`` batches of arrays, in ``order`` (None: as stored)."""
    n = x.shape[0]
    for start in range(0, n, batch_size):
        if order is None:
            idx = slice(start, start + batch_size)
        else:
            idx = order[start : start + batch_size]
        yield x[idx], y[idx], None if sw is None else sw[idx]


class SourceBatches:
    """The batches of a batch source, one epoch at a time, checked as ``fit`` checks arrays.

    An iterable that is not an iterator is iterated afresh each epoch; an iterator (a
    generator) is consumed, and an epoch that gets no batch from it raises
    ``ArgumentError``, where Keras would only warn that the input ran out of data.
    """

    def __init__(self, source: Any, prepare, class_weight: dict | None):
        self.source = source
        self.prepare = prepare
        self.class_weight = class_weight

    def steps(self) -> int | None:
        try:
            return len(self.source)
        except TypeError:
            return None

    def epoch(self, epoch: int):
        one_shot = hasattr(self.source, "__next__")
        it = self.source if one_shot else iter(self.source)
        given = 0
        for item in it:
            if not isinstance(item, tuple | list) or len(item) not in (2, 3):
                raise ArgumentError(
                    "a batch source must yield (x, y) or (x, y, sample_weight) tuples. "
                    f"Received: {type(item).__name__}"
                )
            xb = self.prepare(item[0])
            yb = as_labels(item[1], xb.shape[0])
            check_finite(xb, "x")
            check_finite(yb, "y")
            wb = sample_weights(yb, self.class_weight, item[2] if len(item) == 3 else None)
            given += 1
            yield xb, yb, wb
        if given == 0:
            raise ArgumentError(
                f"x ran out of data: epoch {epoch + 1} received no batch from it. Pass an "
                "iterable that can be iterated again, or fit one epoch at a time"
            )


def check_fit_args(x, y, sample_weight, validation_data, seed, epochs, initial_epoch, batch_size):
    """``fit``'s argument checks: ``(streamed, seed, epochs, initial_epoch, batch_size)``."""
    streamed = is_batch_source(x)
    if x is None or (y is None and not streamed):
        raise ArgumentError("fit() needs both x and y")
    if streamed and (y is not None or sample_weight is not None):
        raise ArgumentError(
            "y and sample_weight must not be given when x is a source of (x, y) batches "
            "(an iterator, a generator or an iterable): its batches carry them"
        )
    seed = check_seed(seed)
    epochs, initial_epoch = _epoch_range(epochs, initial_epoch)
    if (
        validation_data is not None
        and not is_batch_source(validation_data)
        and (not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3))
    ):
        raise ArgumentError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
            f"sample_weight), or a source of such batches. Received: "
            f"{type(validation_data).__name__}"
            + (
                f" of length {len(validation_data)}"
                if isinstance(validation_data, tuple | list)
                else ""
            )
        )
    bs = check_batch_size(batch_size)
    return streamed, seed, epochs, initial_epoch, bs


def call_hooks(callbacks, hook: str, *args) -> None:
    """Call ``hook`` on every callback that has it."""
    for cb in callbacks:
        fn = getattr(cb, hook, None)
        if fn is not None:
            fn(*args)


def run_epoch(model, epoch, epochs, batches, steps, verbose, callbacks, validation_data, bs):
    """One epoch of ``fit``: train on ``batches``, evaluate ``validation_data``, print the
    epoch's line; return its logs (a callback setting ``model.stop_training`` ends it after
    the current batch)."""
    for m in model._metrics or []:
        m.reset()
    loss_total, seen = 0.0, 0
    t0 = time.perf_counter()
    with _Progress(verbose, steps, f"Epoch {epoch + 1}/{epochs}") as bar:
        for batch, (xb, yb, wb) in enumerate(batches):
            call_hooks(callbacks, "on_train_batch_begin", batch, {})
            loss, out = model._train_step(xb, yb, wb)
            loss_total += loss * xb.shape[0]
            seen += xb.shape[0]
            for m in model._metrics:
                m.update(yb, out)
            bar.advance(loss_total / seen)
            batch_logs = {"loss": loss_total / seen}
            batch_logs.update({m.name: m.result() for m in model._metrics})
            call_hooks(callbacks, "on_train_batch_end", batch, batch_logs)
            if model.stop_training:  # Keras 3: stop after this batch
                break
    logs = {"loss": loss_total / seen}
    for m in model._metrics:
        logs[m.name] = m.result()
    if validation_data is not None and is_batch_source(validation_data):
        val = model.evaluate(validation_data, return_dict=True)
        logs.update({f"val_{k}": v for k, v in val.items()})
    elif validation_data is not None:
        vx, vy, *vsw = validation_data
        val = model.evaluate(
            vx, vy, batch_size=bs, sample_weight=(vsw or [None])[0], return_dict=True
        )
        logs.update({f"val_{k}": v for k, v in val.items()})
    if verbose:
        done = steps if steps is not None else batch + 1
        _print_epoch(verbose, epoch, epochs, time.perf_counter() - t0, done, logs)
    return logs


def evaluate_batches(plan, metrics_of, batches) -> dict:
    """Loss and metrics (fresh copies of ``metrics_of``) over ``(x, y, w)`` batches in
    inference mode, weighted by batch size."""
    metrics = [metrics_mod.Accuracy(m.kind, m.name) for m in metrics_of]
    total, n = 0.0, 0
    for xb, yb, wb in batches:
        with quiet_overflow():
            out, logits = plan.forward_with_logits(xb, training=False)
            loss, _ = plan.loss_and_grad(yb, out, logits, wb)
        total += loss * out.shape[0]
        n += out.shape[0]
        for m in metrics:
            m.update(yb, out)
    logs = {"loss": total / max(n, 1)}
    for m in metrics:
        logs[m.name] = m.result()
    return logs


def seed_layers(layers, seed: int, epoch: int, own: dict[int, Any]) -> None:
    """Hand every layer a Generator seeded by (fit seed, epoch, layer position) for this
    epoch's random draws (dropout masks), keeping in ``own`` what each drew from before."""
    for i, layer in enumerate(layers):
        previous = layer.set_generator(np.random.default_rng([seed, epoch, _LAYER_STREAM, i]))
        own.setdefault(i, previous)


def format_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
