"""SGD (with momentum and Nesterov) and Adam, with Keras 3's defaults and update rules.

An optimizer updates the model's trainable :class:`~cnnlab.nn.layers.Weight` objects in place
from their accumulated ``grad``. Its state (moments, step count) lives in the optimizer, so
calling ``fit`` again continues where the last call stopped.

Keras 3's rules, for a gradient ``g`` at step ``t = iterations + 1``:

- SGD: ``m = momentum * m - lr * g``; ``w += m`` (Nesterov: ``w += momentum * m - lr * g``);
  without momentum ``w -= lr * g``.
- Adam: ``m += (g - m) * (1 - beta_1)``; ``v += (g**2 - v) * (1 - beta_2)``;
  ``alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)``; ``w -= alpha * m / (sqrt(v) + epsilon)``
  (epsilon outside the square root, added to the *uncorrected* ``sqrt(v)``).

Example:
    >>> opt = Adam(learning_rate=1e-3)
    >>> opt.get_config()["epsilon"]
    1e-07
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnlab.errors import ArgumentError


def _positive(value: Any, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ArgumentError(
            f"{name} must be {'non-negative' if allow_zero else 'positive'}. "
            f"Received: {name}={value!r}"
        )
    return v


class Optimizer:
    """Base class: ``apply(weights)`` updates each weight from ``weight.grad``."""

    name = "optimizer"

    def __init__(self, learning_rate: float):
        self.learning_rate = _positive(learning_rate, "learning_rate")
        self.iterations = 0
        self._slots: list[list[np.ndarray]] | None = None

    def build(self, weights: list) -> None:
        """Create the state for ``weights`` (once; later calls keep it)."""
        if self._slots is None:
            self._slots = [self._make_slots(w.value) for w in weights]
        elif len(self._slots) != len(weights):
            raise ArgumentError(
                f"This optimizer was built for {len(self._slots)} weights; "
                f"it cannot update {len(weights)}"
            )

    def _make_slots(self, value: np.ndarray) -> list[np.ndarray]:
        return []

    def apply(self, weights: list) -> None:
        """One step: update every weight in place from its ``grad``."""
        self.build(weights)
        for w, slots in zip(weights, self._slots, strict=True):
            self._update(w.value, w.grad, slots)
        self.iterations += 1

    def _update(self, value, grad, slots) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def variables(self) -> list[np.ndarray]:
        """The state arrays, in weight order (empty before the first step)."""
        return [s for slots in (self._slots or []) for s in slots]

    def set_state(self, iterations: int, variables: list[np.ndarray], weights: list) -> None:
        """Restore the state saved by :meth:`variables` for ``weights``; shapes must match."""
        slots = [self._make_slots(w.value) for w in weights]
        flat = [s for group in slots for s in group]
        if len(flat) != len(variables):
            raise ArgumentError(
                f"optimizer state has {len(variables)} arrays, expected {len(flat)}"
            )
        for dst, src in zip(flat, variables, strict=True):
            if dst.shape != src.shape:
                raise ArgumentError(
                    f"optimizer state array of shape {src.shape} does not match {dst.shape}"
                )
            dst[...] = src
        self._slots = slots
        self.iterations = int(iterations)

    def get_config(self) -> dict:
        return {"name": self.name, "learning_rate": self.learning_rate}


class SGD(Optimizer):
    """Stochastic gradient descent.

    Args:
        learning_rate: default 0.01. momentum: default 0.0. nesterov: default False.
    """

    name = "sgd"

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        m = _positive(momentum, "momentum", allow_zero=True)
        if m > 1:
            raise ArgumentError(
                f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}"
            )
        self.momentum = m
        self.nesterov = bool(nesterov)

    def _make_slots(self, value):
        return [np.zeros_like(value)] if self.momentum != 0 else []

    def _update(self, value, grad, slots):
        lr = value.dtype.type(self.learning_rate)
        if not slots:
            value -= lr * grad
            return
        (m,) = slots
        mom = value.dtype.type(self.momentum)
        m *= mom
        m -= lr * grad
        if self.nesterov:
            value += mom * m - lr * grad
        else:
            value += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with Keras 3's defaults.

    Args:
        learning_rate: default 0.001. beta_1: 0.9. beta_2: 0.999. epsilon: 1e-7.
    """

    name = "adam"

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ):
        super().__init__(learning_rate)
        for value, name in ((beta_1, "beta_1"), (beta_2, "beta_2")):
            if not 0 <= float(value) < 1:
                raise ArgumentError(f"{name} must be in [0, 1). Received: {name}={value!r}")
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = _positive(epsilon, "epsilon")

    def _make_slots(self, value):
        return [np.zeros_like(value), np.zeros_like(value)]

    def apply(self, weights):
        t = self.iterations + 1
        # computed in the weights' precision, as Keras casts to the variable dtype
        dtype = weights[0].value.dtype.type if weights else np.float32
        b1, b2, lr = dtype(self.beta_1), dtype(self.beta_2), dtype(self.learning_rate)
        self._alpha = lr * np.sqrt(1 - b2 ** dtype(t)) / (1 - b1 ** dtype(t))
        self._c1, self._c2 = 1 - b1, 1 - b2
        self._eps = dtype(self.epsilon)
        super().apply(weights)

    def _update(self, value, grad, slots):
        m, v = slots
        tmp = grad - m
        tmp *= self._c1
        m += tmp
        np.square(grad, out=tmp)
        tmp -= v
        tmp *= self._c2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self._eps
        np.divide(m, tmp, out=tmp)
        tmp *= self._alpha
        value -= tmp

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


_BY_NAME = {"sgd": SGD, "adam": Adam}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from its Keras name ("adam", "sgd") with defaults, or the instance itself."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ArgumentError(
        f"Unknown optimizer. Expected one of {sorted(_BY_NAME)} or an Optimizer instance. "
        f"Received: optimizer={identifier!r}"
    )


def deserialize(config: dict) -> Optimizer:
    config = dict(config)
    cls = _BY_NAME.get(config.pop("name", None))
    if cls is None:
        raise ArgumentError(f"Unknown optimizer in config: {config!r}")
    return cls(**config)
