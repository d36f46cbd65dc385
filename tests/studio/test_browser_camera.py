"""The model explorer's live camera in a real browser: headless Chromium whose fake camera
plays a y4m clip made here (test digits, smiles and sign-language photos when ../shared/data
is there, and a frame with nothing in it), against the real ``cnnlab studio``.

The tests check that frames arrive, that the prediction on screen is the run's model's
prediction of the crop the page shows (the fake capture changes the pixels a little, so the
crop shown is the reference, and it must be one of the clip's images as the run prepares
them), that a mood run's face step and a signs run's hand step run on the frames ("no face
found", "no hand found" on the empty frame),
that the page asks for the camera only when told, at most 5 frames a second, that Stop,
leaving the explorer and choosing another run release the camera (its track's
``readyState`` is "ended"), and that a camera error is one line in the error bar.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import training
from cnnlab.data.prepare import scale_pixels
from cnnlab.engines import load_model
from cnnlab.tasks import get_task
from cnnlab.training.engines import get_engine
from cnnlab.training.inference import read_image
from cnnlab.training.rundata import load_data

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (uv sync installs the dev dependencies)"
)
from _browser import (  # noqa: E402
    Studio,
    by_testid,
    open_view,
    screenshot,
    start_chromium,
    wait_for,
    wait_for_new_answer,
)
from selenium.webdriver.support.ui import Select  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("console_is_clean")]

SMILES = Path(__file__).parents[2].parent / "shared" / "data" / "smiles"
SIGNS = Path(__file__).parents[2].parent / "shared" / "data" / "sign-language-digits"
FRAME_W, FRAME_H = 640, 480
FPS, FRAMES_EACH = 5, 8  # each picture of the clip stays 1.6 s


# ---------- the clip, the runs, the browser ----------


def _framed(image: np.ndarray, side: int = 400) -> np.ndarray:
    """A uint8 (h, w, 1 or 3) picture scaled to ``side`` in the middle of a 640x480 RGB frame."""
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    big = Image.fromarray(rgb).resize((side, side), Image.Resampling.BILINEAR)
    frame = Image.new("RGB", (FRAME_W, FRAME_H), (0, 0, 0))
    frame.paste(big, ((FRAME_W - side) // 2, (FRAME_H - side) // 2))
    return np.asarray(frame)


def _write_y4m(frames: list[np.ndarray], path: Path) -> None:
    """Raw 4:2:0 frames in BT.601's studio range (Y 16..235, Cb and Cr 16..240), what
    Chromium's --use-file-for-fake-video-capture reads."""

    def studio(plane: Image.Image, low: int, span: int, size) -> bytes:
        full = np.asarray(plane.resize(size, Image.Resampling.BOX), dtype=np.float64)
        if low == 16 and span == 224:  # chroma: around 128
            return np.rint(128 + (full - 128) * span / 255).astype(np.uint8).tobytes()
        return np.rint(low + full * span / 255).astype(np.uint8).tobytes()

    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{FRAME_W} H{FRAME_H} F{FPS}:1 Ip A1:1 C420mpeg2\n".encode())
        for rgb in frames:
            y, cb, cr = Image.fromarray(rgb).convert("YCbCr").split()
            half = (FRAME_W // 2, FRAME_H // 2)
            planes = studio(y, 16, 219, (FRAME_W, FRAME_H))
            planes += studio(cb, 16, 224, half) + studio(cr, 16, 224, half)
            for _ in range(FRAMES_EACH):
                out.write(b"FRAME\n" + planes)


def _smiles_photos() -> list[Path] | None:
    """A few hundred smiles training photos (and the two of the clip), or None without them."""
    if (SMILES / "smiling").is_dir() and (SMILES / "not_smiling").is_dir():
        return sorted((SMILES / "smiling").glob("*.jpg")), sorted(
            (SMILES / "not_smiling").glob("*.jpg")
        )
    if os.environ.get("CI"):
        pytest.fail(f"{SMILES} is missing (CI is set, where the shared data must be present)")
    return None


def _signs_photos() -> list[list[Path]] | None:
    """The sign-language photos, by class (0-9), or None without them."""
    if all((SIGNS / str(k)).is_dir() for k in range(10)):
        return [sorted((SIGNS / str(k)).glob("*.[jJ][pP][gG]")) for k in range(10)]
    if os.environ.get("CI"):
        pytest.fail(f"{SIGNS} is missing (CI is set, where the shared data must be present)")
    return None


def _tiny_run(out: Path, **config) -> None:
    """Train the course model with the NumPy engine: 1 epoch, batches of 32, seed 1, unless
    ``config`` says otherwise."""
    defaults = dict(model="course", engine="numpy", epochs=1, batch_size=32, seed=1)
    cfg = training.TrainConfig(**{**defaults, **config, "out": str(out)})
    training.train(cfg, progress=False, log=lambda line: None)


@pytest.fixture(scope="module")
def camera_runs(runs_dir: Path, tmp_path_factory) -> Path:
    """A runs folder with the two digits runs, ``digits-sure`` (the same model trained 10
    epochs: sure enough of its digits for the screenshot; about 15 s) and, when the smiles
    photos are there, a tiny mood run (course model, 1 epoch, the face step) trained on 300
    of them."""
    root = tmp_path_factory.mktemp("camera-runs")
    shutil.copytree(runs_dir / "digits-numpy", root / "digits-numpy")
    shutil.copytree(runs_dir / "digits-keras", root / "digits-keras")
    _tiny_run(root / "digits-sure", task="signs", data="digits", epochs=10, learning_rate=0.01)
    photos = _smiles_photos()
    if photos is not None:
        data = tmp_path_factory.mktemp("smiles-small")
        rng, seen = random.Random(0), set()
        for cls, files in zip(("smiling", "not_smiling"), photos, strict=True):
            (data / cls).mkdir()
            for path in rng.sample(files[2:], 150):  # the first two are the clip's
                digest = hashlib.sha256(path.read_bytes()).digest()
                if digest not in seen:  # the set has a few photos in both classes
                    seen.add(digest)
                    shutil.copy(path, data / cls / path.name)
        _tiny_run(root / "mood-face", task="mood", data=str(data), preprocess="face")
    signs = _signs_photos()
    if signs is not None:  # a tiny hand-step run: 8 photos a class, the clip's two left out
        data = tmp_path_factory.mktemp("signs-small")
        for k, files in enumerate(signs):
            (data / str(k)).mkdir()
            for path in files[1 : 1 + 8]:
                shutil.copy(path, data / str(k) / path.name)
        _tiny_run(
            root / "signs-hand", task="signs", data=str(data), batch_size=16, preprocess="hand"
        )
    return root


@pytest.fixture(scope="module")
def clip(camera_runs: Path, tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """The y4m clip, its pictures (640x480 RGB: four test digits, two smiles photos when the
    shared data is there, and an empty gray frame) and the digits' labels."""
    run = training.load_run(camera_runs / "digits-numpy")
    ds = load_data(run.config, progress=False)
    pictures = [_framed(d, FRAME_H) for d in ds.x_test[:4]]
    labels = [run.class_names[int(k)] for k in ds.y_test[:4]]
    photos = _smiles_photos()
    if photos is not None:
        for files in photos:
            face = np.asarray(Image.open(files[0]).convert("RGB"))
            pictures.append(_framed(face, 420))
    signs = _signs_photos()
    if signs is not None:
        for files in (signs[2], signs[5]):
            hand = np.asarray(Image.open(files[0]).convert("RGB"))
            pictures.append(_framed(hand, FRAME_H))
    pictures.append(np.full((FRAME_H, FRAME_W, 3), 110, np.uint8))
    path = tmp_path_factory.mktemp("clip") / "camera.y4m"
    _write_y4m(pictures, path)
    return path, pictures, labels


@pytest.fixture(scope="module")
def studio(camera_runs: Path, browser_paths) -> str:
    server = Studio(camera_runs)
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def driver(browser_paths, clip, tmp_path_factory):
    """Chromium as conftest.py starts it, with a fake camera that plays ``clip`` and grants
    the page's request for it without asking."""
    browser = start_chromium(
        browser_paths,
        tmp_path_factory.mktemp("chromium-camera-profile"),
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip[0]}",
    )
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_ASKS})
    yield browser
    browser.quit()


COUNT_ASKS = """window.cameraAsks = 0;
if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => {
    window.cameraAsks += 1;
    return ask(constraints);
  };
}"""
"""Counts the page's requests for the camera (run in every page before its own scripts)."""


# ---------- helpers ----------

SHOWN = """const panel = document.querySelector('[data-testid="camera"]');
const p = document.querySelector('[data-testid="camera-predicted"]');
const note = document.querySelector('[data-testid="camera-note"]');
return {frames: +panel.dataset.frames, live: panel.dataset.live, hidden: panel.hidden,
        found: panel.dataset.found, crop: document.querySelector('[data-testid="camera-crop"]').src,
        cam: document.querySelector('[data-testid="camera-cam"]').src,
        cls: p.dataset.class, p: +p.dataset.p, note: note.hidden ? null : note.textContent};"""


def _shown(driver) -> dict:
    """What the camera panel shows, read in one go (one answer's crop and prediction)."""
    return driver.execute_script(SHOWN)


def _crop(url: str, shape) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))).reshape(shape)


def _start(driver, studio: str, run: str) -> None:
    open_view(driver, studio, "explorer")
    if by_testid(driver, "explore-run").get_attribute("value") != run:
        Select(by_testid(driver, "explore-run")).select_by_value(run)
    wait_for(
        lambda: by_testid(driver, "explore-result").get_attribute("data-busy") == "false",
        "the explorer's first answer",
    )
    assert by_testid(driver, "camera").get_attribute("hidden") is not None
    assert driver.execute_script("return window.cameraAsks") == 0  # nothing before it is asked
    by_testid(driver, "camera-start").click()
    wait_for(lambda: _shown(driver)["frames"] >= 1, "the first camera frame's answer")


def _model_says(camera_runs: Path, run_name: str, crop: np.ndarray) -> list[tuple[int, float]]:
    run = training.load_run(camera_runs / run_name)
    model = load_model(run.model_path)
    probs = get_engine("numpy").predict(model, scale_pixels(crop[None]), 1)
    return get_task(run.config.task).top_k(probs, len(run.class_names))[0]


def _track(driver) -> None:
    """Keep the live video's track where the page cannot drop it (to read it after Stop)."""
    live = driver.execute_script(
        """const v = document.querySelector('[data-testid="camera-video"]');
        window.cameraTrack = v.srcObject.getVideoTracks()[0];
        return window.cameraTrack.readyState;"""
    )
    assert live == "live"


def _released(driver) -> bool:
    return driver.execute_script("return window.cameraTrack.readyState") == "ended"


# ---------- the tests ----------


def test_camera_frames_are_predicted_by_the_run_s_model(driver, studio, camera_runs, clip, shots):
    name = "digits-sure"
    cfg = training.load_run(camera_runs / name).config
    clip_crops = []
    for k, picture in enumerate(clip[1]):
        path = camera_runs.parent / f"picture{k}.png"
        left = (FRAME_W - FRAME_H) // 2  # the page sends the video's centre square
        Image.fromarray(picture[:, left : left + FRAME_H]).save(path)
        clip_crops.append(read_image(cfg, path)[0].astype(float))
    _start(driver, studio, name)
    wait_for(lambda: _shown(driver)["frames"] >= 4, "four camera frames' answers")
    classes = set()
    for _ in range(4):
        before = _shown(driver)["frames"]
        wait_for(lambda b=before: _shown(driver)["frames"] > b, "the next frame's answer")
        shown = _shown(driver)
        crop = _crop(shown["crop"], (16, 16, 1))
        # the crop is one of the clip's pictures, as the run prepares it (the fake capture's
        # YCbCr round trip moves a pixel by a few levels at most)
        nearest = min(np.abs(crop - c).mean() for c in clip_crops)
        assert nearest < 2, nearest
        print(f"frame {shown['frames']}: {shown['cls']} {shown['p']:.3f}, off by {nearest:.2f}")
        (best, p), *_ = _model_says(camera_runs, name, crop)
        run = training.load_run(camera_runs / name)
        assert shown["cls"] == run.class_names[best]
        assert shown["p"] == pytest.approx(p, rel=1e-5, abs=1e-6)
        assert shown["cam"].startswith("data:image/png;base64,")
        classes.add(shown["cls"])
    rate = by_testid(driver, "camera-rate").text
    assert "ms from grab to answer" in rate, rate
    assert driver.execute_script("return window.cameraAsks") == 1
    before = _shown(driver)["frames"]
    driver.execute_script("return new Promise(r => setTimeout(r, 3000))")
    sent = _shown(driver)["frames"] - before
    assert 1 <= sent <= 16, sent  # at most 5 a second

    def sure_and_right():
        shown = _shown(driver)
        crop = _crop(shown["crop"], (16, 16, 1))
        k = int(np.argmin([np.abs(crop - c).mean() for c in clip_crops]))
        return k < len(clip[2]) and shown["cls"] == clip[2][k] and shown["p"] > 0.9

    wait_for(sure_and_right, "a frame of a digit the run is sure of, and right about")
    # for the figure, hold the video on that frame until an answer for it is drawn
    frames = driver.execute_script(
        "document.querySelector('[data-testid=\"camera-video\"]').pause();" + SHOWN
    )["frames"]
    wait_for(lambda: _shown(driver)["frames"] > frames + 1, "an answer for the held frame")
    screenshot(driver, shots, "camera")  # the whole page: a figure is at least 600 px a side
    driver.execute_script("document.querySelector('[data-testid=\"camera-video\"]').play()")
    _track(driver)
    by_testid(driver, "camera-stop").click()
    wait_for(lambda: _released(driver), "the camera's track to end after Stop")
    shown = _shown(driver)
    assert shown["hidden"] and shown["live"] == "false"
    frames = shown["frames"]
    driver.execute_script("return new Promise(r => setTimeout(r, 800))")
    assert _shown(driver)["frames"] == frames  # nothing is sent after Stop


def test_leaving_the_explorer_or_choosing_another_run_releases_the_camera(driver, studio):
    _start(driver, studio, "digits-numpy")
    _track(driver)
    driver.execute_script("location.hash = '#runs'")
    wait_for(lambda: _released(driver), "the camera's track to end on leaving the explorer")
    _start(driver, studio, "digits-numpy")
    _track(driver)
    Select(by_testid(driver, "explore-run")).select_by_value("digits-keras")
    wait_for(lambda: _released(driver), "the camera's track to end on choosing another run")
    assert _shown(driver)["hidden"]


def test_a_camera_error_is_one_line_in_the_error_bar(driver, studio):
    open_view(driver, studio, "explorer")
    # The explorer's first answer (a POST that succeeds clears the error bar) before the camera.
    result = by_testid(driver, "explore-result")
    wait_for_new_answer(result, None, "the explorer's first answer")
    for name, words in (
        ("NotAllowedError", "camera: access was denied"),
        ("NotFoundError", "camera: no camera was found"),
    ):
        driver.execute_script(
            """const name = arguments[0];
            navigator.mediaDevices.getUserMedia = () =>
                Promise.reject(new DOMException("refused by the test", name));""",
            name,
        )
        by_testid(driver, "camera-start").click()
        wait_for(lambda w=words: w in by_testid(driver, "message-text").text, f"the {name} line")
        text = by_testid(driver, "message-text").text
        assert "\n" not in text
        assert by_testid(driver, "message").get_attribute("data-kind") == "error"
        assert by_testid(driver, "camera").get_attribute("hidden") is not None


def test_a_mood_run_s_face_step_runs_on_camera_frames(driver, studio, camera_runs, shots):
    if not (camera_runs / "mood-face").is_dir():
        pytest.skip(f"needs the smiles photos in {SMILES} (the shared data) for a mood run")
    name = "mood-face"
    _start(driver, studio, name)
    wait_for(lambda: _shown(driver)["found"] == "true", "a frame where the face step finds a face")
    shown = _shown(driver)
    screenshot(driver, shots[:1], "camera-mood", by_testid(driver, "camera"))  # never for the docs:
    # the smiles photos may not be redistributed (../shared/data/smiles/README.md)
    crop = _crop(shown["crop"], (64, 64, 3))
    (best, p), *_ = _model_says(camera_runs, name, crop)
    assert shown["cls"] == training.load_run(camera_runs / name).class_names[best]
    assert shown["p"] == pytest.approx(p, rel=1e-5, abs=1e-6)
    assert shown["note"] is None
    wait_for(lambda: _shown(driver)["found"] == "false", "a frame with no face (the gray one)")
    assert _shown(driver)["note"] == "no face found"
    by_testid(driver, "camera-stop").click()


def test_a_signs_run_s_hand_step_runs_on_camera_frames(driver, studio, camera_runs, shots):
    if not (camera_runs / "signs-hand").is_dir():
        pytest.skip(f"needs the sign-language photos in {SIGNS} (the shared data)")
    name = "signs-hand"
    _start(driver, studio, name)
    wait_for(lambda: _shown(driver)["found"] == "true", "a frame where the hand step finds a hand")
    shown = _shown(driver)
    crop = _crop(shown["crop"], (64, 64, 3))  # the hand's pose drawn on black, as in training
    assert crop[0, 0].tolist() == [0, 0, 0] and crop.max() > 100
    screenshot(driver, shots[:1], "camera-hand", by_testid(driver, "camera"))  # a test artefact
    (best, p), *_ = _model_says(camera_runs, name, crop)
    assert shown["cls"] == training.load_run(camera_runs / name).class_names[best]
    assert shown["p"] == pytest.approx(p, rel=1e-5, abs=1e-6)
    assert shown["note"] is None
    wait_for(lambda: _shown(driver)["found"] == "false", "a frame with no hand (the gray one)")
    assert _shown(driver)["note"] == "no hand found"
    by_testid(driver, "camera-stop").click()
