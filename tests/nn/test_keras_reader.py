"""``read_keras``: a ``.keras`` file into the NumPy engine with zipfile and h5py alone, equal
to Keras's own predictions for every model cnnlab trains, and for a hand-made Sequential or
Functional model; what it cannot run is named, and :func:`cnnlab.engines.load_model` then
falls back to Keras with one note."""

from __future__ import annotations

import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest

from cnnlab import engines, keras_models, nn
from cnnlab.errors import ArgumentError, EngineNote, ModelFileError
from cnnlab.nn.keras_file import read_keras

keras = pytest.importorskip("keras")

# (task, model, input shape, classes): every model cnnlab trains
CNNLAB_MODELS = [
    ("mood", "course", (64, 64, 3), 2),
    ("mood", "recommended", (64, 64, 3), 2),
    ("mood", "transfer", (64, 64, 3), 2),
    ("mood", "transfer", (48, 48, 1), 2),
    ("signs", "course", (64, 64, 3), 6),
    ("signs", "recommended", (64, 64, 3), 6),
    ("signs", "recommended", (16, 16, 1), 10),
]


def _trained_looking(model, seed: int = 0):
    """Weights that are not the initial ones (BatchNormalization's moving statistics too),
    so that a weight read into the wrong layer or slot shows."""
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            (w + rng.normal(0, 0.05, w.shape)).astype(w.dtype)
            if "variance" not in v.path
            else rng.uniform(0.5, 1.5, w.shape).astype(w.dtype)
            for w, v in zip(model.get_weights(), model.weights, strict=True)
        ]
    )
    return model


def _images(shape, n=5, seed=1):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


@pytest.mark.parametrize(("task", "model", "shape", "n"), CNNLAB_MODELS)
def test_every_cnnlab_model_reads_to_keras_own_predictions(tmp_path, task, model, shape, n):
    km = keras_models.build_model(task, model, shape, n, augment=True, seed=0)
    _trained_looking(km)
    path = tmp_path / "model.keras"
    km.save(path)
    ours = read_keras(path)
    x = _images(shape)
    np.testing.assert_allclose(ours.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert [la.name for la in ours.layers] == [
        la.name
        for la in km.layers
        if type(la).__name__ != "InputLayer" and not nn.registry.is_augmentation(la)
    ]
    assert [la.trainable for la in ours.layers] == [
        la.trainable for la in km.layers if la.name in {o.name for o in ours.layers}
    ]


def _branchy():
    inp = keras.Input((12, 12, 2), name="pixels")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="z_first")(inp)
    b = keras.layers.SeparableConv2D(4, 3, padding="same", name="a_branch")(a)
    b = keras.layers.BatchNormalization(name="bn")(b)
    c = keras.layers.Conv2D(4, 1, name="a_second_conv")(a)  # the second Conv2D: conv2d_1
    s = keras.layers.Add(name="sum")([b, c])
    s = keras.layers.RandomFlip(name="flip")(s)  # augmentation: left out
    g = keras.layers.GlobalAveragePooling2D(name="gap")(s)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(g)
    return _trained_looking(keras.Model(inp, out, name="branchy"))


def test_a_functional_model_with_branches_reads_as_a_graph(tmp_path):
    km = _branchy()
    path = tmp_path / "g.keras"
    km.save(path)
    ours = read_keras(path)
    assert isinstance(ours, nn.Model) and ours.name == "branchy"
    assert ours.inbound["sum"] == ("bn", "a_second_conv")
    assert ours.inbound["gap"] == ("sum",)
    x = _images((12, 12, 2))
    np.testing.assert_allclose(ours.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_reading_imports_no_tensorflow(tmp_path):
    km = keras_models.build_model("signs", "course", (16, 16, 1), 10)
    path = tmp_path / "model.keras"
    km.save(path)
    code = (
        "import sys; from cnnlab import engines; "
        f"m = engines.load_model({str(path)!r}); "
        "assert engines.engine_of(m) == 'numpy', m; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_an_unsupported_layer_is_named_and_load_model_falls_back_with_one_note(tmp_path):
    km = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(2, 3, dilation_rate=2, name="dilated"),
            keras.layers.LayerNormalization(name="norm"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    path = tmp_path / "m.keras"
    km.save(path)
    with pytest.raises(ArgumentError, match="'dilated'.*dilation_rate"):
        read_keras(path)
    with pytest.raises(ArgumentError, match="'dilated'"):
        engines.load_model(path, "numpy")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = engines.load_model(path)
    notes = [w for w in caught if issubclass(w.category, EngineNote)]
    assert len(notes) == 1 and "m.keras" in str(notes[0].message)
    assert "\n" not in str(notes[0].message)
    assert engines.engine_of(model) == "keras"
    x = _images((8, 8, 1))
    np.testing.assert_allclose(model.predict(x, verbose=0), km.predict(x, verbose=0))


def test_engine_choice_and_npz_files(tmp_path):
    km = _trained_looking(keras_models.build_model("signs", "course", (16, 16, 1), 10))
    path = tmp_path / "model.keras"
    km.save(path)
    assert engines.engine_of(engines.load_model(path)) == "numpy"
    assert engines.engine_of(engines.load_model(path, "keras")) == "keras"
    npz = tmp_path / "model.npz"
    read_keras(path).save(npz)
    x = _images((16, 16, 1))
    for engine in (None, "numpy", "keras"):
        model = engines.load_model(npz, engine)
        assert engines.engine_of(model) == (engine or "numpy")
        np.testing.assert_allclose(
            np.asarray(model.predict(x, verbose=0)), km.predict(x, verbose=0), atol=1e-5
        )
    with pytest.raises(ArgumentError, match="engine must be one of keras, numpy"):
        engines.load_model(path, "torch")


def test_damaged_weights_are_one_clear_error(tmp_path):
    km = keras_models.build_model("signs", "course", (16, 16, 1), 10)
    good = tmp_path / "good.keras"
    km.save(good)
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "model.weights.h5":
                data = data[: len(data) // 3]
            dst.writestr(item, data)
    with pytest.raises(ModelFileError, match=r"bad\.keras: model\.weights\.h5"):
        read_keras(bad)
    missing = tmp_path / "missing.keras"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(missing, "w") as dst:
        for item in src.infolist():
            if item.filename != "model.weights.h5":
                dst.writestr(item, src.read(item))
    with pytest.raises(ModelFileError, match=r"missing\.keras"):
        read_keras(missing)


def test_the_layer_walk_is_the_same_in_both_engines(tmp_path):
    km = _branchy()
    path = tmp_path / "g.keras"
    km.save(path)
    x = _images((12, 12, 2), n=1)
    ours, theirs = engines.layer_outputs(read_keras(path), x), engines.layer_outputs(km, x)
    theirs = [t for t in theirs if t.kind != "RandomFlip"]
    assert [(o.name, o.kind) for o in ours] == [(t.name, t.kind) for t in theirs]
    assert {o.name: o.parents for o in ours} == {
        "z_first": ["input"],
        "a_branch": ["z_first"],
        "bn": ["a_branch"],
        "a_second_conv": ["z_first"],
        "sum": ["bn", "a_second_conv"],
        "gap": ["sum"],
        "probs": ["gap"],
    }
    for o, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(o.output, t.output, rtol=1e-5, atol=1e-5, err_msg=o.name)
    course = keras_models.build_model("signs", "course", (16, 16, 1), 10)
    course.save(tmp_path / "c.keras")
    digit = _images((16, 16, 1), n=1)
    for model in (course, read_keras(tmp_path / "c.keras")):
        chain = engines.layer_outputs(model, digit)
        assert chain[0].parents == ["input"] and chain[1].parents == [chain[0].name]
