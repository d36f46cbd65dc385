"""``fit(shuffle=True)`` really reorders the batches, as a function of ``seed`` and the epoch."""

from __future__ import annotations

import numpy as np

from cnnlab import nn


def _fit(**kw) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = nn.Sequential([nn.Input(shape=(4,)), nn.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer=nn.optimizers.SGD(0.5), loss="binary_crossentropy")
    model.fit(x, y, batch_size=5, epochs=2, verbose=0, **kw)
    return model.get_weights()


def _same(a, b) -> bool:
    return all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


def test_shuffle_changes_the_batches_and_the_seed_fixes_them():
    in_order = _fit(shuffle=False)
    shuffled = _fit(shuffle=True, seed=1)
    assert not _same(in_order, shuffled)  # other batches, other SGD steps
    assert _same(shuffled, _fit(shuffle=True, seed=1))
    assert not _same(shuffled, _fit(shuffle=True, seed=2))
