"""The layer contract that a whole model cannot show: ``backward`` *accumulates* (``+=``) into
each weight's gradient, so a layer used twice (or a gradient summed over several calls)
gets every contribution. Inside ``Sequential`` the gradients are zeroed before every step
and each layer runs once, so assigning instead of adding would pass every model test."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn

LAYERS = {
    "Conv2D": lambda: nn.Conv2D(3, 3, padding="same"),
    "Conv2D-relu-strided": lambda: nn.Conv2D(2, 2, strides=2, activation="relu"),
    "Dense": lambda: nn.Dense(3),
    "Dense-sigmoid": lambda: nn.Dense(1, activation="sigmoid"),
    "BatchNormalization": lambda: nn.BatchNormalization(),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_backward_adds_into_the_gradients(name):
    rng = np.random.default_rng(0)
    layer = LAYERS[name]()
    shape = (4, 5, 5, 2) if "Conv" in name or "Batch" in name else (4, 6)
    layer.build((None, *shape[1:]), np.random.default_rng(1))
    x = rng.standard_normal(shape)
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape)
    trainable = [w for w in layer.weights if w.trainable]
    assert trainable
    layer.backward(dy)
    once = [w.grad.copy() for w in trainable]
    assert all(np.abs(g).max() > 0 for g in once)
    layer.forward(x, training=True)
    layer.backward(dy)
    for w, g in zip(trainable, once, strict=True):
        np.testing.assert_allclose(w.grad, 2 * g, rtol=1e-5, err_msg=w.path)
