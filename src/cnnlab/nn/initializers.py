"""Weight initializers with Keras's names and formulas, drawing from a NumPy Generator.

An initializer is called as ``init(shape, dtype, rng)`` and returns a new array. When it was
given its own ``seed`` it uses that (as ``keras.initializers.GlorotUniform(seed=...)``),
otherwise the ``rng`` handed in by the model, so one model seed fixes every weight.

Example:
    >>> import numpy as np
    >>> w = GlorotUniform()((3, 3, 1, 8), "float32", np.random.default_rng(0))
    >>> w.shape
    (3, 3, 1, 8)
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ArgumentError


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's fan-in and fan-out; a conv kernel (kh, kw, c_in, c_out) counts kh * kw in both."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``__call__(shape, dtype, rng) -> ndarray``."""

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self._own_rng = None if seed is None else np.random.default_rng(seed)

    def _rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        if self._own_rng is not None:
            return self._own_rng
        if rng is None:
            raise ArgumentError(
                f"{type(self).__name__} needs a numpy.random.Generator or a seed. "
                "Received: rng=None"
            )
        return rng

    def get_config(self) -> dict:
        return {"seed": self.seed}

    def __call__(self, shape, dtype, rng=None) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class Zeros(Initializer):
    """All zeros (Keras's default bias initializer)."""

    def __init__(self):
        super().__init__(None)

    def get_config(self) -> dict:
        return {}

    def __call__(self, shape, dtype, rng=None) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)


class Ones(Zeros):
    """All ones (BatchNormalization's gamma and moving variance)."""

    def __call__(self, shape, dtype, rng=None) -> np.ndarray:
        return np.ones(shape, dtype=dtype)


class GlorotUniform(Initializer):
    """Uniform in [-limit, limit], ``limit = sqrt(6 / (fan_in + fan_out))`` (Keras's default)."""

    def __call__(self, shape, dtype, rng=None) -> np.ndarray:
        fan_in, fan_out = _fans(tuple(shape))
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        return self._rng(rng).uniform(-limit, limit, size=shape).astype(dtype, copy=False)


class HeNormal(Initializer):
    """Truncated normal with ``stddev = sqrt(2 / fan_in)`` (Keras's he_normal)."""

    def __call__(self, shape, dtype, rng=None) -> np.ndarray:
        fan_in, _ = _fans(tuple(shape))
        std = np.sqrt(2.0 / fan_in) / 0.87962566103423978
        r = self._rng(rng)
        out = r.standard_normal(size=shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = r.standard_normal(size=int(bad.sum()))
            bad = np.abs(out) > 2
        return (out * std).astype(dtype, copy=False)


_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "glorot_uniform": GlorotUniform,
    "he_normal": HeNormal,
}
_NAME_OF = {cls: name for name, cls in _BY_NAME.items()}


def get(identifier: str | Initializer) -> Initializer:
    """Return an initializer from its Keras name ("glorot_uniform", "zeros", ...) or itself."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("name") in _BY_NAME:
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    raise ArgumentError(
        f"Unknown initializer. Expected one of {sorted(_BY_NAME)} or an Initializer. "
        f"Received: initializer={identifier!r}"
    )


def serialize(init: Initializer) -> str | dict:
    """A JSON-friendly description: the Keras name, with the seed when one was given."""
    name = _NAME_OF.get(type(init))
    if name is None:
        raise ArgumentError(f"Cannot serialize initializer {init!r}")
    seed = init.get_config().get("seed")
    return name if seed is None else {"name": name, "seed": seed}


def deserialize(config: str | dict) -> Initializer:
    """Inverse of :func:`serialize`."""
    if isinstance(config, dict):
        cls = _BY_NAME[config["name"]]
        return cls(seed=config.get("seed")) if cls not in (Zeros, Ones) else cls()
    return get(config)
