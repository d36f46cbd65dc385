"""Images as a run sees them: decoded, then either resized whole (``preprocess="none"``) or
reduced to the face (``preprocess="face"``: found, aligned, cropped and converted by
:mod:`cnnlab.data.faces`) or drawn as the hand's pose (``preprocess="hand"``:
:mod:`cnnlab.data.hands`), then sized and coloured as the run asks.

One function per source kind, so that training, evaluation, ``predict`` and ``show`` prepare
an image the same way:

* :func:`decode_prepared` for one image file;
* :func:`prepare_arrays` for images already in memory (course ``.h5`` files, built-in sets).

Both also say whether a face was found (always ``True`` for ``"none"``); an image with no
face falls back to a centre crop (:data:`cnnlab.data.faces.FALLBACK_FRACTION`), and the
callers count and report those.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnlab import _validate
from cnnlab.data import (
    faces,
    hands,
    images,  # images imports this module too: use its names at call time
)
from cnnlab.data.faces import crop_faces, face_crop
from cnnlab.data.hands import hand_pose, hand_poses
from cnnlab.errors import ArgumentError, DatasetError

__all__ = [
    "PREPROCESS",
    "STEPS",
    "Step",
    "check_preprocess",
    "decode_prepared",
    "prepare_arrays",
    "scale_pixels",
]


@dataclass(frozen=True)
class Step:
    """A preprocessing step: what it keeps of an image, and how it is found.

    Attributes:
        one: ``one(image uint8 (H, W, C), (h, w)) -> (uint8 (h, w, 3), found)``.
        batch: the same for images in memory, ``batch(x uint8 (N, H, W, C), (h, w)) ->
            (uint8 (N, h, w, 3), found bool (N,))`` (may use several threads).
        what: what it looks for, in the note on images where it found none.
        instead: what an image where it found none becomes, in that note.
        version: part of the array cache's key: bumped when the step changes.
        min_side: the smallest image side it takes (``ArgumentError`` below it).
        done: what it does to what it found, in a run's summary ("faces cropped").
    """

    one: Callable[[np.ndarray, tuple[int, int]], tuple[np.ndarray, bool]]
    batch: Callable[[np.ndarray, tuple[int, int]], tuple[np.ndarray, np.ndarray]]
    what: str
    instead: str = "a centre crop"
    version: int = 1
    min_side: int = 1
    done: str = "cropped"


STEPS: dict[str, Step] = {
    # found, aligned, cropped, gray
    "face": Step(face_crop, crop_faces, "face", "a centre crop", faces.VERSION),
    # the hand's landmarks, drawn as a canonical pose (a right hand, fingers up) on black
    "hand": Step(
        hand_pose, hand_poses, "hand", "a blank picture", hands.VERSION, hands.MIN_SIDE, "drawn"
    ),
}
"""The preprocessing steps by name (``--preprocess NAME``); ``"none"`` is the whole image.
Add an entry to add a step: train, evaluate, predict, show and the studio then apply it."""

PREPROCESS = ("none", *STEPS)
"""Every value of ``preprocess``."""

DETECT_MAX_SIDE = 512
"""A larger image is shrunk to this long side before the face is looked for: BlazeFace sees
128 or 192 pixels anyway, and the crop it leads to is resized to the run's image size."""


def check_preprocess(preprocess: str) -> str:
    """``preprocess`` if it is one of :data:`PREPROCESS`, else ``ArgumentError``."""
    if preprocess not in PREPROCESS:
        raise ArgumentError(
            f"preprocess must be one of {', '.join(PREPROCESS)}. "
            f"Received: preprocess={preprocess!r}"
        )
    return preprocess


STEP_MIN_SIDE = 32
"""The smallest image side a preprocessing step looks at: below it a detector "finds" faces
or hands in noise (8x8 digits gave 1,445 "faces" in 1,797 images), so it is refused."""


def check_step_size(hw, preprocess: str, source: str) -> None:
    """Refuse images too small for the preprocessing step ``preprocess`` to look at.

    Raises:
        DatasetError: naming the source, its size and the smallest size the step takes.
    """
    h, w = (int(v) for v in hw)
    if preprocess != "none" and min(h, w) < STEP_MIN_SIDE:
        raise DatasetError(
            f"{source}: images of {h}x{w} pixels are too small for --preprocess {preprocess} "
            f"(the {STEPS[preprocess].what} step needs at least {STEP_MIN_SIDE} pixels a side); "
            "use --preprocess none"
        )


def _bounded(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    if max(h, w) <= DETECT_MAX_SIDE:
        return arr
    from PIL import Image

    scale = DETECT_MAX_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(im.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
    return out[:, :, None] if out.ndim == 2 else out


def _step_one(
    step: str, arr: np.ndarray, size: tuple[int, int], grayscale: bool
) -> tuple[np.ndarray, bool]:
    crop, found = STEPS[step].one(_bounded(arr), size)
    # A step's output is RGB (the face step's is gray in all three): keep one if asked.
    return (crop[:, :, :1] if grayscale else crop), bool(found)


def decode_prepared(
    path: str | os.PathLike, image_size, grayscale: bool = False, preprocess: str = "none"
) -> tuple[np.ndarray, bool]:
    """Read one image file as a run with this size, colour mode and preprocessing sees it.

    Args:
        path: an image file (see :func:`cnnlab.data.decode_image` for the formats).
        image_size: ``(H, W)`` of the result; with ``"none"`` also ``None`` (keep the size).
        grayscale: one channel instead of three.
        preprocess: "none" (the whole image, resized) or "face".

    Returns:
        ``(uint8 (H, W, C), found)``: ``found`` is False when ``"face"`` found no face and
        the image is a centre crop instead.

    Raises:
        DatasetError: the file cannot be read as an image.
    """

    check_preprocess(preprocess)
    if preprocess == "none":
        return images.decode_image(path, image_size, grayscale=grayscale), True
    size = _validate.image_size(image_size, "image_size", allow_none=False)
    arr = images.decode_image(path, None, grayscale=False)
    check_step_size(arr.shape[:2], preprocess, str(path))
    return _step_one(preprocess, arr, size, grayscale)


def prepare_arrays(
    x: np.ndarray, image_size, grayscale: bool, preprocess: str = "none", *, source: str = "images"
) -> tuple[np.ndarray, np.ndarray]:
    """Images in memory (uint8 ``(N, H, W, C)``, C 1 or 3) as a run sees them.

    Returns:
        ``(uint8 (N, H', W', C'), found bool (N,))``.
    """

    check_preprocess(preprocess)
    if preprocess == "none":
        return images.conform_images(x, image_size, grayscale, source=source), np.ones(len(x), bool)

    size = _validate.image_size(image_size, "image_size", allow_none=False)
    check_step_size(np.shape(x)[1:3], preprocess, source)
    crops, found = STEPS[preprocess].batch(x, size)
    return (crops[..., :1] if grayscale else crops), np.asarray(found, dtype=bool)


def scale_pixels(x: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` -> float32 ``(N, H, W, C)`` in [0, 1]: what every model takes."""
    return np.asarray(x, dtype=np.float32) / np.float32(255.0)
