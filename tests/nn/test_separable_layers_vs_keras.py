"""DepthwiseConv2D, SeparableConv2D, the global poolings and Add, each alone, equal Keras's
layer of the same config and weights: outputs, input gradients and weight gradients
(GradientTape), in float32."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

TOL = 1e-5

# id -> (cnnlab layer, Keras layer, input shape)
CASES = {
    "depthwise-3x3-same": (
        lambda: nn.DepthwiseConv2D(3, padding="same"),
        lambda: keras.layers.DepthwiseConv2D(3, padding="same"),
        (2, 8, 7, 4),
    ),
    "depthwise-4x4-s2-m2-relu": (
        lambda: nn.DepthwiseConv2D(
            4, strides=2, padding="same", depth_multiplier=2, activation="relu"
        ),
        lambda: keras.layers.DepthwiseConv2D(
            4, strides=2, padding="same", depth_multiplier=2, activation="relu"
        ),
        (2, 9, 9, 3),
    ),
    "separable-3x3-same-no-bias": (
        lambda: nn.SeparableConv2D(8, 3, padding="same", use_bias=False),
        lambda: keras.layers.SeparableConv2D(8, 3, padding="same", use_bias=False),
        (2, 8, 8, 4),
    ),
    "separable-2x2-valid-s2-m3": (
        lambda: nn.SeparableConv2D(5, 2, strides=2, depth_multiplier=3),
        lambda: keras.layers.SeparableConv2D(5, 2, strides=2, depth_multiplier=3),
        (2, 7, 8, 2),
    ),
    "global-average": (
        lambda: nn.GlobalAveragePooling2D(),
        lambda: keras.layers.GlobalAveragePooling2D(),
        (3, 5, 6, 4),
    ),
    "global-average-keepdims": (
        lambda: nn.GlobalAveragePooling2D(keepdims=True),
        lambda: keras.layers.GlobalAveragePooling2D(keepdims=True),
        (3, 5, 6, 4),
    ),
    "global-max": (
        lambda: nn.GlobalMaxPooling2D(),
        lambda: keras.layers.GlobalMaxPooling2D(),
        (3, 5, 6, 4),
    ),
}


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _close(ours, theirs, what):
    theirs = np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    scale = max(1.0, float(np.abs(theirs).max()))
    assert float(np.abs(ours - theirs).max()) <= TOL * scale, what


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_layer_alone_equals_keras_forward_and_backward(case):
    make, make_keras, shape = case
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    ours, theirs = make(), make_keras()
    ours.build((None, *shape[1:]), np.random.default_rng(0))
    theirs.build((None, *shape[1:]))
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in ours.weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for key in type(ours).keras_keys or type(ours).config_keys:
        assert ours.get_config()[key] == _plain(theirs.get_config()[key]), key

    y = ours.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = ours.backward(dy)
    tx = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tx)
        ty = theirs(tx, training=True)
    grads = tape.gradient(ty, [tx, *theirs.trainable_weights], output_gradients=tf.constant(dy))
    _close(y, ty, "forward")
    _close(dx, grads[0], "dx")
    for w, g in zip(ours.trainable_weights, grads[1:], strict=True):
        _close(w.grad, g, w.name)


def test_add_alone_equals_keras():
    rng = np.random.default_rng(8)
    a, b, c = (rng.standard_normal((2, 4, 4, 3)).astype(np.float32) for _ in range(3))
    add = nn.Add()
    y = add.forward([a, b, c], training=True)
    np.testing.assert_allclose(y, keras.layers.Add()([a, b, c]).numpy(), rtol=0, atol=1e-6)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    assert all(g is dy for g in add.backward(dy)) and len(add.backward(dy)) == 3
    with pytest.raises(ValueError, match="same shape"):
        nn.Add().build([(None, 4, 4, 3), (None, 4, 4, 2)])
    with pytest.raises(ValueError, match="at least 2 inputs"):
        nn.Add().build([(None, 4, 4, 3)])


def test_conv2d_l2_regularizer_adds_its_gradient_and_loss():
    conv = nn.Conv2D(2, 3, kernel_regularizer=0.01, use_bias=False)
    x = np.random.default_rng(0).standard_normal((1, 5, 5, 2)).astype(np.float32)
    conv.build((None, 5, 5, 2), np.random.default_rng(0))
    plain = nn.Conv2D(2, 3, use_bias=False)
    plain.build((None, 5, 5, 2), np.random.default_rng(0))
    plain.set_weights(conv.get_weights())
    for layer in (conv, plain):
        y = layer.forward(x, training=True)
        layer.backward(np.ones_like(y))
    k = conv.kernel.value
    np.testing.assert_allclose(conv.kernel.grad - plain.kernel.grad, 0.02 * k, rtol=0, atol=1e-6)
    assert conv.regularization_loss() == pytest.approx(0.01 * float((k.astype(float) ** 2).sum()))
    conv.trainable = False
    assert conv.regularization_loss() == 0.0
    with pytest.raises(ValueError, match="only an L2"):
        nn.Conv2D(2, 3, kernel_regularizer={"class_name": "L1L2", "config": {"l1": 0.1}})


@pytest.mark.slow
def test_l2_penalty_in_train_and_evaluate_losses_matches_keras():
    model = nn.Sequential(
        [
            nn.Input(shape=(6, 6, 2)),
            nn.Conv2D(3, 3, kernel_regularizer=0.01, name="conv"),
            nn.Flatten(),
            nn.Dense(2, activation="softmax"),
        ],
        seed=0,
    )
    km = model.to_keras()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 2, 8)
    model.compile(optimizer=nn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    assert model.evaluate(x, y) == pytest.approx(float(km.evaluate(x, y, verbose=0)), rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(float(km.train_on_batch(x, y)), rel=1e-5)
    np.testing.assert_allclose(
        model.get_layer("conv").get_weights()[0],
        km.get_layer("conv").get_weights()[0],
        rtol=0,
        atol=1e-6,
    )
