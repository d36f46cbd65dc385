"""cnnlab.data.augment: the geometry, colour, blur and resolution it claims, measured.

Angles, sizes and positions are measured on synthetic images (a bright bar, a square,
a blob), colour changes from channel statistics, blur from high-frequency energy.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnlab.data.shifts as shifts_mod
import cnnlab.data.transforms as transforms_mod
from cnnlab.data.augment import PRESETS, AugmentSpec, augment_batch, spec_for
from cnnlab.data.shifts import SHIFTS, shift_images
from cnnlab.data.transforms import adjust_color, affine, downscale, gaussian_blur
from cnnlab.errors import ArgumentError

S = 64


# ------------------------------------------------------------------ synthetic images


def bar_images(n: int = 1, c: int = 1, length: float = 40.0) -> np.ndarray:
    """A soft horizontal bar through the centre on black: orientation 0 degrees."""
    yy, xx = np.mgrid[0:S, 0:S].astype(float)
    cy = cx = (S - 1) / 2
    along = np.clip(1.0 - np.maximum(np.abs(xx - cx) - length / 2, 0), 0, 1)
    across = np.exp(-0.5 * ((yy - cy) / 1.5) ** 2)
    img = np.rint(255 * along * across).astype(np.uint8)
    return np.repeat(np.repeat(img[None, :, :, None], c, axis=3), n, axis=0)


def orientation(img: np.ndarray) -> float:
    """Degrees counter-clockwise (as displayed) of the main axis of the bright mass."""
    m = img.astype(float).mean(axis=-1)
    rows, cols = np.indices(m.shape)
    w = m / m.sum()
    x, y = cols, -rows  # y up
    mx, my = (w * x).sum(), (w * y).sum()
    mu20 = (w * (x - mx) ** 2).sum()
    mu02 = (w * (y - my) ** 2).sum()
    mu11 = (w * (x - mx) * (y - my)).sum()
    return float(np.degrees(0.5 * np.arctan2(2 * mu11, mu20 - mu02)))


def square_images(side: int = 30, n: int = 1, c: int = 1) -> np.ndarray:
    x = np.zeros((n, S, S, c), np.uint8)
    lo = (S - side) // 2
    x[:, lo : lo + side, lo : lo + side] = 255
    return x


def extent(img: np.ndarray) -> tuple[int, int]:
    """(height, width) of the bright part (rows/columns with a pixel above half)."""
    m = img.max(axis=-1) > 127
    return int(m.any(axis=1).sum()), int(m.any(axis=0).sum())


def centroid(img: np.ndarray) -> np.ndarray:
    m = img.astype(float).mean(axis=-1)
    rows, cols = np.indices(m.shape)
    return np.array([(rows * m).sum(), (cols * m).sum()]) / m.sum()


def blob_images(n: int = 1, c: int = 1) -> np.ndarray:
    yy, xx = np.mgrid[0:S, 0:S].astype(float)
    g = 255 * np.exp(-0.5 * (((yy - 31.5) / 4) ** 2 + ((xx - 31.5) / 4) ** 2))
    return np.repeat(np.repeat(np.rint(g).astype(np.uint8)[None, ..., None], c, 3), n, 0)


def noise_images(n: int = 4, c: int = 3, lo: int = 0, hi: int = 256, seed: int = 0):
    return np.random.default_rng(seed).integers(lo, hi, (n, S, S, c), dtype=np.uint8)


def checkerboard(n: int = 1, c: int = 1) -> np.ndarray:
    board = (np.indices((S, S)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return np.repeat(np.repeat(board[None, ..., None], c, 3), n, 0)


def hf_energy(x: np.ndarray) -> float:
    """Mean squared difference of horizontal and vertical neighbours."""
    f = x.astype(float)
    return float((np.diff(f, axis=1) ** 2).mean() + (np.diff(f, axis=2) ** 2).mean())


# ------------------------------------------------------------------------ geometry


@pytest.mark.parametrize("angle", [-40.0, -12.5, 0.0, 20.0, 35.0])
def test_affine_rotates_by_the_angle_counter_clockwise(angle):
    out = affine(bar_images(), angle=[angle], scale=[1.0], shift=[[0.0, 0.0]])
    assert abs(orientation(out[0]) - angle) < 1.0


def test_affine_rotation_direction_moves_the_right_end_up():
    x = np.zeros((1, 9, 9, 1), np.uint8)
    x[0, 4, 8] = 255  # right of the centre
    out = affine(x, angle=90.0, scale=1.0, shift=(0.0, 0.0), fill="constant")
    assert out[0, 0, 4, 0] == 255 and out.sum() == 255  # now above the centre


def test_augment_batch_rotation_angles_lie_within_the_range():
    r = 25.0
    x = bar_images(n=40)
    out = augment_batch(x, AugmentSpec(rotation=r), np.random.default_rng(3))
    angles = np.array([orientation(img) for img in out])
    assert np.all(np.abs(angles) <= r + 1.0)
    assert angles.min() < -r / 2 and angles.max() > r / 2  # the whole range is used


def test_augment_batch_rotation_angles_are_the_documented_draws():
    """Angle = rotation * (2u - 1) with u the first of 16 uniform draws per image."""
    r, n = 30.0, 12
    out = augment_batch(bar_images(n=n), AugmentSpec(rotation=r), np.random.default_rng(5))
    expected = r * (2 * np.random.default_rng(5).random((n, 16))[:, 0] - 1)
    measured = np.array([orientation(img) for img in out])
    np.testing.assert_allclose(measured, expected, atol=1.0)


@pytest.mark.parametrize("fill", ["nearest", "reflect", "constant"])
def test_zoom_out_by_0_6_shrinks_a_square_to_0_6(fill):
    out = affine(square_images(30), angle=0.0, scale=0.6, shift=(0.0, 0.0), fill=fill)
    h, w = extent(out[0, 8:-8, 8:-8])  # "reflect" brings mirrored copies in at the border
    assert abs(h - 18) <= 1 and abs(w - 18) <= 1


def test_zoom_in_enlarges():
    out = affine(square_images(20), angle=0.0, scale=1.5, shift=(0.0, 0.0))
    assert abs(extent(out[0])[1] - 30) <= 1


def test_translate_moves_the_centroid_by_the_fraction():
    x = blob_images()
    out = affine(x, angle=0.0, scale=1.0, shift=[[0.1, -0.2]], fill="constant")
    moved = centroid(out[0]) - centroid(x[0])
    np.testing.assert_allclose(moved, [0.1 * S, -0.2 * S], atol=0.3)


def test_flip_mirrors_left_right():
    x = noise_images(3)
    out = affine(x, 0.0, 1.0, (0.0, 0.0), flip=[True, False, True])
    np.testing.assert_array_equal(out[0], x[0, :, ::-1])
    np.testing.assert_array_equal(out[1], x[1])
    np.testing.assert_array_equal(out[2], x[2, :, ::-1])


@pytest.mark.parametrize("fill", ["nearest", "reflect", "constant"])
@pytest.mark.parametrize("c", [1, 3])
def test_identity_parameters_return_the_input(fill, c):
    x = noise_images(3, c=c)
    np.testing.assert_array_equal(affine(x, 0.0, 1.0, (0.0, 0.0), fill=fill), x)
    np.testing.assert_array_equal(adjust_color(x, 1.0, 1.0, 1.0, 0.0, np.ones((3, 3))), x)
    np.testing.assert_array_equal(gaussian_blur(x, 0.0), x)
    np.testing.assert_array_equal(downscale(x, S), x)
    y = augment_batch(x, AugmentSpec(), np.random.default_rng(0))
    np.testing.assert_array_equal(y, x)
    assert y is not x


def test_fill_modes_differ_where_the_border_is_exposed():
    x = noise_images(1, c=3, lo=50, hi=200)
    outs = {f: affine(x, 0.0, 0.5, (0.0, 0.0), fill=f)[0] for f in ("nearest", "reflect")}
    const = affine(x, 0.0, 0.5, (0.0, 0.0), fill="constant")[0]
    assert const[0, 0].max() == 0  # corner: black
    np.testing.assert_array_equal(outs["nearest"][0, 0], x[0, 0, 0])  # corner pixel replicated
    assert not np.array_equal(outs["nearest"], outs["reflect"])


def test_float_input_gives_float32_and_matches_uint8():
    x = noise_images(2)
    a = affine(x.astype(np.float32), [10.0, -5.0], [0.9, 1.1], [[0.05, 0.0], [0.0, -0.05]])
    b = affine(x, [10.0, -5.0], [0.9, 1.1], [[0.05, 0.0], [0.0, -0.05]])
    assert a.dtype == np.float32
    assert np.abs(np.rint(a) - b).max() <= 1


# -------------------------------------------------------------------------- colour


def test_brightness_scales_the_mean():
    x = noise_images(2, lo=60, hi=160)
    out = adjust_color(x, brightness=[1.3, 0.7])
    ratio = out.reshape(2, -1).mean(1) / x.reshape(2, -1).mean(1)
    np.testing.assert_allclose(ratio, [1.3, 0.7], rtol=0.01)


def test_contrast_scales_the_std_about_the_mean():
    x = noise_images(2, lo=90, hi=170)
    out = adjust_color(x, contrast=[1.4, 0.5]).reshape(2, -1).astype(float)
    flat = x.reshape(2, -1).astype(float)
    np.testing.assert_allclose(out.std(1) / flat.std(1), [1.4, 0.5], rtol=0.02)
    np.testing.assert_allclose(out.mean(1), flat.mean(1), atol=0.6)


def test_hue_and_gains_change_the_channel_balance_of_rgb():
    x = np.zeros((1, S, S, 3), np.uint8)
    x[..., 0], x[..., 1], x[..., 2] = 200, 100, 60  # orange
    hue = adjust_color(x, hue=[1 / 3]).reshape(-1, 3).mean(0)
    assert hue[1] > 150 and hue[0] < 120  # a third of the circle: red -> green
    gains = adjust_color(x, gains=[[1.2, 1.0, 0.5]]).reshape(-1, 3).mean(0)
    np.testing.assert_allclose(gains, [240, 100, 30], atol=1)
    sat = adjust_color(x, saturation=[0.0]).reshape(-1, 3).mean(0)
    assert np.ptp(sat) <= 1  # saturation 0: gray


def test_gray_images_stay_gray():
    gray1 = noise_images(2, c=1)
    kwargs = dict(saturation=[1.5, 0.2], hue=[0.3, -0.2], gains=[[1.2, 1.0, 0.8]] * 2)
    np.testing.assert_array_equal(adjust_color(gray1, **kwargs), gray1)  # ignored for C=1
    gray3 = np.repeat(gray1, 3, axis=3)
    out = adjust_color(gray3, saturation=[1.5, 0.2], hue=[0.3, -0.2]).astype(int)
    assert np.abs(out - out[..., :1]).max() <= 1  # R = G = B still
    np.testing.assert_allclose(out[..., 0], gray1[..., 0], atol=1)


# --------------------------------------------------------------- blur, resolution


def test_blur_lowers_high_frequency_energy():
    x = noise_images(3, c=3)
    out = gaussian_blur(x, [0.5, 1.0, 2.0])
    energies = [hf_energy(out[i : i + 1]) for i in range(3)]
    assert energies[0] < 0.6 * hf_energy(x[:1])
    assert energies[0] > energies[1] > energies[2]
    np.testing.assert_allclose(out.reshape(3, -1).mean(1), x.reshape(3, -1).mean(1), atol=1)


def test_downscale_to_32_flattens_a_one_pixel_checkerboard():
    out = downscale(checkerboard(2, c=3), 32)
    assert out.min() >= 127 and out.max() <= 128


def test_downscale_keeps_low_frequencies():
    ramp = np.tile(np.linspace(0, 255, S), (S, 1))
    x = np.rint(ramp).astype(np.uint8)[None, ..., None]
    out = downscale(x, 32).astype(int)
    assert np.abs(out - x)[:, :, 2:-2].max() <= 2  # a smooth ramp survives (edges aside)


def test_downscale_per_image_sides():
    x = checkerboard(3)
    out = downscale(x, [64, 32, 20])
    np.testing.assert_array_equal(out[0], x[0])
    assert out[1].std() < 1 and hf_energy(out[2:]) < 0.1 * hf_energy(x[2:])


# ---------------------------------------------------------------------- shifts


@pytest.mark.parametrize("kind", SHIFTS)
@pytest.mark.parametrize("c", [1, 3])
def test_shift_images_change_keep_shape_and_are_deterministic(kind, c):
    x = noise_images(6, c=c, lo=40, hi=220) if kind != "lowres" else checkerboard(6, c)
    if kind in ("rotate", "zoom_out"):
        x = np.concatenate([bar_images(3, c), square_images(24, 3, c)])
    a = shift_images(x, kind, seed=1)
    assert a.shape == x.shape and a.dtype == np.uint8
    assert np.abs(a.astype(int) - x).mean() > 5
    np.testing.assert_array_equal(shift_images(x, kind, seed=1), a)
    if kind in ("rotate", "recolor", "frame"):
        assert not np.array_equal(shift_images(x, kind, seed=2), a)


@pytest.mark.parametrize("kind", ["recolor", "frame"])
def test_shift_images_do_not_depend_on_chunking(monkeypatch, kind):
    x = noise_images(7, lo=40, hi=220)
    whole = shift_images(x, kind, seed=3)
    monkeypatch.setattr(transforms_mod, "CHUNK_PIXELS", S * S * 2)
    np.testing.assert_array_equal(shift_images(x, kind, seed=3), whole)
    monkeypatch.setattr(shifts_mod, "_SHIFT_BLOCK_PIXELS", S * S * 2)  # the seed's meaning changes
    assert not np.array_equal(shift_images(x, kind, seed=3), whole)


def test_shift_rotate_is_exactly_30_degrees_either_way():
    angles = np.array([orientation(img) for img in shift_images(bar_images(16), "rotate")])
    np.testing.assert_allclose(np.abs(angles), 30.0, atol=1.0)
    assert (angles > 0).any() and (angles < 0).any()


def test_shift_zoom_out_shrinks_to_60_percent():
    h, w = extent(shift_images(square_images(40), "zoom_out")[0])
    assert abs(h - 24) <= 1 and abs(w - 24) <= 1


def test_shift_frame_makes_the_content_a_third_of_the_width():
    black, white = np.zeros((8, S, S, 3), np.uint8), np.full((8, S, S, 3), 255, np.uint8)
    a, b = shift_images(black, "frame", seed=4), shift_images(white, "frame", seed=4)
    differs = (a != b).any(axis=-1)  # where the content is: same background, same place
    for m in differs:
        assert abs(m.any(axis=0).sum() - S / 3) <= 1.5 and abs(m.any(axis=1).sum() - S / 3) <= 1.5
    outside = ~differs
    assert a[outside].std() > 5  # a real background, not a blank
    tops = [np.flatnonzero(m.any(axis=1))[0] for m in differs]
    assert len(set(tops)) > 1  # placed at random


def test_shift_recolor_gray_and_rgb_stay_plausible():
    x = noise_images(20, c=3, lo=60, hi=200)
    out = shift_images(x, "recolor", seed=0).reshape(20, -1, 3).astype(float)
    ratio = out.mean(1) / x.reshape(20, -1, 3).mean(1)
    assert np.ptp(ratio, axis=1).mean() > 0.1  # a colour cast
    assert 0 < out.mean() < 255 and (out == 255).mean() < 0.3  # not washed out
    g = shift_images(noise_images(4, c=1, lo=60, hi=200), "recolor")
    assert g.shape == (4, S, S, 1)


# --------------------------------------------------------------- augment_batch


def test_augment_batch_is_deterministic_and_draws_per_image():
    x = np.repeat(noise_images(1), 6, axis=0)
    copy = x.copy()
    spec = spec_for("signs")
    r1, r2 = np.random.default_rng(11), np.random.default_rng(11)
    a, b = augment_batch(x, spec, r1), augment_batch(x, spec, r2)
    np.testing.assert_array_equal(a, b)
    assert r1.random() == r2.random()
    np.testing.assert_array_equal(x, copy)  # input untouched
    for i in range(1, 6):
        assert not np.array_equal(a[0], a[i])  # each image its own parameters
    other = augment_batch(x, spec, np.random.default_rng(12))
    assert not np.array_equal(other, a)  # another seed, other draws


def test_augment_batch_consumes_a_fixed_amount_of_the_generator():
    x = noise_images(5)
    r1, r2 = np.random.default_rng(0), np.random.default_rng(0)
    augment_batch(x, AugmentSpec(), r1)
    augment_batch(x, spec_for("signs"), r2)
    assert r1.bit_generator.state == r2.bit_generator.state


def test_augment_batch_does_not_depend_on_chunking(monkeypatch):
    x = noise_images(7)
    whole = augment_batch(x, spec_for("signs"), np.random.default_rng(2))
    monkeypatch.setattr(transforms_mod, "CHUNK_PIXELS", S * S * 2)  # 2 images a chunk
    np.testing.assert_array_equal(
        augment_batch(x, spec_for("signs"), np.random.default_rng(2)), whole
    )


@pytest.mark.parametrize("c, task", [(1, "mood"), (3, "signs"), (1, "signs"), (3, "mood")])
def test_augment_batch_channels(c, task):
    x = noise_images(4, c=c, lo=30, hi=220)
    out = augment_batch(x, spec_for(task), np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.uint8
    assert not np.array_equal(out, x)


def test_downscale_range_is_drawn_between_its_smallest_and_largest_fraction():
    x = noise_images(6, c=1, lo=30, hi=220)
    # smallest == largest: every image goes to exactly a quarter of the side and back
    out = augment_batch(x, AugmentSpec(downscale=(1.0, 0.25, 0.25)), np.random.default_rng(0))
    np.testing.assert_array_equal(out, downscale(x, S // 4))
    assert AugmentSpec(downscale=(0.5, 0.3)).downscale == (0.5, 0.3, 1.0)
    # the mood preset sends three images in four to 12-28 px of a 64 px face crop
    p, low, high = PRESETS["mood"].downscale
    assert p == 0.75 and round(low * 64) == 12 and round(high * 64) == 28


def test_presets_match_the_brief():
    signs, mood = PRESETS["signs"], PRESETS["mood"]
    assert signs.rotation >= 40 and signs.zoom == (0.55, 1.15) and not signs.flip
    assert signs.downscale[1] <= 0.45 and signs.hue > 0 and signs.white_balance > 0
    assert mood.flip and mood.saturation == mood.hue == mood.white_balance == 0
    assert spec_for("signs") is signs


def _load(folder, pattern, n, mode):
    from PIL import Image

    files = sorted(folder.rglob(pattern))[:: max(1, len(list(folder.rglob(pattern))) // n)][:n]
    return np.stack(
        [np.asarray(Image.open(f).convert(mode).resize((S, S))).reshape(S, S, -1) for f in files]
    )


@pytest.mark.slow
def test_presets_on_real_images_keep_the_uint8_range(signs_dir, smiles_dir):
    for x, task in (
        (_load(signs_dir, "*.[jJ][pP]*[gG]", 40, "RGB"), "signs"),
        (_load(smiles_dir, "*.[jJ][pP]*[gG]", 40, "L"), "mood"),
    ):
        out = augment_batch(x, spec_for(task), np.random.default_rng(0))
        assert out.dtype == np.uint8 and out.shape == x.shape
        # the range is used, not crushed or blown out
        assert out.min() < 40 < 215 < out.max()
        assert ((out == 0) | (out == 255)).mean() < 0.05
        assert abs(float(out.mean()) - float(x.mean())) < 30


# ---------------------------------------------------------------------- errors


def test_bad_kind_message_lists_the_kinds():
    with pytest.raises(ArgumentError) as info:
        shift_images(noise_images(1), "tilt")
    assert str(info.value) == (
        "kind must be one of rotate, zoom_out, recolor, lowres, frame. Received: kind='tilt'"
    )
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: AugmentSpec(rotation=-5),
            r"rotation must be between 0.0 and 360.0\. Received: rotation=-5",
        ),
        (lambda: AugmentSpec(zoom=(1.2, 0.8)), r"zoom must be increasing .* zoom=\(1.2, 0.8\)"),
        (lambda: AugmentSpec(zoom=(0.0, 1.0)), r"zoom must be positive"),
        (lambda: AugmentSpec(zoom=0.5), r"zoom must be a pair"),
        (
            lambda: AugmentSpec(fill="wrap"),
            r"fill must be one of nearest, reflect, constant\. Received: fill='wrap'",
        ),
        (lambda: AugmentSpec(brightness=1.5), r"brightness must be between"),
        (lambda: AugmentSpec(downscale=(0.5, 0.0)), r"downscale must be"),
        (
            lambda: AugmentSpec(downscale=(0.5, 0.5, 0.3)),
            r"largest fraction, at least the smallest.* Received: downscale=\(0.5, 0.5, 0.3\)",
        ),
        (lambda: AugmentSpec(flip="yes"), r"flip must be True or False"),
        (lambda: spec_for("cats"), r"one of signs, mood, hand\. Received: task='cats'"),
        (
            lambda: augment_batch(
                noise_images(1).astype(np.float32), AugmentSpec(), np.random.default_rng()
            ),
            r"x must be uint8 .* x.dtype=float32",
        ),
        (
            lambda: augment_batch(noise_images(1)[0], AugmentSpec(), np.random.default_rng()),
            r"x must have shape \(N, H, W, C\) .* x.shape=\(64, 64, 3\)",
        ),
        (
            lambda: augment_batch(
                np.zeros((1, 8, 8, 2), np.uint8), AugmentSpec(), np.random.default_rng()
            ),
            r"C 1 or 3\. Received: x.shape=\(1, 8, 8, 2\)",
        ),
        (
            lambda: augment_batch(noise_images(1), AugmentSpec(), 0),
            r"rng must be a numpy.random.Generator",
        ),
        (
            lambda: augment_batch(noise_images(1), "signs", np.random.default_rng()),
            r"spec must be an AugmentSpec",
        ),
        (
            lambda: affine(noise_images(2), [1, 2, 3], 1.0, (0, 0)),
            r"angle must be .* shape \(2,\).* angle.shape=\(3,\)",
        ),
        (lambda: affine(noise_images(1), 0, 0.0, (0, 0)), r"scale must be positive"),
        (lambda: affine(noise_images(1), 0, 1.0, (0, 0), fill="wrap"), r"fill must be one of"),
        (lambda: gaussian_blur(noise_images(1), -1.0), r"sigma must be non-negative"),
        (
            lambda: downscale(noise_images(1), 0),
            r"side must be whole numbers between 1 and the short side 64\. Received: side=0",
        ),
        (lambda: downscale(noise_images(1), 65), r"Received: side=65"),
        (
            lambda: shift_images(noise_images(1), "rotate", seed=-1),
            r"seed must be a non-negative int",
        ),
    ],
)
def test_bad_arguments(make, match):
    with pytest.raises(ArgumentError, match=match):
        make()
