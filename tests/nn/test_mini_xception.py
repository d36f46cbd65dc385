"""fer's mini-Xception (the shipped ``emotion_mini_xception``) in the NumPy engine: from_keras
gives Keras's predictions, one fit step with frozen layers changes only the trainable weights
and matches Keras's step, and the model survives a save and load."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn, pretrained
from cnnlab.errors import ModelFileError

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

keras = pytest.importorskip("keras")

# Layers frozen in the fit test: the stem (two Conv2D with their batch norms) and the first
# residual block's separable convolutions.
FROZEN = 11


@pytest.fixture(scope="module")
def keras_model():
    return keras.models.load_model(pretrained.path("emotion_mini_xception"), compile=False)


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 64, 64, 1)).astype(np.float32)
    return x, np.eye(7, dtype=np.float32)[rng.integers(0, 7, n)]


def test_from_keras_predicts_what_keras_predicts(keras_model):
    model = nn.from_keras(keras_model)
    assert isinstance(model, nn.Model) and model.count_params() == 58_423
    kinds = {type(layer).__name__ for layer in model.layers}
    assert {"SeparableConv2D", "Add", "GlobalAveragePooling2D"} <= kinds
    x, _ = _batch(16, seed=1)
    ours = model.predict(x)
    theirs = keras_model.predict(x, verbose=0)
    assert np.abs(ours - theirs).max() < 1e-5
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-5)


def test_one_fit_step_with_frozen_layers_matches_keras(keras_model):
    km = keras.models.clone_model(keras_model)
    km.set_weights(keras_model.get_weights())
    frozen = [layer.name for layer in km.layers[1 : 1 + FROZEN]]
    for name in frozen:
        km.get_layer(name).trainable = False
    model = nn.from_keras(km)  # the trainable flags come along
    assert [layer.name for layer in model.layers if not layer.trainable] == frozen
    before = {layer.name: layer.get_weights() for layer in model.layers}

    x, y = _batch()
    model.compile(optimizer=nn.optimizers.SGD(0.01), loss="categorical_crossentropy")
    km.compile(optimizer=keras.optimizers.SGD(0.01), loss="categorical_crossentropy")
    ours = model.train_on_batch(x, y)
    theirs = float(km.train_on_batch(x, y))
    # the loss includes the Conv2D layers' L2 penalties (l2=0.01) of the trainable layers
    assert ours == pytest.approx(theirs, rel=1e-6)

    # A float64 run of the same step: the exact answer, up to float64 rounding.
    config = model.get_config()
    for item in config["layers"]:
        item["config"]["dtype"] = "float64"
    exact = nn.Model.from_config(config)
    for layer in exact.layers:
        layer.set_weights(before[layer.name])
        layer.trainable = layer.name not in frozen
    exact.compile(optimizer=nn.optimizers.SGD(0.01), loss="categorical_crossentropy")
    exact.train_on_batch(x.astype(np.float64), y)

    for layer in model.layers:
        k_weights = km.get_layer(layer.name).get_weights()
        for w, k, e, start in zip(
            layer.get_weights(),
            k_weights,
            exact.get_layer(layer.name).get_weights(),
            before[layer.name],
            strict=True,
        ):
            if layer.name in frozen:  # untouched, batch-norm statistics included
                np.testing.assert_array_equal(w, start, err_msg=layer.name)
                np.testing.assert_array_equal(k, start, err_msg=layer.name)
                continue
            step = e - start
            scale = float(np.abs(step).max())
            # Our float32 step is within 0.1% of the exact one (measured: 1.7e-4). Keras's
            # float32 step is itself up to ~0.7% off the exact one (TensorFlow's float32
            # kernels sum 16 * 64 * 64 terms per depthwise weight): 2% bounds it.
            assert np.abs((w - start) - step).max() <= 1e-3 * scale + 1e-7, layer.name
            assert np.abs((k - start) - step).max() <= 2e-2 * scale + 1e-7, layer.name
            assert np.abs(w - k).max() <= 2e-2 * scale + 1e-6, layer.name
    start = {
        f"{name}/{w.name}": v
        for name, ws in before.items()
        for w, v in zip(model.get_layer(name).weights, ws, strict=True)
    }
    trainable = model.trainable_weights
    assert 0 < len(trainable) < len(model.weights)
    assert all(not np.array_equal(w.value, start[w.path]) for w in trainable)


def test_save_and_load_round_trip(keras_model, tmp_path):
    model = nn.from_keras(keras_model)
    model.get_layer("conv2d_1").trainable = False
    path = tmp_path / "mini_xception.npz"
    model.save(path)
    again = nn.load_model(path)
    assert isinstance(again, nn.Model) and again.get_config() == model.get_config()
    assert not again.get_layer("conv2d_1").trainable
    x, _ = _batch(4, seed=2)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_load_keras_h5_reads_the_file_without_keras(keras_model):
    model = nn.load_keras_h5(pretrained.path("emotion_mini_xception"))
    ours = nn.from_keras(keras_model)
    assert (
        isinstance(model, nn.Model)
        and model.get_config()["inbound"] == (ours.get_config()["inbound"])
    )
    assert [layer.name for layer in model.layers] == [layer.name for layer in ours.layers]
    for a, b in zip(model.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x, _ = _batch(4, seed=3)
    assert np.abs(model.predict(x) - keras_model.predict(x, verbose=0)).max() < 1e-5


def test_load_keras_h5_refuses_a_file_without_a_model(tmp_path):
    import h5py

    path = tmp_path / "weights_only.h5"
    with h5py.File(path, "w") as f:
        f.create_group("model_weights")
    with pytest.raises(ModelFileError, match="no model_config"):
        nn.load_keras_h5(path)
