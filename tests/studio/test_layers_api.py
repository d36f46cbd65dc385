"""Every layer explains itself (cnnlab.studio.layers, issue 27): for each kind of layer, the
explanation's numbers equal the model's own, on small cnnlab.nn models with known weights and
through the API on a run with batch normalization; and the maps' colour range (per map, per
layer, whole network). No Keras here (the fast tier)."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from cnnlab import nn, training
from cnnlab.data.prepare import scale_pixels
from cnnlab.engines import layer_outputs
from cnnlab.errors import ArgumentError, RunError
from cnnlab.studio import create_app, layers
from cnnlab.studio.encode import VIRIDIS
from cnnlab.studio.walk import walk
from cnnlab.training.rundata import load_data

URL = "http://127.0.0.1"
BN = {
    "gamma": [1.5, 0.5, 2.0],
    "beta": [0.1, -0.2, 0.3],
    "moving_mean": [0.2, 0.1, -0.1],
    "moving_variance": [0.5, 2.0, 1.0],
}


def _image(shape=(6, 6, 2), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((1, *shape)).astype(np.float32)


def _sequential() -> nn.Sequential:
    """Conv2D(relu) -> BatchNormalization (known numbers) -> Activation(tanh) ->
    AveragePooling2D -> MaxPooling2D('same', stride 1) -> GlobalAveragePooling2D ->
    Dense(relu) -> Dense(sigmoid)."""
    model = nn.Sequential(
        [
            nn.Input(shape=(6, 6, 2)),
            nn.Conv2D(3, 3, padding="same", activation="relu", name="conv"),
            nn.BatchNormalization(epsilon=0.01, name="bn"),
            nn.Activation("tanh", name="tanh"),
            nn.AveragePooling2D(2, name="avg"),
            nn.MaxPooling2D(2, strides=1, padding="same", name="max"),
            nn.GlobalAveragePooling2D(name="gap"),
            nn.Dense(4, activation="relu", name="hidden"),
            nn.Dense(2, activation="sigmoid", name="out"),
        ],
        seed=3,
    )
    model.build()
    model.get_layer("bn").set_weights([np.array(v, np.float32) for v in BN.values()])
    return model


def _functional() -> nn.Model:
    """Rescaling -> Conv2D and a ReLU of it -> Add -> GlobalMaxPooling2D -> Dropout ->
    Dense(softmax); and a Flatten branch is not needed: Flatten is in the runs' models."""
    inp = nn.Input(shape=(5, 5, 1), name="image")
    model = nn.Model(
        inp,
        [
            (nn.Rescaling(2.0, offset=-1.0, name="signed"), ["image"]),
            (nn.Conv2D(2, 3, padding="same", name="conv"), ["signed"]),
            (nn.ReLU(name="relu"), ["conv"]),
            (nn.Add(name="add"), ["conv", "relu"]),
            (nn.GlobalMaxPooling2D(name="gmp"), ["add"]),
            (nn.Dropout(0.25, name="drop"), ["gmp"]),
            (nn.Dense(3, activation="softmax", name="out"), ["drop"]),
        ],
        seed=5,
    )
    model.build()
    return model


def _steps(model, x):
    return {s.name: s for s in walk(model, x)}


def test_an_activation_layer_shows_its_map_before_and_after():
    steps = _steps(_sequential(), _image())
    d = layers.explain(steps["tanh"], 1)
    assert d["kind"] == "activation" and d["function"] == "tanh"
    np.testing.assert_allclose(d["before"], steps["bn"].output[:, :, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d["after"], steps["tanh"].output[:, :, 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.tanh(d["before"]), d["after"], rtol=1e-4, atol=1e-5)
    relu = layers.explain(_steps(_functional(), _image((5, 5, 1)))["relu"], 0)
    assert relu["function"] == "relu"
    assert relu["zeroed"] == int((np.array(relu["before"]) < 0).sum()) > 0


def test_batch_normalization_shows_its_four_numbers_and_the_formula():
    steps = _steps(_sequential(), _image())
    for c in range(3):
        d = layers.explain(steps["bn"], c)
        assert d["kind"] == "batchnorm"
        for key, values in BN.items():
            assert d[key] == pytest.approx(values[c], rel=1e-6)
        assert d["epsilon"] == pytest.approx(0.01)
        x = np.array(d["before"])
        want = BN["gamma"][c] * (x - BN["moving_mean"][c])
        want = want / np.sqrt(BN["moving_variance"][c] + 0.01) + BN["beta"][c]
        np.testing.assert_allclose(d["after"], want, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(d["after"], steps["bn"].output[:, :, c], rtol=1e-5, atol=1e-6)
        assert d["factor"] == pytest.approx(
            BN["gamma"][c] / np.sqrt(BN["moving_variance"][c] + 0.01)
        )


def test_pooling_windows_give_the_models_max_and_mean():
    steps = _steps(_sequential(), _image())
    avg = layers.explain(steps["avg"], 2)  # 6x6 -> 3x3, 2x2 windows
    x = steps["tanh"].output[:, :, 2]
    assert avg["mode"] == "average" and avg["pool_size"] == [2, 2] and avg["picked"] is None
    sums = x.reshape(3, 2, 3, 2).sum(axis=(1, 3))
    np.testing.assert_allclose(avg["sums"], sums, rtol=1e-5, atol=1e-6)
    assert avg["counts"] == [[4] * 3] * 3
    np.testing.assert_allclose(avg["output"], steps["avg"].output[:, :, 2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(avg["sums"]) / 4, avg["output"], rtol=1e-4, atol=1e-6)

    mx = layers.explain(steps["max"], 0)  # 'same' with stride 1: a padded row and column
    padded = np.array(mx["padded"], dtype=float)
    assert padded.shape == (4, 4) and np.isnan(padded[-1]).all() and np.isnan(padded[:, -1]).all()
    out = steps["max"].output[:, :, 0]
    for i in range(3):
        for j in range(3):
            r, c = mx["picked"][i][j]
            assert i <= r < i + 2 and j <= c < j + 2
            assert padded[r, c] == pytest.approx(out[i, j], abs=1e-6)
            assert padded[r, c] == pytest.approx(np.nanmax(padded[i : i + 2, j : j + 2]), abs=1e-6)

    gap = layers.explain(steps["gap"], 1)  # the whole map is the window
    assert gap["global"] and gap["pool_size"] == [3, 3] and gap["counts"] == [[9]]
    assert gap["output"] == [[pytest.approx(float(steps["gap"].output[1]), rel=1e-5)]]
    f = _steps(_functional(), _image((5, 5, 1)))
    gmp = layers.explain(f["gmp"], 1)
    (r, c) = gmp["picked"][0][0]
    assert f["add"].output[r, c, 1] == pytest.approx(f["gmp"].output[1], abs=1e-6)
    assert f["gmp"].output[1] == pytest.approx(f["add"].output[:, :, 1].max(), abs=1e-6)


def test_dense_is_a_sum_of_shares_plus_the_bias_then_its_activation():
    model = _sequential()
    steps = _steps(model, _image())
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("hidden").get_weights())
    x = steps["gap"].output.astype(np.float64)
    z = x @ kernel + bias
    for unit in range(4):
        d = layers.explain(steps["hidden"], unit)
        assert d["kind"] == "dense" and d["n_inputs"] == 3
        shares = [s["share"] for s in d["shares"]]
        assert [abs(s) for s in shares] == sorted((abs(s) for s in shares), reverse=True)
        for s in d["shares"]:
            assert s["input"] == pytest.approx(x[s["index"]], rel=1e-6)
            assert s["weight"] == pytest.approx(kernel[s["index"], unit], rel=1e-6)
            assert s["share"] == pytest.approx(s["input"] * s["weight"], rel=1e-9)
        assert d["bias"] == pytest.approx(bias[unit])
        assert sum(shares) + d["rest"]["sum"] + d["bias"] == pytest.approx(z[unit], abs=1e-6)
        assert d["z_unit"] == pytest.approx(z[unit], abs=1e-6)
        a = d["activation"]
        assert a["function"] == "relu"
        np.testing.assert_allclose(a["output"], steps["hidden"].output, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a["output"], np.maximum(z, 0), rtol=1e-4, atol=1e-6)

    out = layers.explain(steps["out"], 1)["activation"]  # sigmoid: 1 / (1 + exp(-z))
    assert out["function"] == "sigmoid"
    zo = np.array(out["z"])
    np.testing.assert_allclose(out["exp_neg"], np.exp(-zo), rtol=1e-5)
    np.testing.assert_allclose(out["output"], 1 / (1 + np.exp(-zo)), rtol=1e-5)
    np.testing.assert_allclose(out["output"], steps["out"].output, rtol=1e-5)


def test_softmax_turns_logits_into_the_models_probabilities():
    model = _functional()
    steps = _steps(model, _image((5, 5, 1)))
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("out").get_weights())
    z = steps["drop"].output.astype(np.float64) @ kernel + bias
    a = layers.explain(steps["out"], 2)["activation"]
    assert a["function"] == "softmax" and a["unit"] == 2 and a["shift"] == 0.0
    np.testing.assert_allclose(a["z"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["exp"], np.exp(z), rtol=1e-5)
    assert a["sum_exp"] == pytest.approx(np.exp(z).sum(), rel=1e-5)
    np.testing.assert_allclose(np.array(a["exp"]) / a["sum_exp"], a["output"], rtol=1e-4)
    np.testing.assert_allclose(a["output"], steps["out"].output, rtol=1e-5)
    # huge logits: shifted by the largest, the same probabilities
    big = layers.activation_part("softmax", np.array([200.0, 199.0]), np.array([0.7, 0.3]), 0)
    assert big["shift"] == 200.0
    np.testing.assert_allclose(big["exp"], [1.0, np.exp(-1.0)], rtol=1e-5)


def test_add_and_the_one_line_layers():
    steps = _steps(_functional(), _image((5, 5, 1)))
    d = layers.explain(steps["add"], 1)
    assert d["kind"] == "add" and [x["layer"] for x in d["inputs"]] == ["conv", "relu"]
    i, j = d["cell"]
    assert d["inputs"][0]["value"] == pytest.approx(float(steps["conv"].output[i, j, 1]))
    assert d["inputs"][1]["value"] == pytest.approx(float(steps["relu"].output[i, j, 1]))
    assert d["value"] == pytest.approx(sum(x["value"] for x in d["inputs"]), abs=1e-6)
    resc = layers.explain(steps["signed"], 0)
    assert resc["kind"] == "note" and "y = x * 2 + -1" in resc["what"]
    e = resc["example"]
    assert e["after"] == pytest.approx(e["before"] * 2 - 1, abs=1e-6)
    drop = layers.explain(steps["drop"], 0)
    assert "25%" in drop["what"] and drop["example"]["before"] == drop["example"]["after"]


def test_an_explanation_that_does_not_give_the_output_is_refused():
    steps = _steps(_sequential(), _image())
    step = steps["bn"]
    step.output = step.output + 1.0  # as if the layer computed something else
    with pytest.raises(RunError, match="cannot explain"):
        layers.explain(step, 0)
    with pytest.raises(ArgumentError, match=r"channels 0\.\.2"):
        layers.explain(steps["tanh"], 3)


# ---- through the API, on a run with batch normalization ------------------------------------


@pytest.fixture(scope="module")
def bn_run(recommended_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding the recommended run as ``bn``."""
    root = tmp_path_factory.mktemp("bn-runs")
    shutil.copytree(recommended_run, root / "bn")
    return root


@pytest.fixture(scope="module")
def client(bn_run: Path) -> TestClient:
    with TestClient(create_app(bn_run), base_url=URL) as c:
        yield c


def _outputs(run_dir: Path) -> dict[str, np.ndarray]:
    run = training.load_run(run_dir)
    x = scale_pixels(load_data(run.config, progress=False).x_test[:1])
    return {o.name: o.output for o in layer_outputs(training.load_model(run), x)}


def _png(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))).convert("RGB"))


def test_every_layer_of_a_run_explains_itself(client, bn_run):
    explored = client.post("/api/runs/bn/explore", json={"sample": 0}).json()
    acts = _outputs(bn_run / "bn")
    base = "/api/runs/bn/explore/s:test:0/layers"
    kinds = {}
    for layer in explored["layers"]:
        assert layer["detail"] is True
        r = client.get(f"{base}/{layer['name']}/channels/0")
        assert r.status_code == 200, r.text
        d = r.json()
        kinds[layer["type"]] = d.get("kind", "conv")
        if d.get("kind") in ("activation", "batchnorm"):
            np.testing.assert_allclose(
                d["after"], acts[layer["name"]][:, :, 0], rtol=1e-5, atol=1e-6
            )
        if d.get("kind") == "pool":
            want = acts[layer["name"]][:, :, 0]
            np.testing.assert_allclose(d["output"], want, rtol=1e-5, atol=1e-6)
        if d.get("kind") == "dense":
            probs = [p["p"] for p in explored["probabilities"]]
            np.testing.assert_allclose(d["activation"]["output"], probs, rtol=1e-5, atol=1e-7)
    assert kinds == {
        "Conv2D": "conv",
        "BatchNormalization": "batchnorm",
        "ReLU": "activation",
        "MaxPooling2D": "pool",
        "AveragePooling2D": "pool",
        "Flatten": "note",
        "Dropout": "note",
        "Dense": "dense",
    }
    dense = explored["layers"][-1]["name"]
    r = client.get(f"{base}/{dense}/channels/10")
    assert r.status_code == 404 and r.json()["error"] == f"{dense} has units 0..9. Received: 10"
    r = client.get(f"{base}/nope/channels/0")
    assert r.status_code == 404 and "no layer 'nope'" in r.json()["error"]


@pytest.mark.parametrize("choice", ["map", "layer", "network"])
def test_the_maps_colour_range_follows_the_choice(client, bn_run, choice):
    client.post("/api/runs/bn/explore", json={"sample": 0})
    got = client.get(f"/api/runs/bn/explore/s:test:0/maps?range={choice}").json()
    acts = {n: a for n, a in _outputs(bn_run / "bn").items() if a.ndim == 3}
    assert [la["name"] for la in got["layers"]] == list(acts)
    plain = [a for a in acts.values() if a.min() >= 0]
    signed = [a for a in acts.values() if a.min() < 0]
    assert got["network"]["sequential"] == pytest.approx(
        [min(a.min() for a in plain), max(a.max() for a in plain)], abs=1e-6
    )
    assert got["network"]["diverging"] == pytest.approx(max(np.abs(a).max() for a in signed))
    for layer in got["layers"]:
        a = acts[layer["name"]].astype(np.float64)
        c = a.shape[2] - 1
        values = a[:, :, c]
        lo, hi = {
            "map": (values.min(), values.max()),
            "layer": (a.min(), a.max()),
            "network": tuple(got["network"]["sequential"]),
        }[choice]
        if layer["scale"] == "sequential":
            assert layer["ranges"][c] == pytest.approx([lo, hi], abs=1e-6)
            level = np.rint(np.clip((values - lo) / ((hi - lo) or 1.0), 0, 1) * 255)
            want = VIRIDIS[level.astype(int)].astype(int)
            assert np.abs(_png(layer["maps"][c]).astype(int) - want).max() <= 1
        else:  # signed maps stay blue-white-red around 0, on the chosen extent
            lo_, hi_ = layer["ranges"][c]
            assert lo_ == -hi_ and 0 < hi_
        assert (layer["range"] is None) == (choice == "map")
    r = client.get("/api/runs/bn/explore/s:test:0/maps?range=everything")
    assert r.status_code == 400
    assert r.json()["error"] == (
        "range must be one of ['map', 'layer', 'network']. Received: range='everything'"
    )


@pytest.mark.slow
def test_a_keras_models_layers_explain_themselves_with_its_own_weights():
    """The layer walk of a Keras model (the studio's path for a layer cnnlab.nn lacks): the
    configs and weights are read from Keras's layers, and every number equals Keras's."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 2)),
            keras.layers.Conv2D(3, 3, padding="same", name="conv"),
            keras.layers.BatchNormalization(axis=3, epsilon=0.01, name="bn"),
            keras.layers.Activation("relu", name="relu"),
            keras.layers.AveragePooling2D(2, name="avg"),
            keras.layers.MaxPooling2D(2, strides=1, padding="same", name="max"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(2, activation="sigmoid", name="out"),
        ]
    )
    model.get_layer("bn").set_weights([np.array(v, np.float32) for v in BN.values()])
    steps = _steps(model, _image())
    bn = layers.explain(steps["bn"], 1)
    assert bn["gamma"] == pytest.approx(0.5) and bn["moving_variance"] == pytest.approx(2.0)
    np.testing.assert_allclose(bn["after"], steps["bn"].output[:, :, 1], rtol=1e-5, atol=1e-6)
    assert layers.explain(steps["relu"], 0)["kind"] == "activation"
    avg = layers.explain(steps["avg"], 0)
    np.testing.assert_allclose(np.array(avg["sums"]) / 4, avg["output"], rtol=1e-4, atol=1e-6)
    mx = layers.explain(steps["max"], 2)
    assert np.array(mx["padded"], dtype=float).shape == (4, 4)
    assert layers.explain(steps["gap"], 0)["global"]
    out = layers.explain(steps["out"], 0)
    kernel, bias = (np.asarray(w, np.float64) for w in model.get_layer("out").get_weights())
    z = steps["gap"].output.astype(np.float64) @ kernel + bias
    assert out["z_unit"] == pytest.approx(z[0], abs=1e-5)
    np.testing.assert_allclose(out["activation"]["output"], 1 / (1 + np.exp(-z)), rtol=1e-5)
