"""Hand step: MediaPipe's landmarks on real sign photos, drawn as a canonical pose."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnlab.data import hands, prepare
from cnnlab.errors import ArgumentError


@pytest.fixture(scope="module")
def photos(signs_dir) -> np.ndarray:
    """Two photos of each of the signs 0..5 from the shared folder, 64x64 RGB uint8."""
    out = []
    for k in range(6):
        for path in sorted((signs_dir / str(k)).iterdir())[:2]:
            out.append(np.asarray(Image.open(path).convert("RGB").resize((64, 64))))
    return np.stack(out)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_finds_the_hands_of_sign_photos_and_draws_them(photos):
    pictures, found = hands.hand_poses(photos, (64, 64), workers=2)
    assert found.all()
    assert pictures.shape == (12, 64, 64, 3) and pictures.dtype == np.uint8
    for picture in pictures:
        assert picture.max() > 200  # bright bones and joints ...
        assert (picture.max(axis=2) == 0).mean() > 0.6  # ... on a black canvas
    hand = hands.detect_hand(photos[0])
    assert hand is not None and hand.presence >= hands.MIN_PRESENCE
    assert hand.world.shape == hand.image.shape == (21, 3)
    assert 0 <= hand.image[:, 0].min() and hand.image[:, 0].max() <= 64  # photo pixels


def test_one_image_and_the_batch_agree_and_the_table_holds_the_step(photos):
    step = prepare.STEPS["hand"]
    assert (step.what, step.min_side, step.version) == ("hand", 32, hands.VERSION)
    batch, found = step.batch(photos[:4], (48, 40))
    for i in range(4):
        one, ok = step.one(photos[i], (48, 40))
        assert ok == found[i] and one.shape == (48, 40, 3)
        np.testing.assert_array_equal(one, batch[i])
    ones, _ = hands.hand_poses(photos[:4], (48, 40), workers=1)
    np.testing.assert_array_equal(ones, batch)


def test_the_pose_is_levelled_and_a_left_hand_drawn_as_a_right_one(photos):
    # The same photo turned by 30 degrees, or mirrored (a right hand becomes a left one),
    # has the same canonical pose, within a tenth of the wrist -> knuckle length per
    # landmark on average; the poses of different signs lie further apart.
    def pose(image):
        hand = hands.detect_hand(image)
        assert hand is not None
        return hands.canonical_pose(hand)[:, :2]

    def apart(a, b):
        return float(np.linalg.norm(a - b, axis=1).mean())

    signs = [pose(photo) for photo in photos[[0, 2, 10]]]  # signs 0, 1 and 5
    for photo, p in zip(photos[[0, 2, 10]], signs, strict=True):
        turned = Image.fromarray(photo).rotate(
            30, Image.Resampling.BILINEAR, fillcolor=(200, 200, 200)
        )
        assert apart(p, pose(np.asarray(turned))) < 0.12
        assert apart(p, pose(np.ascontiguousarray(photo[:, ::-1]))) < 0.12
        assert min(apart(p, q) for q in signs if q is not p) > 0.25


def test_no_hand_gives_a_black_picture_and_found_false():
    for blank in (np.zeros((64, 64, 3), np.uint8), np.full((80, 60, 1), 128, np.uint8)):
        picture, found = hands.hand_pose(blank, (32, 32))
        assert not found and picture.shape == (32, 32, 3) and picture.max() == 0
    pictures, found = prepare.prepare_arrays(
        np.zeros((3, 40, 40, 3), np.uint8), (32, 32), False, "hand"
    )
    assert pictures.shape == (3, 32, 32, 3) and not found.any()


def test_too_small_sizes_and_bad_images_are_one_clear_error():
    with pytest.raises(ArgumentError, match=r"at least 32x32 pixels.*size=\(16, 16\)"):
        hands.hand_pose(np.zeros((64, 64, 3), np.uint8), (16, 16))
    with pytest.raises(ArgumentError, match="image must be uint8"):
        hands.hand_pose(np.zeros((64, 64, 3), np.float32), (32, 32))
    with pytest.raises(ArgumentError, match="images must be uint8"):
        hands.hand_poses(np.zeros((64, 64, 3), np.uint8), (32, 32))
