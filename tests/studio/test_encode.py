"""The PNG files the studio sends are exact: decoded by Pillow, they give back the array."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from cnnlab.studio.encode import colour_maps, png_bytes, png_url, rounded


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (64, 64, 3), (3, 1, 3), (2, 9, 1)])
def test_png_round_trip(shape):
    a = np.random.default_rng(sum(shape)).integers(0, 256, size=shape).astype(np.uint8)
    url = png_url(a)
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, a[..., 0] if shape[-1] == 1 and len(shape) == 3 else a)
    assert png_bytes(a[..., 0] if len(shape) == 3 and shape[-1] == 1 else a).startswith(b"\x89PNG")


def test_float_images_are_scaled_from_0_1():
    url = png_url(np.array([[0.0, 0.5, 1.0, 2.0]]))
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert decoded.tolist() == [[0, 128, 255, 255]]


def test_colour_maps_share_one_scale():
    maps = np.stack([np.zeros((2, 2)), np.full((2, 2), 10.0)], axis=-1)
    low, high = colour_maps(maps, 0.0, 10.0)
    dark = np.asarray(Image.open(io.BytesIO(base64.b64decode(low.split(",", 1)[1]))))
    bright = np.asarray(Image.open(io.BytesIO(base64.b64decode(high.split(",", 1)[1]))))
    assert dark.shape == (2, 2, 3) and dark.sum() < bright.sum()


def test_the_written_out_viridis_is_matplotlibs():
    from matplotlib import colormaps

    from cnnlab.studio.encode import VIRIDIS

    want = np.rint(colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(VIRIDIS, want)


def test_rounded_keeps_six_digits_and_turns_nan_into_none():
    assert rounded(np.array([[1 / 3, np.nan]])) == [[0.333333, None]]
    assert rounded(np.float64(123456789.0)) == 123457000.0
