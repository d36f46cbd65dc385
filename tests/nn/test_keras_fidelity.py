"""cnnlab.nn against Keras: the course's Happy and SIGNS models give the same predictions,
move both ways, and train to the same weights. Imports TensorFlow (about 8 s once)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
layers = keras.layers

from cnnlab import nn  # noqa: E402


def keras_happy():
    return keras.Sequential(
        [
            keras.Input(shape=(64, 64, 3)),
            layers.ZeroPadding2D(padding=(3, 3)),
            layers.Conv2D(32, (7, 7), strides=(1, 1)),
            layers.BatchNormalization(axis=3),
            layers.ReLU(),
            layers.MaxPool2D(),
            layers.Flatten(),
            layers.Dense(1, activation="sigmoid"),
        ],
        name="happy",
    )


def keras_signs():
    """The course's SIGNS model, written with the Functional API as the course does."""
    inputs = keras.Input(shape=(64, 64, 3))
    z = layers.Conv2D(8, 4, strides=1, padding="same")(inputs)
    a = layers.ReLU()(z)
    p = layers.MaxPool2D(pool_size=(8, 8), strides=(8, 8), padding="same")(a)
    z = layers.Conv2D(16, 2, strides=1, padding="same")(p)
    a = layers.ReLU()(z)
    p = layers.MaxPool2D(pool_size=(4, 4), strides=(4, 4), padding="same")(a)
    f = layers.Flatten()(p)
    outputs = layers.Dense(6, activation="softmax")(f)
    return keras.Model(inputs=inputs, outputs=outputs, name="signs")


def randomize(model, rng):
    """Random weights everywhere, BatchNorm moving statistics included (non-trivial)."""
    new = []
    for w in model.weights:
        name = w.path.split("/")[-1]
        shape = tuple(w.shape)
        if name == "moving_variance":
            new.append(rng.uniform(0.5, 2.0, shape))
        elif name in ("gamma",):
            new.append(rng.uniform(0.5, 1.5, shape))
        elif name == "kernel":
            new.append(rng.normal(0, 0.5 / np.sqrt(np.prod(shape[:-1])), shape))
        else:
            new.append(rng.normal(0, 0.2, shape))
    model.set_weights([a.astype("float32") for a in new])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((64, 64, 64, 3), dtype=np.float32)
    y_bin = (rng.random(64) > 0.5).astype("float32")
    y_cls = rng.integers(0, 6, 64)
    return x, y_bin, np.eye(6, dtype="float32")[y_cls]


@pytest.mark.parametrize("builder", [keras_happy, keras_signs])
def test_from_keras_predictions_equal_and_round_trip(builder, data):
    x = data[0]
    km = builder()
    randomize(km, np.random.default_rng(1))
    expected = km.predict(x, verbose=0)
    model = nn.from_keras(km)
    assert [lay.name for lay in model.layers] == [
        lay.name for lay in km.layers if type(lay).__name__ != "InputLayer"
    ]
    assert model.count_params() == km.count_params()
    assert model.input_shape == km.input_shape and model.output_shape == km.output_shape
    np.testing.assert_allclose(model.predict(x), expected, atol=1e-5, rtol=0)

    back = model.to_keras()
    assert [type(a).__name__ for a in back.layers] == [
        type(a).__name__ for a in km.layers if type(a).__name__ != "InputLayer"
    ]
    for a, b in zip(back.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, atol=1e-6, rtol=0)


def test_happy_and_signs_parameter_counts_and_summary(capsys):
    for km, total, non_trainable in ((keras_happy(), 37_633, 64), (keras_signs(), 1_310, 0)):
        model = nn.from_keras(km)
        assert model.count_params() == km.count_params() == total
        nt = sum(int(np.prod(w.shape)) for w in km.non_trainable_weights)
        assert sum(w.value.size for w in model.non_trainable_weights) == nt == non_trainable
        k_layers = [a for a in km.layers if type(a).__name__ != "InputLayer"]
        for ours, theirs in zip(model.layers, k_layers, strict=True):
            assert ours.count_params() == theirs.count_params(), ours.name
            assert ours.output_shape == theirs.output.shape, ours.name
        model.summary()
        out = capsys.readouterr().out
        assert f"Total params: {total:,}" in out
        assert f"Non-trainable params: {non_trainable:,}" in out
        assert f"Trainable params: {total - non_trainable:,}" in out


def test_numpy_built_model_has_keras_weight_order():
    """A model built in NumPy hands its weights straight to the same Keras architecture."""
    model = nn.Sequential(
        [
            nn.Input(shape=(64, 64, 3)),
            nn.ZeroPadding2D(3),
            nn.Conv2D(32, 7),
            nn.BatchNormalization(axis=3),
            nn.ReLU(),
            nn.MaxPool2D(),
            nn.Flatten(),
            nn.Dense(1, activation="sigmoid"),
        ],
        seed=0,
    )
    km = keras_happy()
    km.set_weights(model.get_weights())  # raises on any order or shape mismatch
    for a, b in zip(km.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("builder", "loss", "label"),
    [(keras_happy, "binary_crossentropy", 1), (keras_signs, "categorical_crossentropy", 2)],
)
@pytest.mark.slow
def test_one_epoch_of_adam_matches_keras(builder, loss, label, data):
    x, y = data[0], data[label]
    km = builder()
    randomize(km, np.random.default_rng(2))
    model = nn.from_keras(km)
    km.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss=loss, metrics=["accuracy"])
    model.compile(optimizer=nn.optimizers.Adam(learning_rate=1e-3), loss=loss, metrics=["accuracy"])
    before = model.get_weights()
    degenerate = {
        f"{a.name}/bias"
        for a, b in zip(model.layers, model.layers[1:], strict=False)
        if isinstance(a, nn.Conv2D) and isinstance(b, nn.BatchNormalization)
    }
    shifted = {
        f"{b.name}/moving_mean"
        for a, b in zip(model.layers, model.layers[1:], strict=False)
        if f"{a.name}/bias" in degenerate
    }
    k_hist = km.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    n_hist = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(n_hist.history["loss"], k_hist.history["loss"], rtol=1e-4)
    np.testing.assert_allclose(
        n_hist.history["accuracy"], k_hist.history["accuracy"], rtol=0, atol=1e-6
    )
    checked = 0
    for kw, nw, w0 in zip(km.weights, model.weights, before, strict=True):
        ref = kw.numpy()
        if nw.path in degenerate:
            # Exactly zero gradient (a bias feeding BatchNormalization in training mode):
            # Adam moves it by float32 rounding noise in *both* engines, at most lr per step.
            assert np.all(np.abs(nw.value - w0) <= 4 * 1e-3 * (1 + 1e-5)), nw.path
            continue
        if nw.path in shifted:
            # the next BatchNormalization's batch means include that bias: each of the 4 steps
            # adds (1 - momentum) * (bias difference <= 2 * steps so far * lr)
            np.testing.assert_allclose(nw.value, ref, rtol=0, atol=0.01 * 2e-3 * (1 + 2 + 3 + 4))
            continue
        # relative error of the whole tensor within 1e-4, and no element off by more than
        # 1% of one Adam step (elements with near-zero gradients see rounding noise amplified)
        rel = np.linalg.norm(nw.value - ref) / np.linalg.norm(ref)
        assert rel <= 1e-4, (nw.path, rel)
        np.testing.assert_allclose(nw.value, ref, rtol=1e-4, atol=1e-5, err_msg=nw.path)
        assert not np.array_equal(nw.value, w0) or "moving" in nw.path, nw.path  # it trained
        checked += 1
    assert checked == len(model.weights) - len(degenerate) - len(shifted)
    assert model.optimizer.iterations == int(km.optimizer.iterations.numpy()) == 4
    # training-mode outputs do not depend on the degenerate bias: they agree too
    np.testing.assert_allclose(
        model(x[:16], training=True), km(x[:16], training=True).numpy(), atol=1e-4
    )


def test_from_keras_names_first_unsupported_layer():
    km = keras.Sequential(
        [
            keras.Input(shape=(8, 8, 1)),
            layers.Conv2D(2, 3),
            layers.LeakyReLU(name="leaky"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(1),
        ]
    )
    with pytest.raises(ValueError, match="layer 'leaky' of type LeakyReLU is not supported"):
        nn.from_keras(km)
    dilated = keras.Sequential(
        [keras.Input(shape=(8, 8, 1)), layers.Conv2D(2, 3, dilation_rate=2, name="dil")]
    )
    with pytest.raises(ValueError, match=r"'dil' \(Conv2D\) uses dilation_rate"):
        nn.from_keras(dilated)


def test_from_keras_converts_a_branching_functional_model_to_a_graph_model():
    inputs = keras.Input(shape=(8,))
    a = layers.Dense(4, name="a")(inputs)
    b = layers.Dense(4, name="b")(inputs)
    out = layers.Add()([a, b])
    km = keras.Model(inputs, out)
    model = nn.from_keras(km)
    assert isinstance(model, nn.Model)
    x = np.random.default_rng(0).standard_normal((3, 8)).astype("float32")
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), rtol=0, atol=1e-6)


def test_from_keras_refuses_a_shared_layer_or_two_outputs():
    inputs = keras.Input(shape=(8,))
    shared = layers.Dense(8, name="shared")
    out = layers.Add()([shared(inputs), shared(shared(inputs))])
    with pytest.raises(ValueError, match="not a single chain|not supported"):
        nn.from_keras(keras.Model(inputs, out))
    two = keras.Model(inputs, [layers.Dense(2)(inputs), layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match="outputs"):
        nn.from_keras(two)


def test_keras_adam_and_sgd_update_rules_match():
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(5, 3)).astype("float32")
    grads = [rng.normal(size=(5, 3)).astype("float32") for _ in range(3)]
    pairs = [
        (keras.optimizers.Adam(learning_rate=0.01), nn.optimizers.Adam(learning_rate=0.01)),
        (keras.optimizers.SGD(0.1, momentum=0.9), nn.optimizers.SGD(0.1, momentum=0.9)),
        (
            keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            nn.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        ),
        (keras.optimizers.SGD(0.1), nn.optimizers.SGD(0.1)),
    ]
    for k_opt, n_opt in pairs:
        kv = keras.Variable(w0.copy())
        nw = nn.Weight("kernel", "dense/kernel", w0.copy(), trainable=True)
        for g in grads:
            k_opt.apply_gradients([(keras.ops.convert_to_tensor(g), kv)])
            nw.grad[...] = g
            n_opt.apply([nw])
        np.testing.assert_allclose(nw.value, kv.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_every_supported_layer_converts_both_ways(data):
    km = keras.Sequential(
        [
            keras.Input(shape=(16, 16, 3)),
            layers.ZeroPadding2D(((1, 0), (2, 1))),
            layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", use_bias=False),
            layers.BatchNormalization(momentum=0.9, epsilon=1e-2, center=False),
            layers.Activation("tanh"),
            layers.AveragePooling2D(pool_size=3, strides=1, padding="same"),
            layers.MaxPooling2D(pool_size=(2, 3), strides=(2, 1)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(5, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    randomize(km, np.random.default_rng(4))
    x = data[0][:8, :16, :16]
    model = nn.from_keras(km)
    assert [type(a).__name__ for a in model.layers][-3:] == ["Dropout", "Dense", "Dense"]
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), atol=1e-5)
    back = model.to_keras()
    np.testing.assert_allclose(back.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-6)
    assert [a.get_config()["name"] for a in back.layers] == [a.name for a in km.layers]
