"""Find the hand in a photo and draw its pose: the sign without the background, the light
or the skin.

A signs classifier trained on one set of photos (one background, one light, one camera,
almost only right hands) learns those along with the sign; on photos taken by other people
it falls from 99% to under 70%. ``--preprocess hand`` runs every image, training images
included, through one step:

1. **Landmarks**: MediaPipe's hand landmark model (shipped in cnnlab, see
   :mod:`cnnlab.pretrained`), run by LiteRT on the whole image resized to 224x224, gives
   21 landmarks in 3D (world coordinates, metres, centred on the hand), whether a hand is
   there (a score in [0, 1]) and which hand it is.
2. **Canonical pose**: a left hand is mirrored into a right hand (a sign means the same
   with either hand); the pose is turned about the depth axis so that the wrist -> middle
   knuckle line (landmarks 0 -> 9) points up, and scaled by that line's 3D length, so the
   hand's size in the photo and its tilt no longer matter.
3. **Rendering**: the 21 joints and the bones between them drawn on a black canvas, each
   finger in its own colour (thumb red, index green, middle blue, ring yellow, little finger
   magenta, the palm gray), brighter where the joint is nearer the camera, drawn at twice
   the size and reduced with antialiasing.

An image where the model finds no hand (score below :data:`MIN_PRESENCE`) is a black
canvas with ``found=False``, counted and reported like the face step's misses.

LiteRT interpreters are not thread-safe: each thread lazily builds its own.

Example:
    >>> import numpy as np
    >>> picture, found = hand_pose(np.zeros((64, 64, 3), np.uint8), (32, 32))
    >>> picture.shape, picture.dtype, found, int(picture.max())
    ((32, 32, 3), dtype('uint8'), False, 0)
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np

from cnnlab import _validate, pretrained
from cnnlab.data.per_image import map_images
from cnnlab.errors import ArgumentError

__all__ = [
    "BONES",
    "MIN_PRESENCE",
    "MIN_SIDE",
    "VERSION",
    "Hand",
    "canonical_pose",
    "detect_hand",
    "hand_pose",
    "hand_poses",
    "render_pose",
]

VERSION = 1
"""Part of the array cache's key for hand-step datasets: bump it whenever the landmark run,
the canonical pose or the rendering change, so no stale pictures are read back."""

MIN_PRESENCE = 0.5
"""The hand landmark model's hand-presence score (a probability) below which no hand is
found. On the 2,062 photos of the Sign Language Digits set one image scores below it."""

MIN_SIDE = 32
"""The smallest image side (and output side) the step accepts: below it there is no hand
for the landmark model to find, nor room to draw one."""

_INPUT = 224  # the landmark model's input side

_FINGERS = (
    (0, 1, 2, 3, 4),  # thumb
    (5, 6, 7, 8),  # index
    (9, 10, 11, 12),  # middle
    (13, 14, 15, 16),  # ring
    (17, 18, 19, 20),  # little
)
_PALM = ((0, 5), (5, 9), (9, 13), (13, 17), (0, 17))
BONES: tuple[tuple[int, int], ...] = (
    tuple((f[i], f[i + 1]) for f in _FINGERS for i in range(len(f) - 1)) + _PALM
)
"""The 21 bones drawn, as pairs of MediaPipe landmark indices (0 the wrist, 4 the thumb
tip, 8, 12, 16, 20 the other finger tips)."""

_COLOURS = (
    (255, 48, 48),  # thumb
    (48, 255, 48),  # index
    (64, 96, 255),  # middle
    (255, 230, 0),  # ring
    (255, 0, 255),  # little
)
_PALM_COLOUR = (160, 160, 160)
_SCALE = 0.3
"""The wrist -> middle knuckle length as a fraction of the canvas side: an open hand
(about twice that from wrist to finger tip) fills about half of it, a thumb spread
sideways still fits."""
_CENTRE = (0.5, 0.62)
"""Where the middle knuckle (landmark 9) is drawn, as fractions of the canvas width and
height: the fingers point up, so it sits a little below the centre."""
_DEPTH = 0.5
"""Brightness falls by this much per wrist -> knuckle length away from the camera."""
_SUPERSAMPLE = 2


@dataclass(frozen=True)
class Hand:
    """A hand found by the landmark model.

    Attributes:
        world: float64 ``(21, 3)``: the landmarks in metres, centred on the hand (x right,
            y down, z away from the camera), as the model gives them.
        image: float64 ``(21, 3)``: the landmarks in pixels of the image (x, y) and the
            model's relative depth (z, in the same pixels).
        presence: the hand-presence score in [0, 1].
        right: the model's score that it is a right hand (in [0, 1]).
    """

    world: np.ndarray
    image: np.ndarray
    presence: float
    right: float


_local = threading.local()


class _Model:
    """One LiteRT interpreter of the hand landmark model (one per thread)."""

    def __init__(self) -> None:
        self.interpreter = pretrained.tflite_interpreter("hand_landmark_full")
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        wide = [o["index"] for o in outputs if o["shape"][-1] == 63]
        narrow = [o["index"] for o in outputs if o["shape"][-1] == 1]
        # Outputs in the model's order: image landmarks, presence, handedness, world.
        self.image, self.world = wide
        self.presence, self.handedness = narrow

    def __call__(self, square: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        x = (square.astype(np.float32) / np.float32(255.0))[None]
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        get = self.interpreter.get_tensor
        return (
            get(self.image).reshape(21, 3).astype(np.float64),
            get(self.world).reshape(21, 3).astype(np.float64),
            float(get(self.presence).reshape(-1)[0]),
            float(get(self.handedness).reshape(-1)[0]),
        )


def _model() -> _Model:
    model = getattr(_local, "model", None)
    if model is None:
        model = _local.model = _Model()
    return model


def _check_image(image) -> np.ndarray:
    arr = np.asarray(image) if not isinstance(image, np.ndarray) else image
    if (
        arr.dtype != np.uint8
        or arr.ndim != 3
        or arr.shape[2] not in (1, 3)
        or arr.shape[0] < 1
        or arr.shape[1] < 1
    ):
        raise ArgumentError(
            "image must be uint8 (H, W, C) with C = 1 or 3. "
            f"Received: shape={tuple(arr.shape)}, dtype={arr.dtype}"
        )
    return arr


def _size(size) -> tuple[int, int]:
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(_validate.is_int(v) and v > 0 for v in size)
    ):
        raise ArgumentError(
            f"size must be two positive ints (height, width). Received: size={size!r}"
        )
    size = tuple(int(v) for v in size)
    if min(size) < MIN_SIDE:
        raise ArgumentError(
            f"the hand step needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels: there is "
            f"no hand to find or draw below that. Received: size={size}"
        )
    return _validate.image_size(size, "size", allow_none=False)


def detect_hand(image: np.ndarray) -> Hand | None:
    """The hand in ``image`` (the whole image resized to the model's 224x224), or ``None``.

    Args:
        image: uint8 ``(H, W, C)`` with ``C`` = 1 (grayscale) or 3 (RGB), any size.

    Returns:
        The :class:`Hand`, or ``None`` when its presence score is below
        :data:`MIN_PRESENCE`.

    Raises:
        ArgumentError: for an image that is not uint8 ``(H, W, 1 or 3)``.
        ModelFileError: the shipped hand landmark model is missing or damaged.

    Example:
        >>> detect_hand(np.zeros((64, 64, 3), np.uint8)) is None
        True
    """
    from PIL import Image

    arr = _check_image(image)
    rgb = np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    h, w = rgb.shape[:2]
    square = np.asarray(Image.fromarray(rgb).resize((_INPUT, _INPUT), Image.Resampling.BILINEAR))
    points, world, presence, right = _model()(square)
    if presence < MIN_PRESENCE:
        return None
    points = points * np.array([w / _INPUT, h / _INPUT, w / _INPUT])
    return Hand(world, points, presence, right)


def canonical_pose(hand: Hand) -> np.ndarray:
    """A hand's world landmarks as a right hand, fingers up, relative to the middle knuckle,
    in units of the wrist -> middle knuckle length: float64 ``(21, 3)`` (y down, z away)."""
    p = hand.world - hand.world[9]
    if hand.right < 0.5:  # a left hand: mirror it into a right one
        p = p * np.array([-1.0, 1.0, 1.0])
    length = float(np.linalg.norm(p[9] - p[0]))
    if not math.isfinite(length) or length <= 1e-9:
        length = 1.0
    dx, dy = p[9, 0] - p[0, 0], p[9, 1] - p[0, 1]
    # Turn about z so that wrist -> knuckle (dx, dy) points up, (0, -1) in image axes.
    t = math.atan2(-dx, -dy)
    c, s = math.cos(t), math.sin(t)
    x = c * p[:, 0] - s * p[:, 1]
    y = s * p[:, 0] + c * p[:, 1]
    return np.stack([x, y, p[:, 2]], axis=1) / length


def render_pose(pose: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Draw a canonical pose (:func:`hand_pose`'s step 2) as uint8 ``(h, w, 3)``.

    Args:
        pose: float ``(21, 3)``: landmarks relative to the middle knuckle, in units of the
            wrist -> middle knuckle length, fingers up (y down, z away from the camera).
        size: ``(height, width)`` of the picture.
    """
    from PIL import Image, ImageDraw

    h, w = size
    ss = _SUPERSAMPLE
    side = min(h, w) * ss
    canvas = Image.new("RGB", (w * ss, h * ss), (0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    xy = np.stack(
        [
            pose[:, 0] * _SCALE * side + _CENTRE[0] * w * ss,
            pose[:, 1] * _SCALE * side + _CENTRE[1] * h * ss,
        ],
        axis=1,
    )
    z = pose[:, 2] - pose[0, 2]
    light = np.clip(0.75 - _DEPTH * z, 0.3, 1.0)
    width = max(1, round(side / 24))
    radius = max(1.0, side / 28)

    def colour(rgb, k):
        return tuple(int(round(v * light[k])) for v in rgb)

    for a, b in _PALM:
        draw.line([tuple(xy[a]), tuple(xy[b])], fill=colour(_PALM_COLOUR, b), width=width)
    for finger, rgb in zip(_FINGERS, _COLOURS, strict=True):
        for i in range(len(finger) - 1):
            a, b = finger[i], finger[i + 1]
            draw.line([tuple(xy[a]), tuple(xy[b])], fill=colour(rgb, b), width=width)
        for k in finger[1:]:
            cx, cy = xy[k]
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour(rgb, k))
    cx, cy = xy[0]
    draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour((255,) * 3, 0))
    if ss > 1:
        canvas = canvas.resize((w, h), Image.Resampling.BOX)
    return np.asarray(canvas, dtype=np.uint8)


def _hand_pose(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    hand = detect_hand(image)
    if hand is None:
        return np.zeros((*size, 3), np.uint8), False
    return render_pose(canonical_pose(hand), size), True


def hand_pose(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """The hand of ``image`` drawn as its pose: canonical (a right hand, fingers up, one
    size) and rendered on black (see the module's docstring).

    Args:
        image: uint8 ``(H, W, C)``, ``C`` = 1 or 3, any size.
        size: ``(height, width)`` of the picture, each at least :data:`MIN_SIDE`.

    Returns:
        ``(picture, found)``: uint8 ``(height, width, 3)`` and whether a hand was found
        (without one the picture is black).

    Raises:
        ArgumentError: for a bad image, or a size that is not two ints of at least
            :data:`MIN_SIDE`.
        ModelFileError: the shipped hand landmark model is missing or damaged.
    """
    return _hand_pose(_check_image(image), _size(size))


def hand_poses(
    images: np.ndarray, size, *, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`hand_pose` of every image, on several threads.

    Args:
        images: uint8 ``(N, H, W, C)``, ``C`` = 1 or 3.
        size: ``(height, width)`` of the pictures.
        workers: threads; default :func:`cnnlab.ops.get_num_threads` (1 runs in the
            calling thread). Each thread has its own interpreter.

    Returns:
        ``(pictures, found)``: uint8 ``(N, height, width, 3)`` and bool ``(N,)``.

    Raises:
        ArgumentError: for bad images, size or workers.

    Example:
        >>> pictures, found = hand_poses(np.zeros((2, 48, 48, 3), np.uint8), (32, 32))
        >>> pictures.shape, found.tolist()
        ((2, 32, 32, 3), [False, False])
    """
    return map_images(_hand_pose, images, size, workers, check_size=_size)
