"""Layers: Keras-style argument checks, shapes, gradients (float64) and behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f at x (float64), every entry."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        up = f()
        x[i] = old - eps
        down = f()
        x[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12)


LAYER_CASES = [
    lambda: nn.Conv2D(3, 3, strides=2, padding="same", activation="relu", dtype="float64"),
    lambda: nn.Conv2D(2, (2, 3), padding="valid", activation="tanh", dtype="float64"),
    lambda: nn.Conv2D(2, 2, use_bias=False, activation="sigmoid", dtype="float64"),
    lambda: nn.BatchNormalization(dtype="float64"),
    lambda: nn.BatchNormalization(axis=1, dtype="float64"),
    lambda: nn.MaxPooling2D(2, dtype="float64"),
    lambda: nn.AveragePooling2D(3, strides=2, padding="same", dtype="float64"),
    lambda: nn.ZeroPadding2D(((1, 0), (2, 1)), dtype="float64"),
    lambda: nn.ReLU(dtype="float64"),
    lambda: nn.Activation("softmax", dtype="float64"),
    lambda: nn.Flatten(dtype="float64"),
]


@pytest.mark.parametrize("make", LAYER_CASES, ids=lambda m: repr(m()).split()[0][1:])
def test_layer_backward_matches_central_differences(make):
    rng = np.random.default_rng(0)
    layer = make()
    x = rng.standard_normal((2, 5, 6, 3))
    layer.build((None, *x.shape[1:]), rng)
    dy = rng.standard_normal((2, *layer.output_shape[1:]))

    def loss():
        return float((layer.forward(x, training=True) * dy).sum())

    y = layer.forward(x, training=True)
    assert y.shape == (2, *layer.output_shape[1:])
    layer.zero_grad()
    dx = layer.backward(dy)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    for w in layer.trainable_weights:
        analytic = w.grad.copy()
        assert rel_err(analytic, numeric_grad(loss, w.value)) < 1e-6, w.path


def test_dense_backward_and_gradient_accumulation():
    rng = np.random.default_rng(1)
    layer = nn.Dense(4, activation="sigmoid", dtype="float64")
    layer.build((None, 5), rng)
    x, dy = rng.standard_normal((3, 5)), rng.standard_normal((3, 4))

    def loss():
        return float((layer.forward(x, training=True) * dy).sum())

    layer.forward(x, training=True)
    layer.zero_grad()
    dx = layer.backward(dy)
    assert rel_err(dx, numeric_grad(loss, x)) < 1e-6
    assert rel_err(layer.kernel.grad, numeric_grad(loss, layer.kernel.value)) < 1e-6
    once = layer.kernel.grad.copy()
    layer.forward(x, training=True)
    layer.backward(dy)  # gradients accumulate (+=), micrograd style
    np.testing.assert_allclose(layer.kernel.grad, 2 * once)


def test_batchnorm_training_and_inference_behaviour():
    rng = np.random.default_rng(2)
    bn = nn.BatchNormalization(momentum=0.9, epsilon=1e-3)
    bn.build((None, 4, 4, 3), rng)
    x = (rng.standard_normal((8, 4, 4, 3)) * 3 + 5).astype("float32")
    y = bn(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    var = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), var / (var + 1e-3), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.value, 0.1 * x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.value, 0.9 + 0.1 * var, rtol=1e-5)
    # inference uses the moving statistics and changes nothing
    before = bn.get_weights()
    y_inf = bn(x, training=False)
    expected = (x - bn.moving_mean.value) / np.sqrt(bn.moving_variance.value + 1e-3)
    np.testing.assert_allclose(y_inf, expected, rtol=1e-5, atol=1e-5)
    for a, b in zip(before, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]


@pytest.mark.parametrize("threads", [1, 3])
def test_batchnorm_statistics_and_gradients_are_exact_over_chunks(threads):
    """Large batches are normalized in chunks on several threads; the chunks' statistics
    combine to the whole batch's, even for float32 data far from zero."""
    from cnnlab.ops import parallel

    rng = np.random.default_rng(4)
    x64 = rng.standard_normal((16, 32, 32, 24)) * 2 + 1000  # 3 MB in float32: many chunks
    dy = rng.standard_normal(x64.shape)
    before = parallel.get_num_threads()
    parallel.set_num_threads(threads)
    try:
        bn = nn.BatchNormalization(momentum=0.0, dtype="float32")
        bn.build((None, *x64.shape[1:]), rng)
        bn.gamma.value[:] = rng.uniform(0.5, 2, 24)
        y = bn.forward(x64.astype("float32"), training=True)
        dx = bn.backward(dy.astype("float32"))
    finally:
        parallel.set_num_threads(before)
    axes = (0, 1, 2)
    mean, var = x64.mean(axis=axes), x64.var(axis=axes)
    np.testing.assert_allclose(bn.moving_mean.value, mean, rtol=1e-7)
    # ddof=0 (the batch's own variance): ddof=1 would be 1 + 6e-5 times larger here
    np.testing.assert_allclose(bn.moving_variance.value, var, rtol=5e-6)
    xhat = (x64 - mean) / np.sqrt(var + 1e-3)
    gamma = bn.gamma.value.astype("float64")
    np.testing.assert_allclose(y, gamma * xhat, atol=2e-3)
    m = x64.size // 24
    expected_dx = (
        gamma
        / np.sqrt(var + 1e-3)
        * (dy - dy.mean(axis=axes) - xhat * (dy * xhat).sum(axis=axes) / m)
    )
    np.testing.assert_allclose(dx, expected_dx, atol=2e-3 * np.abs(expected_dx).max())
    np.testing.assert_allclose(bn.beta.grad, dy.sum(axis=axes), rtol=1e-5)
    np.testing.assert_allclose(bn.gamma.grad, (dy * xhat).sum(axis=axes), rtol=1e-3, atol=1e-2)


def test_dropout_scales_in_training_and_is_identity_at_inference():
    drop = nn.Dropout(0.25, seed=0)
    drop.build((None, 1000), None)
    x = np.ones((4, 1000), "float32")
    np.testing.assert_array_equal(drop(x), x)
    y = drop(x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (y == 0).mean() < 0.3
    np.testing.assert_array_equal(drop.backward(np.ones_like(x)), y)


def test_shapes_follow_keras():
    rng = np.random.default_rng(0)
    cases = [
        (nn.Conv2D(8, 4, padding="same"), (None, 64, 64, 3), (None, 64, 64, 8)),
        (nn.Conv2D(8, 3, strides=2), (None, 9, 9, 3), (None, 4, 4, 8)),
        (nn.MaxPool2D(8, 8, padding="same"), (None, 64, 64, 8), (None, 8, 8, 8)),
        (nn.MaxPool2D(4, 4, padding="same"), (None, 7, 7, 8), (None, 2, 2, 8)),
        (nn.AvgPool2D(), (None, 5, 5, 2), (None, 2, 2, 2)),
        (nn.ZeroPadding2D(3), (None, 64, 64, 3), (None, 70, 70, 3)),
        (nn.ZeroPadding2D((1, 2)), (None, 4, 4, 3), (None, 6, 8, 3)),
        (nn.Flatten(), (None, 2, 2, 16), (None, 64)),
        (nn.Dense(6), (None, 64), (None, 6)),
    ]
    for layer, shape_in, shape_out in cases:
        layer.build(shape_in, rng)
        assert layer.output_shape == shape_out, layer.name
        y = layer(np.zeros((2, *shape_in[1:]), "float32"))
        assert y.shape == (2, *shape_out[1:]) and y.dtype == np.float32, layer.name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: nn.Conv2D(0, 3), "filters"),
        (lambda: nn.Conv2D(8, 0), "kernel_size"),
        (lambda: nn.Conv2D(8, (3, 3, 3)), "kernel_size"),
        (lambda: nn.Conv2D(8, 3, strides=0), "strides"),
        (lambda: nn.Conv2D(8, 3, padding="full"), "padding"),
        (lambda: nn.Conv2D(8, 3, activation="swish"), "activation"),
        (lambda: nn.Dense(-1), "units"),
        (lambda: nn.MaxPool2D(pool_size=0), "pool_size"),
        (lambda: nn.AvgPool2D(2, strides=(1, 0)), "strides"),
        (lambda: nn.ZeroPadding2D(-1), "padding"),
        (lambda: nn.ZeroPadding2D((1, 2, 3)), "padding"),
        (lambda: nn.Dropout(1.5), "rate"),
        (lambda: nn.BatchNormalization(momentum=2), "momentum"),
        (lambda: nn.BatchNormalization(epsilon=0), "epsilon"),
        (lambda: nn.Dense(3, dtype="int32"), "dtype"),
        (lambda: nn.Dense(3, input_shape=(0,)), "input_shape"),
        (lambda: nn.Dense(3, name="a/b"), "name"),
        (lambda: nn.Input(shape=(64, -1, 3)), "shape"),
    ],
)
def test_constructors_raise_keras_style_value_errors(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "Received" in str(info.value)


def test_build_errors_name_the_layer():
    with pytest.raises(ValueError, match="'too_big'.*too small"):
        nn.Sequential([nn.Input(shape=(4, 4, 1)), nn.Conv2D(2, 5, name="too_big")])
    with pytest.raises(ValueError, match="'d'.*expected ndim=2"):
        nn.Sequential([nn.Input(shape=(4, 4, 1)), nn.Dense(2, name="d")])
    conv = nn.Conv2D(2, 3)
    with pytest.raises(RuntimeError, match="forward"):
        conv.build((None, 5, 5, 1), np.random.default_rng(0))
        conv.backward(np.zeros((1, 3, 3, 2), "float32"))


def test_set_weights_checks_count_and_shapes():
    layer = nn.Dense(3)
    layer.build((None, 4), np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected 2 weights"):
        layer.set_weights([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"\(4, 3\) is not compatible .* \(3, 4\)"):
        layer.set_weights([np.zeros((3, 4)), np.zeros(3)])


def test_automatic_names_follow_keras():
    nn.clear_session()
    names = [
        nn.Conv2D(1, 1).name,
        nn.Conv2D(1, 1).name,
        nn.MaxPool2D().name,
        nn.MaxPooling2D().name,
        nn.BatchNormalization().name,
        nn.ReLU().name,
    ]
    assert names == [
        "conv2d",
        "conv2d_1",
        "max_pooling2d",
        "max_pooling2d_1",
        "batch_normalization",
        "re_lu",
    ]


def test_glorot_uniform_limits_and_seed():
    init = nn.initializers.GlorotUniform()
    w = init((7, 7, 3, 32), "float32", np.random.default_rng(0))
    limit = np.sqrt(6 / (7 * 7 * 3 + 7 * 7 * 32))
    assert w.dtype == np.float32 and np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.95 * limit
    a = nn.initializers.GlorotUniform(seed=3)((4, 4), "float64")
    b = nn.initializers.GlorotUniform(seed=3)((4, 4), "float64")
    np.testing.assert_array_equal(a, b)
