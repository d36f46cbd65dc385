"""The graph model ``nn.Model``: a residual graph runs, trains and saves like Sequential, its
gradients add up where a tensor is used twice, it goes to Keras and back, and frozen layers
are left alone by fit."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn
from cnnlab.ops.gradcheck import relative_error


def _residual(dtype="float32", seed=0):
    inp = nn.Input(shape=(8, 8, 2), name="image")
    return nn.Model(
        inp,
        [
            (nn.Conv2D(4, 3, padding="same", name="stem"), ["image"]),
            (nn.BatchNormalization(name="bn"), ["stem"]),
            (nn.Activation("relu", name="relu"), ["bn"]),
            (nn.SeparableConv2D(4, 3, padding="same", name="branch"), ["relu"]),
            (nn.DepthwiseConv2D(3, padding="same", name="branch2"), ["branch"]),
            (nn.Add(name="residual"), ["relu", "branch2", "relu"]),  # relu used three times
            (nn.MaxPooling2D(3, strides=2, padding="same", name="pool"), ["residual"]),
            (nn.GlobalAveragePooling2D(name="gap"), ["pool"]),
            (nn.Dense(3, activation="softmax", name="probs"), ["gap"]),
        ],
        name="residual_net",
        seed=seed,
        dtype=dtype,
    )


def _data(n=6):
    rng = np.random.default_rng(3)
    return rng.uniform(-1, 1, (n, 8, 8, 2)), rng.integers(0, 3, n)


@pytest.mark.slow
def test_a_tensor_used_several_times_gets_the_sum_of_its_gradients():
    """The model's weight gradients against central differences of its loss, in float64."""
    model = _residual("float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, y = _data()
    plan = model.plan
    assert plan.fused and "Merges: residual <- relu + branch2 + relu" in plan.lines()
    for layer in model.layers:
        layer.zero_grad()
    out, logits = plan.forward_with_logits(x, training=True)
    _, grad = plan.loss_and_grad(y, out, logits)
    plan.backward(grad)

    bn = model.get_layer("bn")
    moving = [w.value.copy() for w in bn.non_trainable_weights]

    def loss_of() -> float:
        out, logits = plan.forward_with_logits(x, training=True)
        return plan.loss_and_grad(y, out, logits)[0]

    for weight in model.trainable_weights:
        numerical = np.zeros_like(weight.value)
        flat, values = numerical.reshape(-1), weight.value.reshape(-1)
        for i in range(values.size):
            keep = values[i]
            values[i] = keep + 1e-6
            plus = loss_of()
            values[i] = keep - 1e-6
            minus = loss_of()
            values[i] = keep
            flat[i] = (plus - minus) / 2e-6
        for w, m in zip(bn.non_trainable_weights, moving, strict=True):
            w.value[...] = m  # training-mode forwards move the statistics: put them back
        if np.abs(numerical).max() < 1e-8:  # the conv bias under a batch norm: no gradient
            assert np.abs(weight.grad).max() < 1e-12, weight.path
        else:
            assert relative_error(weight.grad, numerical) < 1e-6, weight.path


@pytest.mark.slow
def test_graph_model_matches_keras_forward_and_one_sgd_step():
    keras = pytest.importorskip("keras")
    model = _residual()
    km = model.to_keras()
    assert isinstance(km, keras.Model) and not isinstance(km, keras.Sequential)
    x, y = _data(8)
    x = x.astype(np.float32)
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), rtol=0, atol=1e-6)

    model.compile(optimizer=nn.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    km.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    ours = model.train_on_batch(x, y)
    theirs = km.train_on_batch(x, y)
    assert ours == pytest.approx(float(theirs), rel=1e-5)
    for a, b in zip(
        model.get_weights(), [w.numpy() for w in _keras_weights(km, model)], strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def _keras_weights(km, model):
    """Keras's weights in the cnnlab model's order (layer by layer)."""
    return [w for layer in model.layers for w in km.get_layer(layer.name).weights]


def test_from_keras_of_a_graph_gives_a_model_and_back():
    pytest.importorskip("keras")
    model = _residual()
    back = nn.from_keras(model.to_keras())
    assert isinstance(back, nn.Model)
    assert back.get_config()["inbound"] == model.get_config()["inbound"]
    assert [type(a) for a in back.layers] == [type(b) for b in model.layers]
    for a, b in zip(model.get_weights(), back.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_save_and_load_a_graph_model(tmp_path):
    model = _residual()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=3, verbose=0, seed=0)
    path = model.save(tmp_path / "graph.npz") or tmp_path / "graph.npz"
    again = nn.load_model(path)
    assert isinstance(again, nn.Model) and again.get_config() == model.get_config()
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    # training resumes the same way (optimizer state included)
    a = model.train_on_batch(x, y)
    b = again.train_on_batch(x, y)
    assert a == b


def test_frozen_layers_keep_their_weights_and_bn_runs_in_inference_mode():
    model = _residual()
    model.get_layer("stem").trainable = False
    model.get_layer("bn").trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = {w.path: w.numpy() for n in ("stem", "bn") for w in model.get_layer(n).weights}
    trained = {w.path: w.numpy() for w in model.trainable_weights}
    assert not set(frozen) & set(trained)
    x, y = _data()
    model.fit(x, y, epochs=2, batch_size=3, verbose=0, seed=0)
    for n in ("stem", "bn"):
        for w in model.get_layer(n).weights:
            np.testing.assert_array_equal(w.value, frozen[w.path])
    assert all(not np.array_equal(w.value, trained[w.path]) for w in model.trainable_weights)


def test_graph_errors_name_the_problem():
    inp = nn.Input(shape=(4, 4, 1), name="in")
    with pytest.raises(ValueError, match="topological order"):
        nn.Model(inp, [(nn.Conv2D(1, 1, name="a"), ["b"]), (nn.ReLU(name="b"), ["a"])])
    with pytest.raises(ValueError, match="takes one input"):
        nn.Model(inp, [(nn.ReLU(name="a"), ["in"]), (nn.ReLU(name="b"), ["in", "a"])])
    with pytest.raises(ValueError, match="used by no layer"):
        nn.Model(inp, [(nn.ReLU(name="a"), ["in"]), (nn.ReLU(name="b"), ["in"])])
    with pytest.raises(ValueError, match="same shape"):
        nn.Model(
            inp,
            [(nn.Conv2D(2, 1, name="a"), ["in"]), (nn.Add(name="s"), ["in", "a"])],
        )
    with pytest.raises(ValueError, match="no add"):
        nn.Model(inp, [(nn.ReLU(name="a"), ["in"])]).add(nn.ReLU())


def test_docstring_examples():
    import doctest

    from cnnlab.nn import functional
    from cnnlab.nn.layers import merging

    for module in (functional, merging):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__
