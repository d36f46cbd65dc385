"""Face step: BlazeFace finds real SMILEs faces in synthetic frames, aligns and crops them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from cnnlab.data import faces, prepare
from cnnlab.errors import ArgumentError

FRAME = 192  # the face (64 px) pasted at (X0, Y0) of a FRAME square, shrunk by SCALE
X0, Y0, SCALE = 70, 40, 2


@pytest.fixture(scope="module")
def real_face(smiles_dir) -> np.ndarray:
    """One real 64x64 grayscale SMILEs training crop.

    A fixed file: BlazeFace misses some faces pasted as hard-edged squares (2 of the first
    12 smiling files), and these tests are about what happens once it finds one.
    """
    path = smiles_dir / "smiling" / "1000.jpg"
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is missing")
    return np.asarray(Image.open(path).convert("L"))


def _frame(face: np.ndarray, background=(90, 140, 200), dark: float = 1.0) -> np.ndarray:
    """``face`` pasted at (X0, Y0) into a colour frame, shrunk SCALE times (RGB uint8)."""
    frame = np.empty((FRAME, FRAME, 3), np.uint8)
    frame[:] = background
    frame[Y0 : Y0 + 64, X0 : X0 + 64] = (face[:, :, None] * dark).astype(np.uint8)
    small = FRAME // SCALE
    return np.asarray(Image.fromarray(frame).resize((small, small), Image.Resampling.LANCZOS))


def _truth() -> tuple[float, float]:
    return (X0 + 32) / SCALE, (Y0 + 32) / SCALE


def _converted(face: np.ndarray) -> np.ndarray:
    return np.asarray(ImageOps.autocontrast(Image.fromarray(face), cutoff=1.0))


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_finds_a_real_face_in_a_frame_and_crops_it_like_the_training_crop(real_face):
    frame = _frame(real_face)
    face = faces.detect_face(frame)
    assert face is not None and 0.5 <= face.score <= 1
    assert np.hypot(*np.subtract(face.center, _truth())) < 3
    assert 0.8 * 32 < face.width < 1.5 * 32
    assert face.keypoints.shape == (6, 2) and abs(face.angle) < 10
    crop, found = faces.face_crop(frame, (64, 64))
    assert found and crop.shape == (64, 64, 3) and crop.dtype == np.uint8
    assert np.array_equal(crop[..., 0], crop[..., 2])
    assert _corr(crop[..., 0], _converted(real_face)) > 0.7


def test_a_rotated_face_is_measured_and_turned_upright(real_face):
    cx, cy = _truth()
    frame = np.asarray(
        Image.fromarray(_frame(real_face)).rotate(
            25, resample=Image.Resampling.BICUBIC, center=(cx, cy), fillcolor=(90, 140, 200)
        )
    )
    face = faces.detect_face(frame)
    assert face is not None
    upright = faces.detect_face(_frame(real_face))
    assert abs((face.angle - upright.angle) - (-25)) < 5  # counter-clockwise: eye line rises
    crop, found = faces.face_crop(frame, (64, 64))
    target = faces.face_crop(_frame(real_face), (64, 64))[0][..., 0]  # the upright crop
    tilted = np.asarray(Image.fromarray(target).rotate(25, resample=Image.Resampling.BICUBIC))
    assert found
    assert _corr(crop[..., 0], target) > 0.7
    assert _corr(crop[..., 0], target) > _corr(crop[..., 0], tilted) + 0.1


def test_a_backlit_face_is_found_and_stretched(real_face):
    frame = _frame(real_face, background=(245, 245, 250), dark=0.3)
    face = faces.detect_face(frame)
    assert face is not None
    assert np.hypot(*np.subtract(face.center, _truth())) < 4
    crop, found = faces.face_crop(frame, (64, 64))
    assert found and crop.mean() > 70  # the stretch lifts the dark face
    assert _corr(crop[..., 0], _converted(real_face)) > 0.7


def test_training_crops_are_found_and_kept_framed(real_face):
    face = faces.detect_face(real_face[:, :, None])
    assert face is not None
    crop, found = faces.face_crop(real_face[:, :, None], (64, 64))
    # re-levelled (its eye line) and re-framed by the calibrated median, so alike, not equal
    assert found and _corr(crop[..., 0], _converted(real_face)) > 0.55


def test_no_face_gives_the_centre_crop_and_is_counted():
    rng = np.random.default_rng(0)
    blank = np.zeros((60, 80, 3), np.uint8)
    noise = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    for image in (blank, noise):
        assert faces.detect_face(image) is None
        crop, found = faces.face_crop(image, (32, 24))
        assert not found and crop.shape == (32, 24, 3) and crop.dtype == np.uint8
    # a bright square in the middle of the short side's central fraction fills the crop
    marked = np.zeros((60, 80, 1), np.uint8)
    marked[10:50, 20:60] = 255
    crop, _ = faces.face_crop(marked, (16, 16))
    assert crop.min() == 255
    crops, found = faces.crop_faces(np.stack([blank, noise]), (16, 16), workers=1)
    assert crops.shape == (2, 16, 16, 3) and found.tolist() == [False, False]
    assert faces.no_face_message(found) == "no face found in 2 of 2 images; used a centre crop"
    assert faces.no_face_message(np.array([True, True])) is None
    assert 0 < faces.FALLBACK_FRACTION <= 1
    assert prepare.PREPROCESS[:2] == ("none", "face")
    assert prepare.STEPS["face"].one is faces.face_crop
    assert prepare.STEPS["face"].batch is faces.crop_faces


def test_one_channel_input_and_non_square_sizes(real_face):
    gray = _frame(real_face)[:, :, :1]
    crop, found = faces.face_crop(gray, (48, 40))
    assert found and crop.shape == (48, 40, 3) and crop.dtype == np.uint8


def test_crop_faces_threads_give_the_same_result(real_face):
    frame = _frame(real_face)
    batch = np.stack([frame, frame[::-1], np.zeros_like(frame), frame[:, ::-1]] * 2)
    one, found_one = faces.crop_faces(batch, (32, 32), workers=1)
    two, found_two = faces.crop_faces(batch, (32, 32), workers=2)
    assert np.array_equal(one, two) and np.array_equal(found_one, found_two)
    assert found_one[0] and found_one[3] and not found_one[2]
    missing = int((~found_one).sum())
    assert faces.no_face_message(found_one) == (
        f"no face found in {missing} of 8 images; used a centre crop"
    )


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 4), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 3), np.float32),
        np.zeros((1, 4, 4, 3), np.uint8),
    ],
)
def test_bad_images_are_refused(image):
    with pytest.raises(ArgumentError, match=r"image must be uint8 \(H, W, C\).*Received: shape="):
        faces.face_crop(image, (8, 8))
    with pytest.raises(ValueError, match="Received: shape="):
        faces.detect_face(image)


@pytest.mark.parametrize("size", [(0, 8), (8,), 8.5, (8, -1), ("a", 8), (8, True)])
def test_bad_sizes_are_refused(size):
    with pytest.raises(ArgumentError, match="size .*Received: size="):
        faces.face_crop(np.zeros((8, 8, 3), np.uint8), size)


def test_bad_batches_and_workers_are_refused():
    with pytest.raises(ArgumentError, match=r"images must be uint8 \(N, H, W, C\)"):
        faces.crop_faces(np.zeros((2, 8, 8), np.uint8), (8, 8))
    with pytest.raises(ArgumentError, match="workers"):
        faces.crop_faces(np.zeros((2, 8, 8, 3), np.uint8), (8, 8), workers=0)


def test_a_damaged_shipped_model_is_named_by_the_thread_that_opens_it(monkeypatch, tmp_path):
    """A thread with no interpreters yet builds them, and a damaged model file is one error
    naming the file (the shipped models are checked by SHA-256, cnnlab.pretrained)."""
    from concurrent.futures import ThreadPoolExecutor

    from cnnlab import pretrained
    from cnnlab.errors import ModelFileError

    bad = tmp_path / "files"
    bad.mkdir()
    for model in pretrained.MODELS.values():
        (bad / model.file).write_bytes(b"not a model")
    monkeypatch.setattr(pretrained, "FILES", bad)
    monkeypatch.setattr(pretrained, "_verified", {})
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(faces.detect_face, np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(ModelFileError, match="face_detection_short_range.tflite: the "):
            future.result()


@pytest.mark.parametrize("corner", [(8, 8), (110, 16), (60, 112)])
def test_a_small_face_off_centre_in_a_small_photo_is_found(real_face, corner):
    # A head-and-shoulders photo at 64x64: the face a third of the width, anywhere. The
    # window stage alone finds it too (it is the cascade's last resort for such faces).
    x0, y0 = corner
    frame = np.empty((FRAME, FRAME, 3), np.uint8)
    frame[:] = (200, 170, 140)
    frame[y0 : y0 + 64, x0 : x0 + 64] = real_face[:, :, None]
    photo = np.asarray(Image.fromarray(frame).resize((64, 64), Image.Resampling.LANCZOS))
    truth = ((x0 + 32) / 3, (y0 + 32) / 3)
    for face in (faces.detect_face(photo), faces._run_windows(photo)):
        assert face is not None
        assert np.hypot(*np.subtract(face.center, truth)) < 3, (face.center, truth)
    crop, found = faces.face_crop(photo, (64, 64))
    assert found and _corr(crop[..., 0], _converted(real_face)) > 0.4
