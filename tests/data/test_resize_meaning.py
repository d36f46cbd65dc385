"""Resizing averages neighbouring pixels (bilinear), it does not pick some of them
(nearest): a one-pixel checkerboard halved in size becomes mid-gray, for image files and
for arrays alike."""

from __future__ import annotations

import numpy as np
from PIL import Image

from cnnlab.data import decode_image
from cnnlab.data.images import conform_images


def _checkerboard(n: int = 8) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    return np.where((yy + xx) % 2 == 0, 255, 0).astype(np.uint8)


def test_decode_image_downscales_by_averaging(tmp_path):
    path = tmp_path / "board.png"
    Image.fromarray(_checkerboard()).save(path)
    small = decode_image(path, (4, 4), grayscale=True)
    assert small.shape == (4, 4, 1)
    np.testing.assert_allclose(small.astype(float), 127.5, atol=8)  # nearest: 0 or 255


def test_conform_images_downscales_by_averaging():
    board = np.repeat(_checkerboard()[None, :, :, None], 2, axis=0)
    small = conform_images(board, (4, 4), grayscale=True)
    assert small.shape == (2, 4, 4, 1)
    np.testing.assert_allclose(small.astype(float), 127.5, atol=8)  # nearest: 0 or 255
