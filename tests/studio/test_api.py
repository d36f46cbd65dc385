"""The studio's JSON API, through Starlette's TestClient: every endpoint, the numbers it sends
against cnnlab's own functions, and the security rules."""

from __future__ import annotations

import base64
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from cnnlab import interpret, ops, plots, training
from cnnlab.data.prepare import scale_pixels
from cnnlab.explain.calculators import explain_conv, explain_pool
from cnnlab.nn import registry
from cnnlab.studio import create_app
from cnnlab.studio.app import safe_file
from cnnlab.studio.encode import VIRIDIS
from cnnlab.studio.explorer import NotFound
from cnnlab.training.rundata import load_data

URL = "http://127.0.0.1"
RUNS = ("digits-numpy", "digits-keras")


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _refused(response, status: int, *words: str) -> str:
    """A JSON error with ``status`` whose one-line message holds ``words``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message
    return message


def _png(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


def _unmap(rgb: np.ndarray) -> np.ndarray:
    """A viridis-coloured map back to its 0..255 level (the nearest colour of the table)."""
    lut = VIRIDIS.astype(np.int64)
    d = ((rgb[..., None, :].astype(np.int64) - lut) ** 2).sum(-1)
    return d.argmin(-1)


def _assert_diverging(rgb: np.ndarray, values: np.ndarray, extent: float) -> None:
    """``rgb`` is ``values`` in blue-white-red on ``-extent..extent``: white at 0, blue
    (33, 82, 156) at ``-extent``, red (196, 43, 52) at ``extent``, linear between."""
    t = np.clip(values / extent, -1, 1)[..., None]
    white, blue, red = np.array([255, 255, 255]), np.array([33, 82, 156]), np.array([196, 43, 52])
    want = np.where(t < 0, white + (blue - white) * -t, white + (red - white) * t)
    assert np.abs(rgb.astype(float) - want).max() <= 1


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# ---- info and the page -------------------------------------------------------------------
@pytest.mark.slow
def test_info_lists_presets_limits_and_runs(client, runs_dir):
    info = _ok(client.get("/api/info"))
    assert info["n_runs"] == 2 and info["runs_dir"] == str(runs_dir.resolve())
    assert set(info["presets"]) == {
        "vertical_edge",
        "horizontal_edge",
        "blur",
        "sharpen",
        "identity",
    }
    assert info["presets"]["vertical_edge"] == [[1, 0, -1]] * 3
    assert info["limits"]["upload_bytes"] == 10 * 1024 * 1024


def test_no_runs_folder_is_fine(tmp_path):
    with TestClient(create_app(tmp_path / "nothing-yet"), base_url=URL) as c:
        assert _ok(c.get("/api/runs"))["runs"] == []
        assert _ok(c.get("/api/info"))["n_runs"] == 0
        assert _ok(c.post("/api/playground/conv", json={"input": [[1]], "kernel": [[2]]}))[
            "output"
        ] == [[2.0]]


# ---- playground --------------------------------------------------------------------------
CONV_CASES = [
    ((6, 6), (3, 3), 1, "valid"),
    ((6, 6), (3, 3), 1, "same"),
    ((7, 5), (4, 2), 1, "same"),  # even kernel: TensorFlow puts the extra zero after
    ((8, 8), (3, 3), 2, "same"),
    ((9, 7), (3, 2), [2, 3], 2),
    ((5, 5), (5, 5), 1, 0),
]


@pytest.mark.parametrize("shape,kshape,stride,padding", CONV_CASES)
def test_playground_conv_equals_ops(client, shape, kshape, stride, padding):
    rng = np.random.default_rng(sum(shape) + sum(kshape))
    x = rng.integers(-9, 10, size=shape).astype(float)
    w = rng.integers(-3, 4, size=kshape).astype(float)
    body = {"input": x.tolist(), "kernel": w.tolist(), "stride": stride, "padding": padding}
    got = _ok(client.post("/api/playground/conv", json=body | {"bias": 0.5}))
    want, _ = ops.conv2d_forward(
        x[None, ..., None], w[..., None, None], np.array([0.5]), stride, padding
    )
    np.testing.assert_allclose(got["output"], want[0, ..., 0], rtol=1e-5)
    assert got["output_shape"] == list(want.shape[1:3])
    e = explain_conv((*shape, 1), 1, kshape, stride, padding)
    (top, bottom), (left, right) = e.pads
    assert got["pads"] == {"top": top, "bottom": bottom, "left": left, "right": right}
    padded = np.asarray(got["padded"])
    assert padded.shape == (shape[0] + top + bottom, shape[1] + left + right)
    np.testing.assert_array_equal(padded[top : top + shape[0], left : left + shape[1]], x)
    assert padded.sum() == x.sum()  # the padding is zeros
    products = np.asarray(got["products"])
    assert products.shape == (*want.shape[1:3], kshape[0] * kshape[1])
    np.testing.assert_allclose(products.sum(-1) + 0.5, got["output"], rtol=1e-5, atol=1e-9)
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    i, j = want.shape[1] - 1, want.shape[2] - 1  # the last cell reads its own window
    window = padded[i * sh : i * sh + kshape[0], j * sw : j * sw + kshape[1]]
    np.testing.assert_allclose(products[i, j], (window * w).ravel())
    assert got["formula"] == {"height": e.axes[0].formula(), "width": e.axes[1].formula()}
    assert got["explain"] == e.lines()


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("size,stride,padding", [(2, None, "valid"), (3, 2, "same"), (2, 1, 1)])
def test_playground_pool_equals_ops(client, mode, size, stride, padding):
    x = np.random.default_rng(7).integers(0, 20, size=(7, 6)).astype(float)
    body = {"input": x.tolist(), "mode": mode, "size": size, "stride": stride, "padding": padding}
    got = _ok(client.post("/api/playground/pool", json=body))
    want, _ = ops.pool2d_forward(x[None, ..., None], size, stride, padding, mode=mode)
    np.testing.assert_allclose(got["output"], want[0, ..., 0], rtol=1e-5)
    e = explain_pool((7, 6, 1), size, stride, padding, mode)
    assert got["explain"] == e.lines() and got["output_shape"] == list(e.output_shape[:2])
    padded = np.array(got["padded"], dtype=float)  # None (padding) becomes NaN
    assert np.isnan(padded).sum() == padded.size - x.size
    if mode == "max":
        for i, row in enumerate(got["picked"]):
            for j, (r, c) in enumerate(row):
                assert padded[r, c] == got["output"][i][j]
    else:
        assert got["picked"] is None


@pytest.mark.parametrize(
    "path,body,words",
    [
        ("conv", {"input": [[1, 2], [3]], "kernel": [[1]]}, ("input", "same length")),
        ("conv", {"input": [[1, "a"]], "kernel": [[1]]}, ("input", "numbers")),
        ("conv", {"input": [[0] * 65] * 2, "kernel": [[1]]}, ("input", "64x64", "2x65")),
        ("conv", {"input": [[1, 2]], "kernel": [[1, 2, 3]]}, ("larger than the padded input",)),
        ("conv", {"input": [[1]], "kernel": [[1]], "stride": 0}, ("stride",)),
        ("conv", {"input": [[1]], "kernel": [[1]], "padding": "full"}, ("padding", "'full'")),
        ("conv", {"input": [[1]], "kernel": [[1]], "bias": "x"}, ("bias",)),
        ("conv", {"kernel": [[1]]}, ("input",)),
        ("pool", {"input": [[1, 2]], "mode": "median"}, ("mode", "'median'")),
    ],
)
def test_playground_refuses_bad_settings(client, path, body, words):
    _refused(client.post(f"/api/playground/{path}", json=body), 400, *words)


def test_playground_refuses_a_body_that_is_not_a_json_object(client):
    _refused(client.post("/api/playground/conv", content=b"{nope"), 400, "JSON object")
    _refused(client.post("/api/playground/conv", json=[1, 2]), 400, "JSON object")
    _refused(client.post("/api/playground/conv", content=b" " * (1024 * 1024 + 1)), 413, "limit")


def test_playground_images(client, runs_dir):
    digits = _ok(client.get("/api/playground/images"))["images"]
    assert [d["label"] for d in digits] == [f"digit {k}" for k in range(10)]
    assert all(np.asarray(d["grid"]).shape == (8, 8) for d in digits)
    grids = _ok(client.get("/api/playground/images?source=digits-numpy&size=12"))["images"]
    assert len(grids) == 10 and np.asarray(grids[0]["grid"]).shape == (12, 12)
    _refused(client.get("/api/playground/images?source=digits-numpy&size=100"), 400, "size")
    _refused(client.get("/api/playground/images?source=digits-numpy&size=x"), 400, "size")
    _refused(client.get("/api/playground/images?source=nope"), 404, "nope")


# ---- runs --------------------------------------------------------------------------------
def test_runs_list_and_details(client, runs_dir):
    listed = _ok(client.get("/api/runs"))
    assert {r["name"] for r in listed["runs"]} == set(RUNS) and listed["broken"] == []
    for name in RUNS:
        run = training.load_run(runs_dir / name)
        d = _ok(client.get(f"/api/runs/{name}"))
        assert d["engine"] == run.config.engine and d["class_names"] == run.class_names
        assert d["finished"] and not d["training"] and d["epochs_done"] == 2
        assert d["history"] == training.read_history_csv(runs_dir / name / "history.csv")
        assert d["metrics"]["test"]["accuracy"] == d["test_accuracy"]
        assert "learning_curves.png" in d["files"] and "model.npz" not in d["files"]


def test_a_broken_run_is_listed_as_broken_and_others_still_show(runs_dir, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits-numpy", root / "good")
    (root / "bad").mkdir()
    (root / "bad" / "config.json").write_text("{not json")
    (root / "not-a-run").mkdir()
    with TestClient(create_app(root), base_url=URL) as c:
        listed = _ok(c.get("/api/runs"))
        assert [r["name"] for r in listed["runs"]] == ["good"]
        assert [b["name"] for b in listed["broken"]] == ["bad"]
        assert "config.json" in listed["broken"][0]["error"]
        _refused(c.get("/api/runs/bad"), 400, "config.json")
        _refused(c.get("/api/runs/not-a-run"), 404, "not a run")


def test_a_run_that_is_training_updates_while_you_watch(runs_dir, tmp_path):
    """The same app sees new epochs as they land (it re-reads the run each time)."""
    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits-numpy", root / "live")
    with TestClient(create_app(root), base_url=URL) as c:
        before = _ok(c.get("/api/runs/live"))
        (root / "live" / "metrics.json").unlink()  # between an epoch and the end of training
        during = _ok(c.get("/api/runs/live"))
        assert before["finished"] and not during["finished"] and during["training"]
        first = _ok(c.post("/api/runs/live/explore", json={"sample": 0}))
        training.resume(root / "live", epochs=3, progress=False, log=lambda line: None)
        after = _ok(c.get("/api/runs/live"))
        assert after["epochs_done"] == 3 and len(after["history"]["loss"]) == 3
        assert after["finished"] and not after["training"]
        second = _ok(c.post("/api/runs/live/explore", json={"sample": 0}))
        assert first["probabilities"] != second["probabilities"]  # the new model answered


def test_samples_are_the_runs_own_split(client, runs_dir):
    got = _ok(client.get("/api/runs/digits-numpy/samples?limit=5"))
    run = training.load_run(runs_dir / "digits-numpy")
    ds = load_data(run.config, progress=False)
    assert got["count"] == len(ds.x_test) and len(got["samples"]) == 5
    for s in got["samples"]:
        np.testing.assert_array_equal(_png(s["thumb"]), ds.x_test[s["index"], :, :, 0])
        assert s["label"] == run.class_names[int(ds.y_test[s["index"]])]
    _refused(client.get("/api/runs/digits-numpy/samples?split=holdout"), 400, "split")
    _refused(client.get("/api/runs/digits-numpy/samples?limit=0"), 400, "limit")


# ---- the model explorer ------------------------------------------------------------------
def _activations(run_dir: Path, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output as the run's own engine computes it (forward_all / a Keras probe:
    the studio runs a Keras run in the NumPy engine, which must agree with Keras)."""
    run = training.load_run(run_dir)
    model = training.load_model(run, run.config.engine)
    if run.config.engine == "numpy":
        return {k: v[0] for k, v in model.forward_all(x).items()}
    import keras

    layers = [la for la in model.layers if la.__class__.__name__ != "InputLayer"]
    probe = keras.Model(model.inputs[0], [la.output for la in layers])
    return {la.name: np.asarray(o)[0] for la, o in zip(layers, probe(x), strict=True)}


@pytest.mark.parametrize("name", RUNS)
def test_explore_feature_maps_equal_the_engines_activations(client, runs_dir, name):
    run = training.load_run(runs_dir / name)
    ds = load_data(run.config, progress=False)
    x = scale_pixels(ds.x_test[3:4])
    acts = _activations(runs_dir / name, x)
    got = _ok(client.post(f"/api/runs/{name}/explore", json={"sample": 3, "split": "test"}))
    assert got["image_id"] == "s:test:3"
    np.testing.assert_array_equal(_png(got["input"]["thumb"]), ds.x_test[3, :, :, 0])
    assert [la["name"] for la in got["layers"]] == list(acts)
    for layer in got["layers"]:
        a = acts[layer["name"]]
        assert layer["output_shape"] == list(a.shape)
        np.testing.assert_allclose(layer["range"], [a.min(), a.max()], rtol=1e-5, atol=1e-6)
        if a.ndim == 3:
            assert len(layer["maps"]) == a.shape[2]
            lo, hi = a.min(), a.max()
            if lo < 0:  # signed values: blue-white-red around 0
                assert layer["scale"] == "diverging"
                for c, url in enumerate(layer["maps"]):
                    _assert_diverging(_png(url), a[:, :, c], max(-lo, hi))
                continue
            assert layer["scale"] == "sequential"
            levels = np.rint((a - lo) / (hi - lo if hi > lo else 1) * 255)
            for c, url in enumerate(layer["maps"]):
                assert np.abs(_unmap(_png(url)) - levels[:, :, c]).max() <= 1
        else:
            np.testing.assert_allclose(layer["values"], a, rtol=1e-5, atol=1e-6)
        assert (
            layer["detail"] is True
        )  # every layer explains itself (tests/studio/test_layers_api.py)
    params = [la["params"] for la in got["layers"]]
    first_conv = next(la for la in got["layers"] if la["type"] == "Conv2D")
    kh, kw, c_in, c_out = (
        training.load_model(run).get_layer(first_conv["name"]).get_weights()[0].shape
    )
    assert first_conv["params"] == kh * kw * c_in * c_out + c_out
    assert sum(params) == training.load_model(run).count_params()
    probs = acts[got["layers"][-1]["name"]]
    assert [p["class"] for p in got["probabilities"]] == run.class_names
    np.testing.assert_allclose([p["p"] for p in got["probabilities"]], probs, rtol=1e-5)
    assert got["predicted"]["index"] == int(np.argmax(probs))
    heat = interpret.grad_cam(training.load_model(run), x, int(np.argmax(probs)))
    want = np.rint(plots.overlay(x[0], heat[0]) * 255)
    assert np.abs(_png(got["grad_cam"]["overlay"]).astype(float) - want).max() <= 1


@pytest.mark.parametrize("name", RUNS)
def test_an_uploaded_image_gets_the_probabilities_cnnlab_predict_gives(
    client, runs_dir, tmp_path, name
):
    digit = np.kron(np.eye(8, dtype=np.uint8)[::-1] * 255, np.ones((5, 5), np.uint8))
    rgb = np.stack([digit] * 3, axis=-1)  # a 40x40 RGB diagonal stroke
    path = tmp_path / "stroke.png"
    path.write_bytes(_png_bytes(rgb))
    got = _ok(client.post(f"/api/runs/{name}/upload", content=path.read_bytes()))
    assert got["image_id"].startswith("u:") and got["input"]["shape"] == [16, 16, 1]
    top = training.predict_images(runs_dir / name, [path], top_k=10)[0]
    by_class = {p["class"]: p["p"] for p in got["probabilities"]}
    for cls, p in top:
        assert by_class[cls] == pytest.approx(p, rel=1e-5, abs=1e-7)
    assert got["predicted"]["class"] == top[0][0]
    again = _ok(client.post(f"/api/runs/{name}/explore", json={"image_id": got["image_id"]}))
    assert again["probabilities"] == got["probabilities"]


@pytest.mark.parametrize("name", RUNS)
def test_a_feature_map_shows_how_it_was_made(client, runs_dir, name):
    run = training.load_run(runs_dir / name)
    model = training.load_model(run)
    ds = load_data(run.config, progress=False)
    x = scale_pixels(ds.x_test[5:6])
    acts = _activations(runs_dir / name, x)
    names = list(acts)  # the layers in order (their names depend on what the process built before)
    convs = [n for n in names if registry.kind(model.get_layer(n)) == "Conv2D"]
    assert len(convs) == 2
    for layer, previous in ((convs[0], None), (convs[1], names[names.index(convs[1]) - 1])):
        got = _ok(client.get(f"/api/runs/{name}/explore/s:test:5/layers/{layer}/channels/1"))
        prev = x[0] if previous is None else acts[previous]
        assert got["input_layer"] == (previous or "input")
        assert len(got["inputs"]) == prev.shape[2] == len(got["kernels"])
        kernel, bias = (
            np.asarray(w, dtype=np.float64) for w in model.get_layer(layer).get_weights()
        )
        # The studio's colours: the image gray as it is, kernels blue-white-red around 0.
        if previous is None:
            assert got["input_kind"] == "image"
            np.testing.assert_array_equal(_png(got["inputs"][0]), ds.x_test[5, :, :, 0])
        else:
            assert got["input_kind"] == "activation"
        for c, url in enumerate(got["kernels"]):
            _assert_diverging(_png(url), kernel[:, :, c, 1], np.abs(kernel[..., 1]).max())
        np.testing.assert_allclose(got["kernel"], kernel[:, :, :, 1], rtol=1e-5)
        assert got["bias"] == pytest.approx(float(bias[1]), rel=1e-6)
        cfg = model.get_layer(layer).get_config()
        z, _ = ops.conv2d_forward(
            prev[None].astype(np.float64),
            kernel[..., 1:2],
            bias[1:2],
            cfg["strides"],
            cfg["padding"],
        )
        np.testing.assert_allclose(got["z"], z[0, :, :, 0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            np.sum(got["channel_sums"], axis=-1) + got["bias"], got["z"], rtol=1e-5, atol=1e-6
        )
        np.testing.assert_allclose(got["output"], acts[layer][:, :, 1], rtol=1e-5, atol=1e-6)
        pads = got["pads"]
        padded = np.asarray(got["padded"])
        h, w = prev.shape[:2]
        np.testing.assert_allclose(
            padded[pads["top"] : pads["top"] + h, pads["left"] : pads["left"] + w], prev, rtol=1e-5
        )


def test_explorer_refuses_what_does_not_exist(client):
    base = "/api/runs/digits-numpy"
    _refused(client.post(base + "/explore", json={"sample": 10_000}), 404, "test split")
    _refused(client.post(base + "/explore", json={"sample": "3"}), 400, "sample")
    _refused(client.post(base + "/explore", json={}), 400, "sample")
    _refused(client.post(base + "/explore", json={"image_id": "u:0000"}), 404, "upload it again")
    _refused(client.get(base + "/explore/s:test:1/layers/nope/channels/0"), 404, "nope")
    layers = _ok(client.post(base + "/explore", json={"sample": 1}))["layers"]
    conv = next(la["name"] for la in layers if la["type"] == "Conv2D")
    dense = next(la["name"] for la in layers if la["type"] == "Dense")
    _refused(client.get(f"{base}/explore/s:test:1/layers/{conv}/channels/99"), 404, "channels 0..7")
    _refused(client.get(f"{base}/explore/s:test:1/layers/{dense}/channels/10"), 404, "units 0..9")
    _refused(client.post("/api/runs/nope/explore", json={"sample": 0}), 404, "nope")


@pytest.mark.slow
def test_uploads_are_checked(client, tmp_path):
    url = "/api/runs/digits-numpy/upload"
    _refused(client.post(url, content=b""), 400, "empty")
    _refused(client.post(url, content=b"GIF89a not really"), 400, "uploaded file")
    _refused(client.post(url, content=b"\0" * (10 * 1024 * 1024 + 1)), 413, "limit")
    # A decompression bomb: a tiny PNG file that would decode to 40,000 x 40,000 pixels.
    bomb = io.BytesIO()
    Image.new("1", (40_000, 40_000)).save(bomb, format="PNG")
    assert len(bomb.getvalue()) < 1_000_000
    message = _refused(client.post(url, content=bomb.getvalue()), 400, "uploaded file")
    assert "pixels" in message or "large" in message
    _refused(client.post("/api/runs/nope/upload", content=b"x"), 404, "nope")


# ---- runs view: confusion and top losses -------------------------------------------------
@pytest.mark.parametrize("name", RUNS)
def test_confusion_and_its_cells_and_top_losses(client, runs_dir, name):
    interp = interpret.Interpretation.from_run(runs_dir / name, progress=False)
    got = _ok(client.get(f"/api/runs/{name}/confusion"))
    np.testing.assert_array_equal(got["matrix"], interp.confusion_matrix())
    assert got["class_names"] == interp.class_names
    t, p = np.unravel_index(np.argmax(got["matrix"]), (10, 10))
    cell = _ok(client.get(f"/api/runs/{name}/confusion/{t}/{p}?limit=3"))
    assert cell["count"] == got["matrix"][t][p] and len(cell["images"]) == min(3, cell["count"])
    for image in cell["images"]:
        i = image["index"]
        assert interp.targets[i] == t and interp.preds[i] == p
        np.testing.assert_array_equal(_png(image["thumb"]), interp.images[i, :, :, 0])
    _refused(client.get(f"/api/runs/{name}/confusion/10/0"), 404, "0..9")
    answer = _ok(client.get(f"/api/runs/{name}/top-losses?k=4"))
    top = answer["wrong"] + answer["right"]
    order, losses = interp.top_losses()
    miss = interp.preds[order] != interp.targets[order]
    assert answer["n_wrong"] == int(miss.sum())
    assert [im["index"] for im in answer["wrong"]] == order[miss][:4].tolist()
    fill = max(0, 4 - int(miss.sum()))
    assert [im["index"] for im in answer["right"]] == order[~miss][:fill].tolist()
    assert len(top) == 4
    assert all(im["true"] != im["pred"] for im in answer["wrong"])
    assert all(im["true"] == im["pred"] for im in answer["right"])
    np.testing.assert_allclose(
        [im["loss"] for im in top], interp.losses[[im["index"] for im in top]], rtol=1e-5
    )
    assert all(_png(im["cam"]).shape == (16, 16, 3) for im in top)
    assert got["epoch"] == answer["epoch"] == training.load_run(runs_dir / name).model_epoch


def test_top_losses_never_call_a_correct_image_wrong(runs_dir):
    """A run with fewer misclassified test images than asked for (here 2: the cached
    predictions are made right but for two): they alone come under "wrong", and the
    highest-loss correct ones fill up "right"."""
    from cnnlab.studio.explorer import RunsFolder

    folder = RunsFolder(runs_dir)
    interp, _ = folder._interpretation("digits-numpy")
    order, _ = interp.top_losses()
    wrong = [int(order[0]), int(order[5])]
    preds = interp.targets.copy()
    preds[wrong] = (interp.targets[wrong] + 1) % 10
    interp.preds = preds
    answer = folder.top_losses("digits-numpy", 6)
    assert answer["n_wrong"] == 2
    assert [im["index"] for im in answer["wrong"]] == wrong
    right = [int(i) for i in order if int(i) not in wrong][:4]
    assert [im["index"] for im in answer["right"]] == right
    assert all(im["true"] == im["pred"] for im in answer["right"])


# ---- security ----------------------------------------------------------------------------
def test_static_files_and_traversal(client, runs_dir):
    page = client.get("/")
    if page.status_code == 200:
        assert "<html" in page.text.lower()
    for path in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/%2E%2E%2Fapp.py",
        "/static/..%2f..%2fexplorer.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
        "/files/digits-numpy/%2e%2e/%2e%2e/etc/passwd",
        "/files/digits-numpy/%2e%2e%2fdigits-keras%2fconfig.json",
        "/files/..%2f..%2fetc/passwd",
        "/files/digits-numpy/%2fetc%2fpasswd",
        "/files/digits-numpy/model.npz",  # a model file is never served
        "/files/digits-numpy/x%00.png",
    ):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert "root:" not in response.text and "import" not in response.text
    served = client.get("/files/digits-numpy/learning_curves.png")
    assert served.status_code == 200
    assert served.content == (runs_dir / "digits-numpy" / "learning_curves.png").read_bytes()


def test_links_leading_out_of_a_folder_are_refused(runs_dir, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits-numpy", root / "r")
    (root / "r" / "leak.png").symlink_to(secret)
    (root / "elsewhere").symlink_to(runs_dir / "digits-keras", target_is_directory=True)
    with TestClient(create_app(root), base_url=URL) as c:
        _refused(c.get("/files/r/leak.png"), 404)
        _refused(c.get("/api/runs/elsewhere"), 404, "elsewhere")
        assert [r["name"] for r in _ok(c.get("/api/runs"))["runs"]] == ["r"]
    with pytest.raises(NotFound):
        safe_file(root / "r", "leak.png")
    with pytest.raises(NotFound):
        safe_file(root / "r", str(secret))


def test_errors_are_json_with_a_4xx_status_and_bugs_a_500_without_traceback(runs_dir, monkeypatch):
    from cnnlab.studio.explorer import RunsFolder

    def broken(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(RunsFolder, "list_runs", broken)
    with TestClient(create_app(runs_dir), base_url=URL, raise_server_exceptions=False) as c:
        _refused(c.get("/no/such/page"), 404, "/no/such/page")
        _refused(c.get("/api/playground/conv"), 405)
        message = _refused(c.get("/api/runs"), 500, "internal error")
        assert "a bug" not in message
        _refused(c.get("/api/runs", headers={"host": "attacker.example"}), 400, "127.0.0.1")


def test_any_host_when_asked(runs_dir):
    with TestClient(create_app(runs_dir, allowed_hosts=["*"]), base_url="http://box.lan") as c:
        assert _ok(c.get("/api/runs"))["runs"]


def test_json_answers_hold_no_nan(client):
    text = client.post("/api/playground/pool", json={"input": [[1, 2, 3]], "padding": "same"}).text
    assert "NaN" not in text
    json.loads(text)


def test_every_answer_carries_the_content_policy(client):
    for response in (client.get("/api/info"), client.get("/nope"), client.get("/static/x.js")):
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def _gate(monkeypatch, module, attr):
    """Replace ``module.attr`` with a version that waits for ``release`` (set by the test) and
    records how many calls run at once; ``started`` is set when the first call begins."""
    import threading

    real = getattr(module, attr)
    started, release = threading.Event(), threading.Event()
    calls = {"n": 0, "now": 0, "most": 0}
    lock = threading.Lock()

    def gated(*args, **kwargs):
        with lock:
            calls["n"] += 1
            calls["now"] += 1
            calls["most"] = max(calls["most"], calls["now"])
        started.set()
        try:
            assert release.wait(60), "the test never released the gated call"
            return real(*args, **kwargs)
        finally:
            with lock:
                calls["now"] -= 1

    monkeypatch.setattr(module, attr, gated)
    return started, release, calls


def _in_thread(fn):
    import threading

    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_one_runs_confusion_matrix_does_not_hold_up_another_runs_explore(
    runs_dir, tmp_path, monkeypatch
):
    """While run a's confusion matrix is being computed (held there until the test lets it
    go), run b's explore request is answered: through the app, on the same event loop."""
    from cnnlab.studio import explorer

    root = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(runs_dir / "digits-numpy", root / name)
    with TestClient(create_app(root), base_url=URL) as c:
        _ok(c.post("/api/runs/a/explore", json={"sample": 0}))  # a's model and data loaded
        started, release, calls = _gate(monkeypatch, explorer.Interpretation, "from_run")
        slow, slow_box = _in_thread(lambda: c.get("/api/runs/a/confusion"))
        try:
            assert started.wait(60), "a's confusion matrix never started"
            fast, fast_box = _in_thread(lambda: c.post("/api/runs/b/explore", json={"sample": 1}))
            fast.join(60)
            assert not fast.is_alive(), "b's explore waited for a's confusion matrix"
            assert slow.is_alive() and not release.is_set()  # a's is still held
            assert _ok(fast_box["value"])["layers"]
        finally:
            release.set()
        slow.join(60)
        assert _ok(slow_box["value"])["matrix"] and calls["n"] == 1


def test_an_entry_wanted_twice_at_once_is_made_once(runs_dir, tmp_path, monkeypatch):
    from cnnlab.studio import explorer

    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits-numpy", root / "a")
    folder = explorer.RunsFolder(root)
    folder.explore("a", "s:test:0")
    started, release, calls = _gate(monkeypatch, explorer.Interpretation, "from_run")
    first, first_box = _in_thread(lambda: folder.confusion("a"))
    assert started.wait(60)
    second, second_box = _in_thread(lambda: folder.top_losses("a", 3))
    second.join(0.5)
    assert second.is_alive(), "the second request did not wait for the entry being made"
    release.set()
    first.join(60)
    second.join(60)
    assert "error" not in first_box and "error" not in second_box, (first_box, second_box)
    assert calls["n"] == 1 and calls["most"] == 1
    assert first_box["value"]["epoch"] == second_box["value"]["epoch"] == 2


def test_a_training_runs_confusion_follows_its_newest_checkpoint(runs_dir, tmp_path):
    """The confusion matrix and top losses are of the model file the run names now, labelled
    with its epoch: a new epoch's checkpoint gives new ones."""
    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits-numpy", root / "live")
    (root / "live" / "metrics.json").unlink()  # between an epoch and the end of training
    with TestClient(create_app(root), base_url=URL) as c:
        before = _ok(c.get("/api/runs/live/confusion"))
        assert before["epoch"] == 2
        assert _ok(c.get("/api/runs/live/top-losses?k=2"))["epoch"] == 2
        training.resume(root / "live", epochs=4, progress=False, log=lambda line: None)
        run = training.load_run(root / "live")
        after = _ok(c.get("/api/runs/live/confusion"))
        assert after["epoch"] == run.model_epoch > 2
        assert _ok(c.get("/api/runs/live/top-losses?k=2"))["epoch"] == run.model_epoch
        fresh = interpret.Interpretation.from_run(root / "live", progress=False)
        np.testing.assert_array_equal(after["matrix"], fresh.confusion_matrix())


def test_a_blank_grad_cam_says_why(client, monkeypatch):
    from cnnlab.studio import explorer

    got = _ok(client.post("/api/runs/digits-numpy/explore", json={"sample": 7}))
    assert got["grad_cam"]["blank"] is None
    monkeypatch.setattr(
        explorer.interpret, "grad_cam", lambda model, x, cls, layer: np.zeros((1, 16, 16))
    )
    blank = _ok(client.post("/api/runs/digits-numpy/explore", json={"sample": 7}))["grad_cam"]
    assert "blank" in blank["blank"] and blank["layer"] in blank["blank"]
    assert "gradients" in blank["blank"]


def test_a_dark_on_light_upload_to_a_digits_run_is_inverted_with_a_note(client, runs_dir):
    ds = load_data(training.load_run(runs_dir / "digits-numpy").config, progress=False)
    digit = ds.x_test[0][:, :, 0]
    light = _ok(client.post("/api/runs/digits-numpy/upload", content=_png_bytes(digit)))
    dark = _ok(client.post("/api/runs/digits-numpy/upload", content=_png_bytes(255 - digit)))
    assert light["note"] is None
    assert "inverted" in dark["note"]
    assert dark["probabilities"] == light["probabilities"]
    np.testing.assert_array_equal(_png(dark["input"]["thumb"]), _png(light["input"]["thumb"]))


def test_only_the_runs_used_last_stay_in_memory(runs_dir, tmp_path, monkeypatch):
    from cnnlab.studio import explorer

    monkeypatch.setattr(explorer, "KEEP_RUNS", 2)
    root = tmp_path / "runs"
    for name in ("a", "b", "c"):
        shutil.copytree(runs_dir / "digits-numpy", root / name)
    folder = explorer.RunsFolder(root)
    for name in ("a", "b", "a", "c"):
        folder.explore(name, "s:test:0")
    assert folder.cached_runs() == ["c", "a"]
    first = folder.explore("b", "s:test:0")  # loaded again, the same answer
    assert folder.cached_runs() == ["b", "c"]
    assert first["probabilities"] == folder.explore("a", "s:test:0")["probabilities"]


def test_malformed_run_files_are_listed_as_broken_and_never_hide_the_others(runs_dir, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(runs_dir / "digits-numpy", root / "good")
    with TestClient(create_app(root), base_url=URL) as c:
        assert [r["name"] for r in _ok(c.get("/api/runs"))["runs"]] == ["good"]
        # added while the studio runs: a config nested 100,000 levels, a metrics list
        for name, file, text in (
            ("deep", "config.json", "[" * 100_000 + "]" * 100_000),
            ("listy", "metrics.json", "[1, 2]"),
        ):
            shutil.copytree(runs_dir / "digits-numpy", root / name)
            (root / name / file).write_text(text)
        listed = _ok(c.get("/api/runs"))
        assert [r["name"] for r in listed["runs"]] == ["good"]
        assert sorted(b["name"] for b in listed["broken"]) == ["deep", "listy"]
        errors = {b["name"]: b["error"] for b in listed["broken"]}
        assert "nested too deeply" in errors["deep"] and "expected an object" in errors["listy"]
        _refused(c.get("/api/runs/listy"), 400, "metrics.json")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ('{"input": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
        ('{"input": [[[[[[[[[[1]]]]]]]]]]}', "nested more than 8 levels"),
        ('{"input": [[1e308, 2], [3, 4]], "kernel": [[1]]}', "within +-1e+09"),
        ('{"input": [[1, 2], [3, 4]], "kernel": [[' + "9" * 400 + "]]}", "within +-1e+09"),
        ('{"input": [[1, 2], [3, 4]], "kernel": [[NaN]]}', "within +-1e+09"),
        ('{"input": [[1, 2], [3, 4]], "kernel": [[1e400]]}', "within +-1e+09"),
    ],
)
def test_hostile_json_bodies_are_400s(client, body, words):
    for route in ("/api/playground/conv", "/api/playground/pool"):
        response = client.post(route, content=body, headers={"content-type": "application/json"})
        _refused(response, 400, words)
    assert client.get("/api/runs").status_code == 200  # the server is still up
