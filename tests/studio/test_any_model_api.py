"""The studio on model files cnnlab did not train (``cnnlab studio --model``, ``show()``):
tiny cnnlab.nn models (no Keras in the fast tier) through the JSON API, their class names,
the errors for files it cannot serve, and the probabilities against the model's own predict."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from cnnlab import nn
from cnnlab.cli import app as cli_app
from cnnlab.cli._common import run_cli
from cnnlab.data.prepare import decode_prepared, scale_pixels
from cnnlab.errors import ArgumentError, ModelFileError
from cnnlab.studio import ModelFile, create_app, show
from cnnlab.studio.explorer import _undrawn

URL = "http://127.0.0.1"
CLASSES = ["cat", "dog", "owl"]


def _conv_model(path: Path, channels: int = 1, units: int = 3) -> nn.Sequential:
    model = nn.Sequential(
        [
            nn.Input(shape=(12, 12, channels)),
            nn.Conv2D(4, 3, activation="relu"),
            nn.MaxPool2D(),
            nn.Flatten(),
            nn.Dense(units, activation="softmax" if units > 1 else "sigmoid"),
        ],
        seed=3,
    )
    model.save(path)
    return model


def _branch_model(path: Path) -> nn.Model:
    """A residual block: conv -> (conv, identity) -> Add -> pool -> dense."""
    inp = nn.Input(shape=(10, 10, 3), name="image")
    graph = [
        (nn.Conv2D(4, 3, padding="same", activation="relu", name="stem"), ["image"]),
        (nn.Conv2D(4, 3, padding="same", name="branch"), ["stem"]),
        (nn.BatchNormalization(name="bn"), ["branch"]),
        (nn.Add(name="add"), ["stem", "bn"]),
        (nn.GlobalAveragePooling2D(name="gap"), ["add"]),
        (nn.Dense(2, activation="softmax", name="out"), ["gap"]),
    ]
    model = nn.Model(inp, graph, seed=5)
    model.save(path)
    return model


def _data_folder(root: Path, size: int = 14, per_class: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _client(*models: ModelFile, runs: Path | None = None) -> TestClient:
    return TestClient(create_app(runs or Path("/nonexistent-runs"), models=models), base_url=URL)


def _ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _one_line(message: str, *words: str) -> None:
    assert "\n" not in message and "Traceback" not in message, message
    for word in words:
        assert word in message, message


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, nn.Sequential]:
    path = tmp_path / "tiny.cnnlab.npz"
    return path, _conv_model(path)


def test_an_npz_model_is_listed_and_explored_layer_by_layer(tiny, tmp_path):
    path, model = tiny
    client = _client(ModelFile(path, data=_data_folder(tmp_path / "data")))
    listed = _ok(client.get("/api/runs"))["runs"]
    assert [r["name"] for r in listed] == ["tiny.cnnlab.npz"]
    entry = listed[0]
    assert entry["source"] == "model" and entry["labelled"] is True
    assert entry["image_size"] == [12, 12] and entry["channels"] == 1
    assert entry["preprocess"] == "none" and entry["engine"] == "numpy"
    assert entry["epochs_done"] == 0 and entry["test_accuracy"] is None
    assert _ok(client.get("/api/info"))["models"] == ["tiny.cnnlab.npz"]
    details = _ok(client.get("/api/runs/tiny.cnnlab.npz"))
    assert details["history"] == {} and details["metrics"] is None and details["files"] == []

    got = _ok(client.post("/api/runs/tiny.cnnlab.npz/explore", json={"sample": 0}))
    assert [la["name"] for la in got["layers"]] == [la.name for la in model.layers]
    conv = got["layers"][0]
    assert conv["type"] == "Conv2D" and conv["output_shape"] == [10, 10, 4]
    assert len(conv["maps"]) == 4 and conv["detail"] is True and conv["note"] is None
    assert got["layers"][-1]["values"] is not None  # the Dense output: its 3 numbers
    assert got["grad_cam"]["layer"] == conv["name"]
    detail = _ok(
        client.get(f"/api/runs/tiny.cnnlab.npz/explore/s:test:0/layers/{conv['name']}/channels/1")
    )
    assert detail["input_kind"] == "image" and np.asarray(detail["kernel"]).shape == (3, 3, 1)


def test_classes_come_from_the_data_folder_and_its_images_are_the_samples(tiny, tmp_path):
    path, model = tiny
    data = _data_folder(tmp_path / "data")
    client = _client(ModelFile(path, data=data))
    assert _ok(client.get("/api/runs"))["runs"][0]["class_names"] == CLASSES
    samples = _ok(client.get("/api/runs/tiny.cnnlab.npz/samples?limit=200"))
    assert samples["count"] == 9
    assert sorted(s["label"] for s in samples["samples"]) == sorted(CLASSES * 3)
    # labelled images: the confusion matrix and top losses work as a run's do
    confusion = _ok(client.get("/api/runs/tiny.cnnlab.npz/confusion"))
    assert confusion["class_names"] == CLASSES and np.sum(confusion["matrix"]) == 9
    x = np.stack(
        [
            decode_prepared(p, (12, 12), True)[0]
            for c in CLASSES
            for p in sorted((data / c).iterdir())
        ]
    )
    preds = model.predict(scale_pixels(x)).argmax(axis=1)
    truth = np.repeat(np.arange(3), 3)
    assert confusion["accuracy"] == pytest.approx(float((preds == truth).mean()))
    losses = _ok(client.get("/api/runs/tiny.cnnlab.npz/top-losses?k=4"))
    assert losses["n_wrong"] == int((preds != truth).sum())


def test_classes_from_a_list_or_as_indices(tiny):
    path, _ = tiny
    named = _client(ModelFile(path, classes=CLASSES))
    got = _ok(named.post("/api/runs/tiny.cnnlab.npz/upload", content=_png(np.zeros((20, 20)))))
    assert [p["class"] for p in got["probabilities"]] == CLASSES
    plain = _client(ModelFile(path))
    entry = _ok(plain.get("/api/runs"))["runs"][0]
    assert entry["class_names"] == ["0", "1", "2"] and entry["labelled"] is False
    assert _ok(plain.get("/api/runs/tiny.cnnlab.npz/samples"))["samples"] == []
    refused = plain.get("/api/runs/tiny.cnnlab.npz/confusion")
    assert refused.status_code == 400
    _one_line(refused.json()["error"], "tiny.cnnlab.npz", "--data")
    with pytest.raises(ArgumentError, match="has 3 classes; give 3 names"):
        ModelFile(path, classes=["a", "b"])


def test_a_sigmoid_model_has_two_classes(tmp_path):
    path = tmp_path / "smile.npz"
    model = _conv_model(path, channels=3, units=1)
    client = _client(ModelFile(path, classes=["no", "yes"]))
    image = np.full((12, 12, 3), 200, dtype=np.uint8)
    got = _ok(client.post("/api/runs/smile.npz/upload", content=_png(image)))
    p = float(model.predict(scale_pixels(image[None]))[0, 0])
    by_class = {q["class"]: q["p"] for q in got["probabilities"]}
    assert by_class["yes"] == pytest.approx(p, rel=1e-5)
    assert by_class["no"] == pytest.approx(1 - p, rel=1e-5)
    with pytest.raises(ArgumentError, match="one sigmoid output"):
        ModelFile(path, classes=["only"])


def test_the_data_folder_must_have_the_models_number_of_classes(tmp_path):
    path = tmp_path / "two.npz"
    _conv_model(path, units=2)
    with pytest.raises(ArgumentError) as caught:
        ModelFile(path, data=_data_folder(tmp_path / "data"))
    _one_line(str(caught.value), "3 class folders", "cat, dog, owl", "has 2 classes")


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.keras", None, ["missing.keras", "no such model file"]),
        ("notes.txt", b"not a model", ["notes.txt", "not a model file", ".keras"]),
        ("broken.keras", b"PK\x03\x04 truncated", ["broken.keras"]),
        ("broken.npz", b"\x00" * 64, ["broken.npz"]),
    ],
)
def test_a_file_the_studio_cannot_read_is_one_line_naming_it(tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError) as caught:
        ModelFile(path)
    _one_line(str(caught.value), str(path), *words)


def test_a_model_that_is_not_an_image_model_is_refused(tmp_path):
    path = tmp_path / "table.npz"
    nn.Sequential([nn.Input(shape=(8,)), nn.Dense(3, activation="softmax")], seed=0).save(path)
    with pytest.raises(ModelFileError) as caught:
        ModelFile(path)
    _one_line(str(caught.value), str(path), "not an image model", "(8,)")


def test_the_cli_says_one_line_and_exits_2_for_a_bad_model(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    for args, words in [
        (["--model", str(tmp_path / "missing.keras")], ["missing.keras", "no such model file"]),
        (["--model", str(tmp_path / "notes.txt")], ["notes.txt", "not a model file"]),
        (["--data", str(tmp_path)], ["--model"]),
    ]:
        code = run_cli(cli_app, ["studio", "--no-open", "--port", "0", *args])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert err.startswith("error: ")
        _one_line(err, *words)


def test_a_model_with_a_branch_is_explored(tmp_path):
    path = tmp_path / "residual.npz"
    model = _branch_model(path)
    client = _client(ModelFile(path, classes=["left", "right"]))
    image = np.random.default_rng(1).integers(0, 256, (10, 10, 3), dtype=np.uint8)
    got = _ok(client.post("/api/runs/residual.npz/upload", content=_png(image)))
    layers = {la["name"]: la for la in got["layers"]}
    assert list(layers) == ["stem", "branch", "bn", "add", "gap", "out"]
    assert layers["add"]["type"] == "Add" and len(layers["add"]["maps"]) == 4
    assert layers["add"]["detail"] is True  # its two inputs and their sum (studio/layers.py)
    assert layers["bn"]["type"] == "BatchNormalization" and layers["bn"]["maps"]
    assert layers["gap"]["values"] is not None and layers["gap"]["output_shape"] == [4]
    acts = model.forward_all(scale_pixels(image[None]))
    np.testing.assert_allclose(
        layers["add"]["range"], [acts["add"].min(), acts["add"].max()], rtol=1e-5
    )
    probs = model.predict(scale_pixels(image[None]))[0]
    np.testing.assert_allclose([p["p"] for p in got["probabilities"]], probs, rtol=1e-5)


def test_a_camera_frame_goes_to_a_model_file_as_an_upload_does(tmp_path):
    path = tmp_path / "residual.npz"
    model = _branch_model(path)
    client = _client(ModelFile(path, classes=["left", "right"]))
    image = np.random.default_rng(4).integers(0, 256, (10, 10, 3), dtype=np.uint8)
    got = _ok(client.post("/api/runs/residual.npz/frame", content=_png(image)))
    probs = model.predict(scale_pixels(image[None]))[0]
    np.testing.assert_allclose([p["p"] for p in got["probabilities"]], probs, rtol=1e-5)
    assert got["predicted"]["class"] == ["left", "right"][int(np.argmax(probs))]
    assert client.post("/api/runs/other.npz/frame", content=_png(image)).status_code == 404


def test_a_dense_only_image_model_is_explored_without_grad_cam(tmp_path):
    path = tmp_path / "mlp.npz"
    model = nn.Sequential(
        [
            nn.Input(shape=(6, 6, 1)),
            nn.Flatten(),
            nn.Dense(5, activation="relu"),
            nn.Dense(3, activation="softmax"),
        ],
        seed=2,
    )
    model.save(path)
    client = _client(ModelFile(path))
    image = np.arange(36, dtype=np.uint8).reshape(6, 6) * 7
    got = _ok(client.post("/api/runs/mlp.npz/upload", content=_png(image)))
    assert got["grad_cam"] is None
    assert [la["output_shape"] for la in got["layers"]] == [[36], [5], [3]]
    assert all(la["values"] is not None and la["maps"] is None for la in got["layers"])
    probs = model.predict(scale_pixels(image[None, :, :, None]))[0]
    np.testing.assert_allclose([p["p"] for p in got["probabilities"]], probs, rtol=1e-5)


def test_the_probabilities_equal_the_models_own_predict(tiny, tmp_path):
    path, model = tiny
    data = _data_folder(tmp_path / "data", size=30)
    client = _client(ModelFile(path, data=data))
    image = np.random.default_rng(7).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    got = _ok(client.post("/api/runs/tiny.cnnlab.npz/upload", content=_png(image)))
    x, _ = decode_prepared(_save(tmp_path, image), (12, 12), True)
    probs = model.predict(scale_pixels(x[None]))[0]
    np.testing.assert_allclose([p["p"] for p in got["probabilities"]], probs, rtol=1e-5)
    assert got["predicted"]["class"] == CLASSES[int(probs.argmax())]
    assert got["input"]["shape"] == [12, 12, 1]


def _save(tmp_path: Path, image: np.ndarray) -> Path:
    path = tmp_path / "upload.png"
    path.write_bytes(_png(image))
    return path


def test_a_model_file_sits_beside_the_runs(tiny, tmp_path):
    path, _ = tiny
    runs = tmp_path / "runs"
    runs.mkdir()
    client = _client(ModelFile(path), runs=runs)
    answer = _ok(client.get("/api/runs"))
    assert answer["runs_dir"] == str(runs.resolve()) and answer["runs"][0]["name"] == path.name
    assert _ok(client.get("/api/info"))["n_runs"] == 0
    # its name is not a folder: no file of the model's folder is served
    assert client.get(f"/files/{path.name}/tiny.cnnlab.npz").status_code == 404


def test_an_output_that_is_not_maps_or_a_vector_is_said_in_one_line():
    assert _undrawn(np.zeros((6, 4, 2))) is None and _undrawn(np.zeros(5)) is None
    assert _undrawn(np.zeros((7, 5))) == "a 7 × 5 output: not drawn as maps"


def test_show_serves_a_cnnlab_model_with_images_and_stop_frees_the_port(capsys):
    model = nn.Sequential(
        [
            nn.Input(shape=(8, 8, 3)),
            nn.Conv2D(2, 3),
            nn.Flatten(),
            nn.Dense(2, activation="softmax"),
        ],
        seed=0,
        name="live",
    )
    images = np.random.default_rng(0).random((3, 8, 8, 3)).astype(np.float32)
    handle = show(model, images, ["no", "yes"])
    try:
        assert f"cnnlab studio: {handle.url}" in capsys.readouterr().out
        with urllib.request.urlopen(handle.url + "api/runs", timeout=10) as answer:
            listed = json.load(answer)["runs"]
            policy = answer.headers["content-security-policy"]
        # a notebook on this machine may show it in a frame; no other page may
        assert "frame-ancestors 'self' http://localhost:* http://127.0.0.1:*" in policy
        assert "frame-ancestors 'none'" not in policy and "script-src 'self';" in policy
        assert "colab" not in policy  # not in Colab: its pages may not
        assert [r["name"] for r in listed] == ["live.cnnlab.npz"]
        assert listed[0]["class_names"] == ["no", "yes"]
        request = urllib.request.Request(
            handle.url + "api/runs/live.cnnlab.npz/explore",
            data=json.dumps({"sample": 2}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            got = json.load(answer)
        x = np.round(images[2:3] * 255).astype(np.uint8)
        probs = model.predict(scale_pixels(x))[0]
        np.testing.assert_allclose([p["p"] for p in got["probabilities"]], probs, rtol=1e-5)
        temp = handle._temp
        assert (temp / "live.cnnlab.npz").is_file()
    finally:
        handle.stop()
    assert not temp.exists()
    port = int(handle.url.rsplit(":", 1)[1].strip("/"))
    assert not handle.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as s:  # free again (SO_REUSEADDR: past the TIME_WAIT of old talks)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)


def test_show_refuses_images_that_do_not_fit_the_model(tiny):
    path, _ = tiny
    with pytest.raises(ArgumentError, match=r"images must be \(N, 12, 12, 1\)"):
        show(path, np.zeros((2, 5, 5, 1), dtype=np.uint8))
    with pytest.raises(ArgumentError, match="float images must lie in 0..1"):
        show(path, np.full((1, 12, 12, 1), 3.0))


def test_a_model_file_saved_again_is_read_again(tiny, tmp_path):
    path, model = tiny
    client = _client(ModelFile(path))
    upload = _png(np.random.default_rng(3).integers(0, 256, (12, 12), dtype=np.uint8))
    first = _ok(client.post("/api/runs/tiny.cnnlab.npz/upload", content=upload))
    newer = nn.Sequential.from_config(model.get_config())
    newer.set_weights([w * 3 + 0.1 for w in model.get_weights()])
    newer.save(path)
    os.utime(path, ns=(1, 2_000_000_000_000_000_000))
    second = _ok(client.post("/api/runs/tiny.cnnlab.npz/upload", content=upload))
    assert second["probabilities"] != first["probabilities"]
    (tmp_path / "upload.png").write_bytes(upload)
    x, _ = decode_prepared(tmp_path / "upload.png", (12, 12), True)
    probs = newer.predict(scale_pixels(x[None]))[0]
    np.testing.assert_allclose([p["p"] for p in second["probabilities"]], probs, rtol=1e-5)
    _conv_model(path, units=4)  # another number of classes: refused, in one line
    os.utime(path, ns=(1, 3_000_000_000_000_000_000))
    refused = client.post("/api/runs/tiny.cnnlab.npz/upload", content=upload)
    assert refused.status_code == 400
    _one_line(refused.json()["error"], str(path), "restart the studio")


def test_show_in_jupyter_displays_the_page_in_an_iframe(tiny, monkeypatch, capsys):
    import IPython
    import IPython.display

    class Kernel:
        config = {"IPKernelApp": {"connection_file": "kernel.json"}}

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    path, _ = tiny
    handle = show(path, classes=CLASSES)
    try:
        assert len(shown) == 1 and isinstance(shown[0], IPython.display.IFrame)
        assert shown[0].src == handle.url
        assert capsys.readouterr().out == ""  # the frame, not the URL line
        assert handle.url in repr(handle) and "running" in repr(handle)
    finally:
        handle.stop()
    assert "stopped" in repr(handle)


def test_show_in_colab_has_colab_frame_the_kernels_port(tiny, monkeypatch, capsys):
    served = []
    output = types.SimpleNamespace(
        serve_kernel_port_as_iframe=lambda port, **kw: served.append((port, kw))
    )
    colab = types.ModuleType("google.colab")
    colab.output = output
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    path, _ = tiny
    handle = show(path, classes=CLASSES)
    try:
        port = int(handle.url.rsplit(":", 1)[1].strip("/"))
        assert served == [(port, {"height": 820})]
        assert capsys.readouterr().out == ""  # Colab's frame, not the URL line
        # the page comes through Colab's proxy, which names its own host: answered
        proxied = urllib.request.Request(
            handle.url + "api/runs", headers={"Host": "8000-m-s-1a2b.prod.colab.dev"}
        )
        with urllib.request.urlopen(proxied, timeout=10) as answer:
            policy = answer.headers["content-security-policy"]
            assert json.load(answer)["runs"][0]["name"] == path.name
        assert "https://*.googleusercontent.com https://colab.research.google.com" in policy
        assert "frame-ancestors 'self' http://localhost:*" in policy
    finally:
        handle.stop()
    assert not handle.running
