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


# ---- absurd sizes and lying headers are refused before anything is allocated (issue #10) ---
def _small_saved(tmp_path):
    model = nn.Sequential(
        [
            nn.Input(shape=(16, 16, 3)),
            nn.Conv2D(4, 3, name="conv"),
            nn.Flatten(name="flat"),
            nn.Dense(2, activation="softmax", name="out"),
        ],
        seed=0,
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    path = tmp_path / "small.npz"
    model.save(path)
    return path


def _edit_layer(index, key, value):
    def edit(arrays):
        meta = _meta(arrays)
        meta["config"]["layers"][index]["config"][key] = value
        _set_meta(arrays, meta)

    return edit


ABSURD = {
    "filters-8e6": (_edit_layer(1, "filters", 8_000_000), "'conv' (Conv2D)", "saving.MAX_"),
    "filters-1e9-int": (_edit_layer(1, "filters", 10**9), "'conv' (Conv2D)", "MAX_PARAMS"),
    "filters-1e9-float": (
        _edit_layer(1, "filters", 1e9),
        "'conv' (Conv2D)",
        "filters=1000000000.0",
    ),
    "filters-string": (_edit_layer(1, "filters", "abc"), "'conv' (Conv2D)", "filters='abc'"),
    "units-1e9": (_edit_layer(3, "units", 10**9), "'out' (Dense)", "MAX_PARAMS"),
    "input-100000": (
        _edit_layer(0, "shape", [100000, 100000, 3]),
        "the input",
        "MAX_ACTIVATION_ELEMENTS",
    ),
    "kernel-float": (_edit_layer(1, "kernel_size", [3.5, 3]), "'conv' (Conv2D)", "kernel_size"),
    "unknown-argument": (_edit_layer(1, "bogus", 1), "'conv' (Conv2D)", "bogus"),
}


@pytest.mark.parametrize(("edit", "layer", "why"), ABSURD.values(), ids=ABSURD.keys())
def test_a_config_asking_for_absurd_sizes_is_refused_before_allocating(tmp_path, edit, layer, why):
    import tracemalloc

    bad = _rewrite(_small_saved(tmp_path), tmp_path / "bad.npz", edit)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError) as info:
            nn.load_model(bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"{bad}: the architecture is invalid"), message
    assert layer in message and why in message, message
    assert peak < 20 << 20, f"loading allocated {peak:,} bytes before refusing"


def test_the_limits_leave_room_for_the_course_models_at_2048():
    from cnnlab.nn.saving import MAX_ACTIVATION_ELEMENTS, MAX_PARAMS, check_sizes
    from cnnlab.numpy_models import build_model

    for task, kind, classes in [("mood", "course", 2), ("signs", "recommended", 6)]:
        config = build_model(task, kind, (64, 64, 3), classes).get_config()
        config["layers"][0]["config"]["shape"] = [2048, 2048, 3]
        layers = [nn.layers.deserialize(item) for item in config["layers"]]
        check_sizes(layers)  # does not raise
        shape, params, largest = (None, 2048, 2048, 3), 0, 0
        for layer in layers[1:]:
            shape, weights = layer.plan(shape)
            params += sum(int(np.prod(w)) for w in weights)
            largest = max(largest, int(np.prod(shape[1:])))
        assert params * 5 < MAX_PARAMS and largest * 5 < MAX_ACTIVATION_ELEMENTS


def test_plan_predicts_exactly_what_build_creates():
    cases = [
        (nn.Conv2D(5, (3, 2), strides=2, padding="same"), (None, 9, 7, 3)),
        (nn.Conv2D(5, 3, use_bias=False), (None, 9, 7, 3)),
        (nn.Dense(4), (None, 6)),
        (nn.Dense(4, use_bias=False), (None, 6)),
        (nn.BatchNormalization(), (None, 5, 5, 3)),
        (nn.BatchNormalization(axis=1, center=False), (None, 5, 5, 3)),
        (nn.MaxPool2D(2), (None, 5, 5, 3)),
        (nn.AvgPool2D(3, strides=1, padding="same"), (None, 5, 5, 3)),
        (nn.ZeroPadding2D(((1, 2), (0, 3))), (None, 5, 5, 3)),
        (nn.Flatten(), (None, 5, 5, 3)),
        (nn.Dropout(0.5), (None, 6)),
        (nn.ReLU(), (None, 6)),
    ]
    for layer, shape in cases:
        out, weights = layer.plan(shape)
        layer.build(shape, np.random.default_rng(0))
        assert out == tuple(layer.output_shape), layer
        assert weights == [w.shape for w in layer.weights], layer


def test_an_array_header_that_declares_more_than_it_holds_is_refused_before_reading(tmp_path):
    good = _small_saved(tmp_path)
    bad = tmp_path / "lying.npz"
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }"
    header = header + b" " * (118 - len(header)) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = npy if item.filename == "w/conv/kernel.npy" else src.read(item)
            dst.writestr(item, data)
    with pytest.raises(ModelFileError, match=r"declares shape \(100000, 100000\)") as info:
        nn.load_model(bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize(
    "meta_edit",
    [
        lambda m: m.update(config={"layers": "x"}),
        lambda m: m.update(config=None),
        lambda m: m["config"]["layers"].__setitem__(1, [1, 2]),
        lambda m: m["config"].update(seed="s"),
        lambda m: m.update(optimizer_state="two"),
    ],
    ids=["layers-not-a-list", "no-config", "layer-not-a-dict", "seed-a-string", "state-count"],
)
def test_malformed_architecture_json_gives_one_model_file_error(tmp_path, meta_edit):
    def edit(arrays):
        meta = _meta(arrays)
        meta_edit(meta)
        _set_meta(arrays, meta)

    bad = _rewrite(_small_saved(tmp_path), tmp_path / "bad.npz", edit)
    with pytest.raises(ModelFileError) as info:
        nn.load_model(bad)
    assert str(info.value).startswith(f"{bad}: ")


def test_load_model_refuses_a_non_path():
    from cnnlab.errors import ArgumentError

    with pytest.raises(ArgumentError, match="path of a model file"):
        nn.load_model(None)
