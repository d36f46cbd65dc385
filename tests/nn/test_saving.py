"""save / load_model: exact round trip, resumable optimizer state, and refusal of bad files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from cnnlab import nn
from cnnlab.errors import ModelFileError


def trained_model(seed=0, dropout=0.2):
    layers = [
        nn.Input(shape=(8, 8, 3)),
        nn.Conv2D(4, 3, padding="same", activation="relu"),
        nn.BatchNormalization(),
        nn.MaxPool2D(),
        nn.Flatten(),
    ]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Dense(3, activation="softmax"))
    model = nn.Sequential(layers, seed=seed, name="tiny")
    model.compile(
        optimizer=nn.optimizers.Adam(learning_rate=0.005),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(seed)
    x = rng.random((24, 8, 8, 3), dtype=np.float32)
    y = rng.integers(0, 3, 24)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
    return model, x, y


def test_round_trip_restores_architecture_weights_and_optimizer(tmp_path):
    model, x, y = trained_model()
    path = tmp_path / "m.cnnlab.npz"
    model.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.cnnlab.npz"]  # no temporary left
    loaded = nn.load_model(path)
    assert loaded.name == "tiny"
    assert [type(a).__name__ for a in loaded.layers] == [type(a).__name__ for a in model.layers]
    assert [a.get_config() for a in loaded.layers] == [a.get_config() for a in model.layers]
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 6


def test_training_resumes_exactly_after_load(tmp_path):
    model, x, y = trained_model(dropout=0)  # random generators' states are not saved
    model.save(tmp_path / "m.npz")
    loaded = nn.load_model(tmp_path / "m.npz")
    for m in (model, loaded):
        m.fit(x, y, epochs=3, initial_epoch=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_float64_model_round_trips(tmp_path):
    model = nn.Sequential([nn.Input(shape=(3,)), nn.Dense(2)], dtype="float64", seed=1)
    model.save(tmp_path / "m64.npz")
    loaded = nn.load_model(tmp_path / "m64.npz")
    assert loaded.get_weights()[0].dtype == np.float64
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def _rewrite(path, target, edit):
    """Copy the archive at ``path`` to ``target`` with ``edit(dict of arrays)`` applied."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    edit(arrays)
    with open(target, "wb") as fh:
        np.savez(fh, **arrays)
    return target


def _meta(arrays):
    return json.loads(arrays["__cnnlab__"].tobytes())


def _set_meta(arrays, meta):
    arrays["__cnnlab__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


def _bad_cases(good, tmp_path):
    data = good.read_bytes()
    cases = {}
    p = tmp_path / "truncated.npz"
    p.write_bytes(data[: len(data) // 2])
    cases["truncated or corrupt"] = p
    p = tmp_path / "text.npz"
    p.write_text("hello")
    cases["not an .npz zip archive"] = p
    p = tmp_path / "pickled.npz"
    buf = io.BytesIO()
    np.save(buf, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(p, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr("w/extra.npy", buf.getvalue())
    cases["pickled object array"] = p
    cases["missing weight arrays: conv2d_x/bias"] = _rewrite(
        good, tmp_path / "missing.npz", lambda a: a.pop("w/conv2d_x/bias")
    )
    cases["unexpected arrays: w/ghost/kernel"] = _rewrite(
        good, tmp_path / "extra.npz", lambda a: a.update({"w/ghost/kernel": np.zeros(2)})
    )
    cases[r"'conv2d_x/kernel' has shape \(3, 3, 3, 5\), expected \(3, 3, 3, 4\)"] = _rewrite(
        good,
        tmp_path / "shape.npz",
        lambda a: a.update({"w/conv2d_x/kernel": np.zeros((3, 3, 3, 5), "float32")}),
    )
    cases["'dense_x/bias' has dtype float64, expected float32"] = _rewrite(
        good,
        tmp_path / "dtype.npz",
        lambda a: a.update({"w/dense_x/bias": a["w/dense_x/bias"].astype("float64")}),
    )

    def rename_layer(a):
        meta = _meta(a)
        meta["config"]["layers"][1]["config"]["name"] = "renamed"
        _set_meta(a, meta)

    cases["weight list .* does not match the architecture"] = _rewrite(
        good, tmp_path / "renamed.npz", rename_layer
    )

    def unknown_layer(a):
        meta = _meta(a)
        meta["config"]["layers"][1]["class_name"] = "Conv3D"
        _set_meta(a, meta)

    cases["Unknown layer class 'Conv3D'"] = _rewrite(good, tmp_path / "conv3d.npz", unknown_layer)
    cases["no '__cnnlab__' entry"] = _rewrite(
        good, tmp_path / "nometa.npz", lambda a: a.pop("__cnnlab__")
    )

    def version(a):
        meta = _meta(a)
        meta["version"] = 99
        _set_meta(a, meta)

    cases["unsupported file version 99"] = _rewrite(good, tmp_path / "v99.npz", version)
    cases["optimizer arrays"] = _rewrite(good, tmp_path / "opt.npz", lambda a: a.pop("opt/0"))
    cases["no such model file"] = tmp_path / "absent.npz"
    return cases


def test_malformed_files_are_refused_with_a_clear_error(tmp_path):
    model = nn.Sequential(
        [
            nn.Input(shape=(6, 6, 3)),
            nn.Conv2D(4, 3, name="conv2d_x"),
            nn.Flatten(),
            nn.Dense(2, activation="softmax", name="dense_x"),
        ],
        seed=0,
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((4, 6, 6, 3)), np.array([0, 1, 0, 1]), verbose=0)
    good = tmp_path / "good.npz"
    model.save(good)
    nn.load_model(good)  # sanity: the unmodified file loads
    for message, path in _bad_cases(good, tmp_path).items():
        with pytest.raises(ModelFileError, match=message) as info:
            nn.load_model(path)
        assert str(path) in str(info.value), message


def test_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model, x, _ = trained_model()
    path = tmp_path / "m.npz"
    model.save(path)
    before = path.read_bytes()

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_saving_an_unbuilt_model_or_to_a_wrong_name_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        nn.Sequential([nn.Dense(2)]).save(tmp_path / "x.npz")
    with pytest.raises(ValueError, match="'.npz'"):
        nn.Sequential([nn.Input(shape=(2,)), nn.Dense(2)], seed=0).save(tmp_path / "x.keras")
    assert not list(tmp_path.iterdir())
    with pytest.raises(ModelFileError, match="not a file"):
        nn.load_model(tmp_path)
