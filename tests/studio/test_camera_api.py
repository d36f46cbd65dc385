"""The live camera's route, ``POST /api/runs/{run}/frame``, through Starlette's TestClient on
the two digits runs (preprocess "none"): its numbers against ``cnnlab.training.predict_images``
and Grad-CAM on the same frame saved to a file, and the bad frames it refuses."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import interpret, plots, training
from cnnlab.data.prepare import scale_pixels
from cnnlab.engines import load_model
from cnnlab.studio.camera import MAX_FRAME
from cnnlab.training.inference import read_image
from cnnlab.training.rundata import load_data

URL = "http://127.0.0.1"
RUNS = ("digits-numpy", "digits-keras")


def _png(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))))


def _frame(digit: np.ndarray, dark_on_light: bool = False) -> bytes:
    """A 640x480 JPEG as a camera sends it: a test digit (16x16 gray) scaled up in the middle
    of a dark frame (or its negative)."""
    big = Image.fromarray(digit[:, :, 0]).resize((400, 400), Image.Resampling.BILINEAR)
    canvas = Image.new("L", (640, 480), 0)
    canvas.paste(big, (120, 40))
    arr = np.asarray(canvas)
    if dark_on_light:
        arr = 255 - arr
    buf = io.BytesIO()
    Image.fromarray(np.stack([arr] * 3, axis=-1)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _answer(client, name: str, data: bytes) -> dict:
    response = client.post(f"/api/runs/{name}/frame", content=data)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def digits(runs_dir: Path) -> np.ndarray:
    run = training.load_run(runs_dir / RUNS[0])
    return load_data(run.config, progress=False).x_test[:3]


@pytest.mark.parametrize("name", RUNS)
def test_a_frame_is_predicted_as_predict_does_its_file(client, runs_dir, digits, name, tmp_path):
    for i, digit in enumerate(digits):
        data = _frame(digit)
        path = tmp_path / f"frame{i}.jpg"
        path.write_bytes(data)
        got = _answer(client, name, data)
        top = training.predict_images(runs_dir / name, [path], top_k=10)[0]
        by_class = {p["class"]: p["p"] for p in got["probabilities"]}
        assert len(by_class) == 10
        for cls, p in top:
            assert by_class[cls] == pytest.approx(p, rel=1e-5, abs=1e-6)
        assert got["predicted"]["class"] == top[0][0]
        assert got["predicted"]["p"] == pytest.approx(top[0][1], rel=1e-5, abs=1e-6)
        crop, found = read_image(training.load_run(runs_dir / name).config, path)
        assert found and got["found"] is True and got["note"] is None
        assert got["shape"] == [16, 16, 1]
        np.testing.assert_array_equal(_png(got["crop"]).reshape(crop.shape), crop)
        assert got["ms"] > 0


def test_the_grad_cam_is_the_predicted_class_s_over_the_crop(client, runs_dir, digits, tmp_path):
    name = "digits-numpy"
    data = _frame(digits[1])
    path = tmp_path / "frame.jpg"
    path.write_bytes(data)
    got = _answer(client, name, data)
    run = training.load_run(runs_dir / name)
    crop, _ = read_image(run.config, path)
    model = load_model(run.model_path)
    x = scale_pixels(crop[None])
    layer = interpret.conv_layer_names(model)[-1]
    heat = interpret.grad_cam(model, x, got["predicted"]["index"], layer)
    assert got["grad_cam"]["layer"] == layer
    assert heat.any()  # a blank map would match any blank answer
    want = np.rint(plots.overlay(x[0], heat[0]) * 255)
    assert np.abs(_png(got["grad_cam"]["overlay"]).astype(float) - want).max() <= 1


def test_a_dark_on_light_frame_of_a_digits_run_is_inverted(client, runs_dir, digits, tmp_path):
    name = "digits-numpy"
    got = _answer(client, name, _frame(digits[0], dark_on_light=True))
    assert "inverted" in got["note"]
    path = tmp_path / "light.jpg"
    path.write_bytes(_frame(digits[0], dark_on_light=True))
    crop, _ = read_image(training.load_run(runs_dir / name).config, path)
    inverted = 255 - crop
    np.testing.assert_array_equal(_png(got["crop"]).reshape(crop.shape), inverted)
    flipped = tmp_path / "flipped.png"
    Image.fromarray(inverted[:, :, 0]).save(flipped)
    top = training.predict_images(runs_dir / name, [flipped], top_k=10)[0]
    by_class = {p["class"]: p["p"] for p in got["probabilities"]}
    for cls, p in top:
        assert by_class[cls] == pytest.approx(p, rel=1e-5, abs=1e-6)


def _refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    assert "\n" not in message and "Traceback" not in message and "cnnlab-camera-" not in message
    for word in words:
        assert word in message, message


def test_bad_frames_are_one_line_4xx(client):
    route = "/api/runs/digits-numpy/frame"
    _refused(client.post(route, content=b""), 400, "camera frame", "empty")
    _refused(client.post(route, content=b"this is not a JPEG" * 10), 400, "the camera frame")
    jpeg = _frame(np.zeros((16, 16, 1), np.uint8))
    _refused(client.post(route, content=jpeg[: len(jpeg) // 3]), 400, "the camera frame")
    _refused(client.post(route, content=b"\xff" * (MAX_FRAME + 1)), 413, f"{MAX_FRAME:,}")
    _refused(client.post("/api/runs/no-such-run/frame", content=jpeg), 404, "no-such-run")
    _refused(client.get(route), 405)
