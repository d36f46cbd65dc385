"""Sequential: whole-model gradients, fit/evaluate/predict with Keras's semantics, determinism."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cnnlab import nn


def small_model(seed=0, dtype=None, last="sigmoid", units=1, dropout=0.0):
    layers = [
        nn.Input(shape=(6, 6, 2)),
        nn.ZeroPadding2D(1),
        nn.Conv2D(3, 3, activation="relu"),
        nn.BatchNormalization(),
        nn.MaxPool2D(2),
        nn.Conv2D(4, 2, padding="same"),
        nn.ReLU(),
        nn.AvgPool2D(2, padding="same"),
        nn.Flatten(),
    ]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Dense(units, activation=last))
    return nn.Sequential(layers, seed=seed, dtype=dtype)


def toy_data(n=48, seed=0, classes=None):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 6, 6, 2), dtype=np.float32)
    score = x[:, :3].mean(axis=(1, 2, 3)) - x[:, 3:].mean(axis=(1, 2, 3))
    if classes is None:
        return x, (score > 0).astype("float32")
    return x, np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))


@pytest.mark.parametrize(
    ("loss", "last", "units"),
    [
        ("binary_crossentropy", "sigmoid", 1),
        ("sparse_categorical_crossentropy", "softmax", 3),
        ("categorical_crossentropy", "tanh", 3),  # not fused: gradient through the output
    ],
)
def test_whole_model_gradient_check_float64(loss, last, units):
    model = small_model(dtype="float64", last=last, units=units)
    model.compile(optimizer=nn.optimizers.SGD(0.0 + 1e-300), loss=loss)
    plan = model.plan
    x, y = toy_data(8, classes=None if units == 1 else units)
    x = x.astype("float64")
    if loss == "categorical_crossentropy":
        y = np.eye(units)[y]
        model.layers[-1].activation = "softmax"  # softmax output, but computed unfused
        plan = nn.Plan.build(model.layers, model.loss, fuse=False)
    assert plan.fused == (loss != "categorical_crossentropy")

    def loss_value():
        out, logits = plan.forward_with_logits(x, training=True)
        return plan.loss_and_grad(y, out, logits)[0]

    # analytic gradients: one forward/backward through the model's plan
    for layer in model.layers:
        layer.zero_grad()
    out, logits = plan.forward_with_logits(x, training=True)
    _, grad = plan.loss_and_grad(y, out, logits)
    plan.backward(grad)
    rng = np.random.default_rng(0)
    checked = 0
    for w in model.trainable_weights:
        flat = w.value.reshape(-1)
        for i in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss_value()
            flat[i] = old - 1e-6
            down = loss_value()
            flat[i] = old
            numeric = (up - down) / 2e-6
            analytic = w.grad.reshape(-1)[i]
            assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)), (w.path, i)
            checked += 1
    assert checked > 30


@pytest.mark.slow
def test_fit_learns_and_history_has_keras_keys():
    model = small_model()
    model.compile(
        optimizer=nn.optimizers.Adam(0.01), loss="binary_crossentropy", metrics=["accuracy"]
    )
    x, y = toy_data(96)
    hist = model.fit(
        x, y, epochs=25, batch_size=16, validation_data=(x[:32], y[:32]), verbose=0, seed=1
    )
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.epoch == list(range(25)) and all(len(v) == 25 for v in hist.history.values())
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    loss, acc = model.evaluate(x, y, batch_size=20)
    assert acc > 0.8
    as_dict = model.evaluate(x[:32], y[:32], return_dict=True)
    assert as_dict["loss"] == pytest.approx(hist.history["val_loss"][-1], rel=1e-6)
    assert as_dict["accuracy"] == pytest.approx(hist.history["val_accuracy"][-1])
    pred = model.predict(x, batch_size=7)
    assert pred.shape == (96, 1) and pred.dtype == np.float32
    np.testing.assert_allclose(pred, model.predict(x, batch_size=96), rtol=1e-6)


def test_repeated_fit_continues_like_one_long_fit():
    x, y = toy_data(40)
    a, b = small_model(seed=3), small_model(seed=3)
    for m in (a, b):
        m.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    long = a.fit(x, y, epochs=3, batch_size=8, seed=5, verbose=0)
    losses = []
    for epoch in range(3):
        h = b.fit(x, y, epochs=epoch + 1, initial_epoch=epoch, batch_size=8, seed=5, verbose=0)
        assert h.epoch == [epoch]
        losses += h.history["loss"]
    assert b.optimizer.iterations == a.optimizer.iterations == 15
    np.testing.assert_array_equal(losses, long.history["loss"])
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_same_seed_gives_bit_identical_weights_and_other_seed_does_not():
    x, y = toy_data(32, classes=3)

    def run(seed):
        m = small_model(seed=seed, last="softmax", units=3, dropout=0.3)
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=8, verbose=0)
        return m.get_weights()

    first, second, other = run(7), run(7), run(8)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other, strict=True))


def test_callbacks_and_stop_training():
    events = []

    class Stopper:
        def set_model(self, model):
            self.model = model

        def on_train_batch_end(self, batch, logs):
            events.append(("batch", batch, sorted(logs)))

        def on_epoch_end(self, epoch, logs):
            events.append((epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    model = small_model()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x, y = toy_data(16)
    hist = model.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[Stopper()])
    assert hist.epoch == [0, 1]
    batches = [("batch", 0, ["accuracy", "loss"]), ("batch", 1, ["accuracy", "loss"])]  # as Keras
    epoch_keys = ["accuracy", "loss"]
    assert events == [*batches, (0, epoch_keys), *batches, (1, epoch_keys)]


def test_class_weight_scales_the_loss():
    x, y = toy_data(16)
    model = small_model()
    model.compile(optimizer=nn.optimizers.SGD(1e-30), loss="binary_crossentropy")
    plain = model.fit(x, y, batch_size=16, shuffle=False, verbose=0).history["loss"][0]
    doubled = model.fit(
        x, y, batch_size=16, shuffle=False, verbose=0, class_weight={0: 2.0, 1: 2.0}
    ).history["loss"][0]
    assert doubled == pytest.approx(2 * plain, rel=1e-5)


def test_verbose_prints_one_line_per_epoch_when_not_a_terminal(capsys):
    model = small_model()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    x, y = toy_data(16)
    model.fit(x, y, epochs=2, batch_size=8, verbose=1)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2") and "accuracy:" in lines[1]


def test_input_and_label_errors_are_clear():
    model = small_model()
    x, y = toy_data(8)
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    with pytest.raises(
        ValueError, match=r"expected shape=\(None, 6, 6, 2\), found shape=\(8, 5, 5, 2\)"
    ):
        model.predict(np.zeros((8, 5, 5, 2)))
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:5], verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="Unknown metric"):
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["auc"])
    with pytest.raises(ValueError, match="unique names"):
        nn.Sequential([nn.Dense(1, name="same"), nn.Dense(1, name="same")])


def test_structure_api_and_forward_all():
    model = nn.Sequential(
        [nn.Conv2D(2, 3, input_shape=(5, 5, 1)), nn.Flatten(), nn.Dense(2)], seed=0
    )
    assert model.input_shape == (None, 5, 5, 1) and model.output_shape == (None, 2)
    assert model.count_params() == (9 * 2 + 2) + (18 * 2 + 2)
    x = np.random.default_rng(0).random((3, 5, 5, 1))
    acts = model.forward_all(x)
    assert list(acts) == [layer.name for layer in model.layers]
    assert acts[model.layers[0].name].shape == (3, 3, 3, 2)
    np.testing.assert_allclose(acts[model.layers[-1].name], model.predict(x), rtol=1e-6)
    y = x.astype("float32")
    for layer in model.layers:
        y = layer(y)
    np.testing.assert_allclose(y, model.predict(x), rtol=1e-6)
    lazy = nn.Sequential([nn.Flatten(), nn.Dense(1)], seed=0)
    assert lazy.predict(np.zeros((2, 3, 3))).shape == (2, 1)  # built from the first input
    weights = model.get_weights()
    model.set_weights([w + 1 for w in weights])
    np.testing.assert_array_equal(model.get_weights()[0], weights[0] + 1)
    with pytest.raises(ValueError, match="has 4 weights, but received 3"):
        model.set_weights(weights[:3])


def test_engine_imports_without_tensorflow():
    code = (
        "import sys, cnnlab.nn; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_relu_then_max_pool_runs_pool_first_with_identical_outputs_and_gradients():
    from cnnlab.nn.model import run_order

    model = nn.Sequential(
        [
            nn.Input(shape=(8, 8, 2)),
            nn.Conv2D(4, 3, padding="same"),
            nn.ReLU(),
            nn.MaxPool2D(4, padding="same"),  # swapped with the ReLU above
            nn.Activation("relu"),
            nn.AvgPool2D(2),  # an average does not commute with a ReLU: kept in order
            nn.Flatten(),
            nn.Dense(3, activation="softmax"),
        ],
        seed=0,
        dtype="float64",
    )
    names = [layer.name for layer in run_order(model.layers)]
    declared = [layer.name for layer in model.layers]
    assert names == [declared[0], declared[2], declared[1], *declared[3:]]

    # Shift the bias down so that many windows hold only negatives: after the ReLU they
    # tie at zero everywhere, the case where the order could matter.
    model.layers[0].bias.value[:] = -1.5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8, 8, 2))
    y = np.eye(3)[rng.integers(0, 3, 5)]

    def grads(layers):
        for w in model.weights:
            w.grad.fill(0)
        out = x
        for layer in layers:
            out = layer.forward(out, training=True)
        _, g = model.loss.forward_backward(y, out)
        for layer in layers[::-1]:
            g = layer.backward(g)
        return out, [w.grad.copy() for w in model.weights]

    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    dead = model.layers[1].forward(model.layers[0].forward(x)) == 0
    assert dead.mean() > 0.5
    out_declared, g_declared = grads(model.layers)
    out_run, g_run = grads(run_order(model.layers))
    np.testing.assert_array_equal(out_run, out_declared)
    for a, b in zip(g_run, g_declared, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), out_declared)


def _compiled(classes=2):
    model = nn.Sequential([nn.Input(shape=(4,)), nn.Dense(classes, activation="softmax")], seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    return model


_X4 = np.zeros((6, 4), np.float32)
_Y4 = np.array([0, 1, 0, 1, 0, 1])

# id -> (call, words the ArgumentError must contain); each gave a traceback before issue #10
MISUSE = {
    "predict-strings": (lambda: _compiled().predict(np.full((2, 4), "a")), "x must hold numbers"),
    "predict-ragged": (lambda: _compiled().predict([[1, 2], [3]]), "rectangular"),
    "predict-unbuilt-1d": (
        lambda: nn.Sequential([nn.Dense(2)]).predict(np.zeros(3)),
        "x.shape=(3,)",
    ),
    "fit-validation-data-short": (
        lambda: _compiled().fit(_X4, _Y4, validation_data=(_X4,), verbose=0),
        "validation_data",
    ),
    "fit-verbose": (lambda: _compiled().fit(_X4, _Y4, verbose="x"), "verbose"),
    "fit-epochs": (lambda: _compiled().fit(_X4, _Y4, epochs="2", verbose=0), "epochs"),
    "fit-y-strings": (lambda: _compiled().fit(_X4, np.array(list("abcdef")), verbose=0), "y"),
    "fit-class-weight-key": (
        lambda: _compiled().fit(_X4, _Y4, class_weight={"a": 2.0}, verbose=0),
        "class_weight",
    ),
    "fit-class-weight-negative-key": (
        lambda: _compiled().fit(_X4, _Y4, class_weight={-1: 2.0}, verbose=0),
        "class_weight",
    ),
    "fit-sample-weight-length": (
        lambda: _compiled().fit(_X4, _Y4, sample_weight=np.ones(3), verbose=0),
        "sample_weight",
    ),
    "fit-sample-weight-nan": (
        lambda: _compiled().fit(_X4, _Y4, sample_weight=np.full(6, np.nan), verbose=0),
        "sample_weight",
    ),
    "evaluate-no-y": (lambda: _compiled().evaluate(_X4), "y is required"),
    "evaluate-scalar-y": (lambda: _compiled().evaluate(_X4, 3), "same number of samples"),
    "train-on-batch-mismatch": (lambda: _compiled().train_on_batch(_X4, _Y4[:3]), "samples"),
    "train-on-batch-nan": (lambda: _compiled().train_on_batch(_X4 * np.nan, _Y4), "NaN"),
    "get-layer-index": (lambda: _compiled().get_layer(index=10), "index 10"),
    "sequential-seed": (
        lambda: nn.Sequential([nn.Input(shape=(4,)), nn.Dense(2)], seed=-1),
        "seed",
    ),
    "zero-padding-argument": (lambda: nn.ZeroPadding2D(-1), "padding"),
}


@pytest.mark.parametrize(("call", "words"), MISUSE.values(), ids=MISUSE.keys())
def test_api_misuse_raises_one_argument_error(call, words):
    from cnnlab.errors import ArgumentError

    with pytest.raises(ArgumentError) as info:
        call()
    assert words in str(info.value), str(info.value)


def test_unequal_class_weights_equal_explicit_per_sample_weights():
    x, y = toy_data(16)
    weights = {0: 0.25, 1: 3.0}
    a, b = small_model(), small_model()
    for m in (a, b):
        m.compile(optimizer="adam", loss="binary_crossentropy")
    a.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0, class_weight=weights)
    per_sample = np.where(y > 0.5, 3.0, 0.25)
    b.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0, sample_weight=per_sample)
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(u, v)
    # a class missing from class_weight weighs 1, as in Keras
    c = small_model()
    c.compile(optimizer="adam", loss="binary_crossentropy")
    c.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0, class_weight={1: 3.0})
    d = small_model()
    d.compile(optimizer="adam", loss="binary_crossentropy")
    d.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0, sample_weight=np.where(y > 0.5, 3.0, 1))
    for u, v in zip(c.get_weights(), d.get_weights(), strict=True):
        assert np.array_equal(u, v)
    # a huge class id allocates nothing (it built a table that long before)
    c.fit(x, y, batch_size=8, verbose=0, class_weight={10**12: 2.0})
