"""``fit(class_weight=...)`` means per-sample weights chosen by each sample's label.

Unequal weights are compared against explicit ``sample_weight`` (the NumPy engine and
Keras), and against Keras's own meaning of ``class_weight`` on the same model.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn


def small_model(last="sigmoid", units=1):
    return nn.Sequential(
        [
            nn.Input(shape=(6, 6, 2)),
            nn.Conv2D(3, 3, activation="relu"),
            nn.MaxPool2D(2),
            nn.Flatten(),
            nn.Dense(units, activation=last),
        ],
        seed=0,
    )


def toy_data(n=48, seed=0, classes=None):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 2), dtype=np.float32)
    score = x[:, :3].mean(axis=(1, 2, 3)) - x[:, 3:].mean(axis=(1, 2, 3))
    if classes is None:
        return x, (score > 0).astype("float32")
    return x, np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


WEIGHTS = {0: 1.0, 1: 3.0, 2: 0.5}


def _fit(model, x, y, **kw):
    hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=1, **kw)
    return hist.history["loss"], [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize(
    ("loss", "last", "units"),
    [("binary_crossentropy", "sigmoid", 1), ("sparse_categorical_crossentropy", "softmax", 3)],
)
def test_unequal_class_weights_equal_explicit_sample_weights(loss, last, units):
    x, y = toy_data(32, classes=None if units == 1 else units)
    labels = np.round(y).astype(np.int64)
    class_weight = {k: WEIGHTS[k] for k in range(max(units, 2))}
    per_sample = np.array([class_weight[k] for k in labels])
    assert len(set(per_sample)) > 1

    def fit(**kw):
        model = small_model(last=last, units=units)
        model.compile(optimizer=nn.optimizers.Adam(0.01), loss=loss)
        return _fit(model, x, y, **kw)

    loss_cw, w_cw = fit(class_weight=class_weight)
    loss_sw, w_sw = fit(sample_weight=per_sample)
    loss_plain, w_plain = fit()
    np.testing.assert_allclose(loss_cw, loss_sw, rtol=1e-6)
    for a, b in zip(w_cw, w_sw, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert max(np.abs(a - b).max() for a, b in zip(w_cw, w_plain, strict=True)) > 1e-3
    # class weights multiply sample weights
    loss_both, _ = fit(class_weight=class_weight, sample_weight=np.full(len(y), 2.0))
    np.testing.assert_allclose(loss_both[0], 2 * loss_cw[0], rtol=1e-5)


def test_weighted_loss_is_the_weighted_mean_of_per_sample_losses():
    """One batch, no step: the loss is sum(w * l) / n with l the plain binary cross-entropy."""
    x, y = toy_data(16)
    model = small_model()
    model.compile(optimizer=nn.optimizers.SGD(1e-30), loss="binary_crossentropy")
    p = np.clip(model.predict(x).reshape(-1).astype(np.float64), 1e-7, 1 - 1e-7)
    per_sample = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    w = np.where(y == 1, 3.0, 1.0)
    got = model.fit(
        x, y, batch_size=16, shuffle=False, verbose=0, class_weight={0: 1.0, 1: 3.0}
    ).history["loss"][0]
    assert got == pytest.approx((w * per_sample).mean(), rel=1e-4)


def test_class_weight_means_what_keras_means():
    """The same model and data in Keras and the NumPy engine: one SGD step with unequal
    class weights gives the same loss and the same weights."""
    keras = pytest.importorskip("keras")
    x, y = toy_data(16, seed=2)
    model = small_model()
    model.build()
    k_model = model.to_keras()
    model.compile(optimizer=nn.optimizers.SGD(0.1), loss="binary_crossentropy")
    k_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    cw = {0: 1.0, 1: 3.0}
    ours = model.fit(x, y, batch_size=16, shuffle=False, verbose=0, class_weight=cw)
    theirs = k_model.fit(x, y, batch_size=16, shuffle=False, verbose=0, class_weight=cw)
    assert ours.history["loss"][0] == pytest.approx(theirs.history["loss"][0], rel=1e-4)
    for a, b in zip(model.get_weights(), k_model.get_weights(), strict=True):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-3, atol=1e-5)
