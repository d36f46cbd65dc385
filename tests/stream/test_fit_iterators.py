"""The NumPy engine's fit and evaluate take batch sources (iterators, generators, iterables),
as Keras's do, and train exactly as on the same batches given as arrays."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn
from cnnlab.errors import ArgumentError

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


def _model(seed=0):
    m = nn.Sequential(
        [nn.Input((6, 6, 1)), nn.Conv2D(2, 3), nn.Flatten(), nn.Dense(3, activation="softmax")],
        seed=seed,
    )
    m.compile(
        optimizer=nn.optimizers.Adam(0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return m


def _data():
    rng = np.random.default_rng(0)
    return rng.random((20, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 20)


class _Batches:
    """An iterable (not an iterator): iterated afresh each epoch."""

    def __init__(self, x, y, bs):
        self.x, self.y, self.bs = x, y, bs

    def __iter__(self):
        for i in range(0, len(self.x), self.bs):
            yield self.x[i : i + self.bs], self.y[i : i + self.bs]


def test_fit_on_an_iterable_equals_fit_on_arrays():
    x, y = _data()
    a, b = _model(), _model()
    ha = a.fit(
        x, y, batch_size=6, epochs=3, shuffle=False, verbose=0, validation_data=(x[:8], y[:8])
    )
    hb = b.fit(_Batches(x, y, 6), epochs=3, verbose=0, validation_data=_Batches(x[:8], y[:8], 3))
    assert ha.history["loss"] == hb.history["loss"]
    assert np.allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)
    assert b.evaluate(_Batches(x, y, 7), return_dict=True)["loss"] == pytest.approx(
        b.evaluate(x, y, return_dict=True)["loss"]
    )


def test_a_generator_is_consumed_and_class_weight_applies():
    x, y = _data()
    a, b = _model(), _model()
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    a.fit(x, y, batch_size=5, shuffle=False, verbose=0, class_weight=cw)
    gen = ((x[i : i + 5], y[i : i + 5]) for i in range(0, 20, 5))
    b.fit(gen, verbose=0, class_weight=cw)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)
    with pytest.raises(ArgumentError, match="ran out of data"):
        b.fit(gen, epochs=1, verbose=0)  # already consumed


def test_batch_sources_are_checked():
    x, y = _data()
    m = _model()
    with pytest.raises(ArgumentError, match="y and sample_weight must not be given"):
        m.fit(iter([(x, y)]), y, verbose=0)
    with pytest.raises(ArgumentError, match=r"\(x, y\)"):
        m.fit(iter([x]), verbose=0)
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ArgumentError, match="NaN"):
        m.fit(iter([(bad, y)]), verbose=0)
