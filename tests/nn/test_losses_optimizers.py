"""Losses (values, gradients, stability), the accuracy metric and the optimizers' update rules."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn
from cnnlab.nn import losses, metrics


def test_loss_values_match_the_formulas():
    p = np.array([[0.9], [0.2], [0.6]])
    t = np.array([1.0, 0.0, 1.0])
    expected = -np.mean([np.log(0.9), np.log(0.8), np.log(0.6)])
    assert losses.binary_crossentropy(t, p) == pytest.approx(expected, rel=1e-12)
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    onehot = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    expected = -np.mean([np.log(0.7), np.log(0.8)])
    assert losses.categorical_crossentropy(onehot, probs) == pytest.approx(expected, rel=1e-12)
    assert losses.sparse_categorical_crossentropy([0, 2], probs) == pytest.approx(
        expected, rel=1e-12
    )
    # from logits equals from the probabilities they give
    z = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    pz = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert losses.sparse_categorical_crossentropy([0, 2], z, from_logits=True) == pytest.approx(
        losses.sparse_categorical_crossentropy([0, 2], pz), rel=1e-9
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_losses_are_finite_at_saturated_outputs(dtype):
    z = np.array([[1e4], [-1e4], [80.0], [-80.0]], dtype=dtype)
    t = np.array([0.0, 1.0, 0.0, 1.0])
    loss, grad = losses.BinaryCrossentropy().forward_backward(t, z, logits=True)
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx((1e4 + 1e4 + 80 + 80) / 4, rel=1e-6)
    np.testing.assert_allclose(grad[:, 0], [0.25, -0.25, 0.25, -0.25], rtol=1e-6)
    zc = np.array([[1e4, -1e4, 0.0], [0.0, 0.0, 5e3]], dtype=dtype)
    for loss_obj, y in (
        (losses.CategoricalCrossentropy(), np.eye(3)[[1, 0]]),
        (losses.SparseCategoricalCrossentropy(), np.array([1, 0])),
    ):
        value, g = loss_obj.forward_backward(y, zc, logits=True)
        assert np.isfinite(value) and value == pytest.approx((2e4 + 5e3) / 2, rel=1e-6)
        assert np.all(np.isfinite(g))
    # probabilities of exactly 0 and 1 are clipped to [1e-7, 1 - 1e-7] as Keras does
    p = np.array([[0.0], [1.0]], dtype=dtype)
    value = losses.binary_crossentropy(np.array([1.0, 0.0]), p)
    assert np.isfinite(value) and value == pytest.approx(-np.log(1e-7), rel=1e-2)


@pytest.mark.parametrize(
    ("loss", "y"),
    [
        (losses.BinaryCrossentropy(), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])),
        (losses.CategoricalCrossentropy(), np.eye(2)[[0, 1, 1]]),
        (losses.SparseCategoricalCrossentropy(), np.array([0, 1, 1])),
    ],
)
def test_loss_gradients_match_central_differences(loss, y):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, 2))
    p = (
        1 / (1 + np.exp(-z))
        if isinstance(loss, losses.BinaryCrossentropy)
        else (np.exp(z) / np.exp(z).sum(axis=1, keepdims=True))
    )
    sw = np.array([1.0, 2.0, 0.5])
    for x, logits in ((z, True), (p, False)):
        _, g = loss.forward_backward(y, x, logits=logits, sample_weight=sw)
        num = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[i] += 1e-6
            xm[i] -= 1e-6
            num[i] = (
                loss.forward_backward(y, xp, logits=logits, sample_weight=sw)[0]
                - loss.forward_backward(y, xm, logits=logits, sample_weight=sw)[0]
            ) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)


def test_loss_shape_errors_are_clear():
    with pytest.raises(ValueError, match="same shape"):
        losses.categorical_crossentropy([0, 1], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"Labels must be in \[0, 3\)"):
        losses.sparse_categorical_crossentropy([0, 3], np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get("hinge")


def test_accuracy_kinds():
    m = metrics.Accuracy("binary")
    m.update(np.array([1, 0, 1]), np.array([[0.6], [0.5], [0.4]]))
    assert m.result() == pytest.approx(2 / 3)  # 0.5 is not > 0.5
    m = metrics.Accuracy("sparse_categorical")
    m.update(np.array([[2], [0]]), np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]))
    assert m.result() == 1.0
    m = metrics.Accuracy("categorical")
    m.update(np.eye(3)[[1, 2]], np.array([[0.1, 0.2, 0.7], [0.5, 0.4, 0.1]]))
    assert m.result() == 0.0


def _run(opt, grads, w0):
    w = nn.Weight("kernel", "d/kernel", w0.copy(), trainable=True)
    for g in grads:
        w.grad[...] = g
        opt.apply([w])
    return w.value


def test_adam_follows_keras3_rule_with_epsilon_outside_the_root():
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) * 1e-6 for _ in range(3)]  # tiny: epsilon placement matters
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7
    w, m, v = w0.copy(), np.zeros(5), np.zeros(5)
    for t, g in enumerate(grads, start=1):
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w -= alpha * m / (np.sqrt(v) + eps)
    opt = nn.optimizers.Adam(learning_rate=lr)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (b1, b2, eps)
    np.testing.assert_allclose(_run(opt, grads, w0), w, rtol=1e-12)
    assert opt.iterations == 3


def test_sgd_momentum_and_nesterov():
    w0 = np.array([1.0, -2.0])
    grads = [np.array([0.5, 1.0]), np.array([-1.0, 0.25])]
    m = np.zeros(2)
    w_mom, w_nes = w0.copy(), w0.copy()
    m_n = np.zeros(2)
    for g in grads:
        m = 0.9 * m - 0.1 * g
        w_mom += m
        m_n = 0.9 * m_n - 0.1 * g
        w_nes += 0.9 * m_n - 0.1 * g
    np.testing.assert_allclose(_run(nn.optimizers.SGD(0.1, momentum=0.9), grads, w0), w_mom)
    np.testing.assert_allclose(
        _run(nn.optimizers.SGD(0.1, momentum=0.9, nesterov=True), grads, w0), w_nes
    )
    np.testing.assert_allclose(_run(nn.optimizers.SGD(0.1), grads, w0), w0 - 0.1 * sum(grads))
    assert nn.optimizers.SGD().learning_rate == 0.01


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.optimizers.Adam(learning_rate=0),
        lambda: nn.optimizers.Adam(beta_1=1.0),
        lambda: nn.optimizers.SGD(momentum=-0.1),
        lambda: nn.optimizers.SGD(learning_rate="fast"),
        lambda: nn.optimizers.get("rmsprop"),
    ],
)
def test_optimizer_arguments_are_validated(make):
    with pytest.raises(ValueError, match="Received"):
        make()
