"""Find the face in a photo, turn it upright and crop it the way the SMILEs crops are framed.

The mood classifier learns from SMILEsmileD: 64x64 grayscale crops so tight that the
forehead and the chin are cut off. A photo from elsewhere (a colour head-and-shoulders
picture, the face a third of the frame, often backlit) looks nothing like that, so
``--preprocess face`` runs every image, training images included, through one step:

1. **Detect** the face with MediaPipe's BlazeFace models (shipped in cnnlab, see
   :mod:`cnnlab.pretrained`) run by LiteRT (or TensorFlow Lite), as a cascade that stops at
   the first face: the short-range model on the image padded to 1.5x its size (a tight crop then
   looks like a face in a photo), the same on a contrast-equalized copy (dark, backlit
   faces), the short-range model on the image padded 2x, then the full-range model
   (small faces in big frames).
2. **Align**: rotate about the face centre so the eye line is horizontal (when it is
   tilted by more than :data:`_MIN_ROTATION` degrees).
3. **Crop** a square :data:`_CROP_SCALE` times the detected box width, its centre
   :data:`_CROP_SHIFT` box widths below the box centre (measured on the SMILEs crops
   themselves by ``benchmarks/faces.py``), padding by edge replication past the border,
   and resize it (antialiased) to the requested size.
4. **Convert** like the training data: luminance (Pillow's ``"L"``), a contrast stretch
   (``ImageOps.autocontrast``, 1% cutoff), replicated to 3 channels.

An image with no face found gets a centre crop (:data:`FALLBACK_FRACTION` of its short
side), converted the same way, and ``found=False`` so the caller can count and report it
(:func:`no_face_message`).

LiteRT and TensorFlow Lite interpreters are not thread-safe: each thread lazily builds its own.

Example:
    >>> import numpy as np
    >>> crop, found = face_crop(np.zeros((48, 64, 3), np.uint8), (32, 32))
    >>> crop.shape, crop.dtype, found
    ((32, 32, 3), dtype('uint8'), False)
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
    "FALLBACK_FRACTION",
    "VERSION",
    "Face",
    "crop_faces",
    "detect_face",
    "face_crop",
    "no_face_message",
]

VERSION = 2  # 2: the window stage
"""Part of the array cache's key for face-cropped datasets: bump it whenever the detector,
the framing constants or the conversion change, so no stale crops are read back."""

"""The choices of the ``--preprocess`` option: the image as it is, or :func:`face_crop`."""

FALLBACK_FRACTION = 0.25
"""Side of the centre crop used when no face is found, as a fraction of the short side.

Measured by ``benchmarks/faces.py --fallback`` on 200 synthetic head-and-shoulders frames
(the face a third of the frame width, its centre 36-46% down and within 8% of the middle
across): of fractions 0.2..1.0 and raises 0..0.4, a square of 0.25 of the short side
raised by :data:`_FALLBACK_RAISE` (centre 40% down) correlated best with the true face
crop (median r 0.17; 0.25/0.3: 0.14; 0.3/0.2: 0.09; the whole frame: about 0). A
little smaller than the face, so it stays inside the face when the face is off centre.
"""

# How a detected box maps to a SMILEs-framed crop. Measured by ``benchmarks/faces.py``
# (``--calibrate``) on 400 SMILEs training crops (200 per class) with this module's own
# detector: median crop side / box width 0.862 (p10 0.798, p90 0.962), median (crop
# centre - box centre) / box width -0.012 down (the crop centre is a little above the
# box centre) and -0.023 to the right (a little to the image's left).
_CROP_SCALE = 0.862
_CROP_SHIFT = -0.012
_CROP_SHIFT_X = -0.023
_FALLBACK_RAISE = 0.4
"""The fallback crop's centre lies this fraction of its side above the image centre."""
_MIN_ROTATION = 2.0
"""Eye lines tilted by less than this many degrees are not rotated (no needless blur)."""
_AUTOCONTRAST_CUTOFF = 1.0
_LEVELS_MARGIN = 0.2
"""The contrast stretch reads its levels from the crop less this fraction on each side."""
_DETECT_PAD = 1.5


@dataclass(frozen=True)
class Face:
    """One detected face, in pixels of the image it was found in.

    Attributes:
        box: ``(x0, y0, x1, y1)``, the face's box (it may run past the image's edge).
        score: the detector's confidence, in ``[0, 1]``.
        keypoints: ``(6, 2)`` float array of ``(x, y)``: the right eye, left eye, nose
            tip, mouth, right ear and left ear (the person's right and left).
        angle: the eye line's angle in degrees (image y down): positive when the person's
            left eye (on the image's right) is lower; rotating the image by ``angle``
            counter-clockwise makes it level.

    Example:
        >>> f = Face((10.0, 20.0, 40.0, 50.0), 0.9, np.zeros((6, 2)), 0.0)
        >>> f.center, f.width
        ((25.0, 35.0), 30.0)
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray
    angle: float

    @property
    def center(self) -> tuple[float, float]:
        """The box centre ``(x, y)``."""
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2, (y0 + y1) / 2)

    @property
    def width(self) -> float:
        """The box width in pixels."""
        return self.box[2] - self.box[0]


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class _Spec:
    name: str  # in cnnlab.pretrained
    size: int
    strides: tuple[int, ...]
    per_cell: tuple[int, ...]
    min_score: float


_SHORT = _Spec("face_detection_short_range", 128, (8, 16), (2, 6), 0.5)
_FULL = _Spec("face_detection_full_range", 192, (4,), (1,), 0.6)
_NMS_IOU = 0.3

_local = threading.local()
_anchor_cache: dict[str, np.ndarray] = {}


def _anchors(spec: _Spec) -> np.ndarray:
    """Anchor centres ``(n, 2)`` in ``[0, 1]``: a grid per stride, a cell's anchors in a row."""
    cached = _anchor_cache.get(spec.name)
    if cached is None:
        parts = []
        for stride, n in zip(spec.strides, spec.per_cell, strict=True):
            g = spec.size // stride
            ys, xs = np.mgrid[0:g, 0:g]
            centres = np.stack([(xs + 0.5) / g, (ys + 0.5) / g], -1).reshape(-1, 2)
            parts.append(np.repeat(centres, n, axis=0))
        cached = _anchor_cache[spec.name] = np.concatenate(parts).astype(np.float32)
    return cached


class _Model:
    """One TensorFlow Lite interpreter of a BlazeFace model (one per thread)."""

    def __init__(self, spec: _Spec) -> None:
        self.interpreter = pretrained.tflite_interpreter(spec.name)
        self.spec = spec
        self.anchors = _anchors(spec)
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        self.regressors = next(o["index"] for o in outputs if o["shape"][-1] == 16)
        self.logits = next(o["index"] for o in outputs if o["shape"][-1] == 1)

    def __call__(self, square: np.ndarray) -> np.ndarray | None:
        """The best face in a ``(size, size, 3)`` uint8 image: 16 numbers in ``[0, 1]`` + score.

        Returns ``[cx, cy, w, h, kx0, ky0, ..., kx5, ky5, score]`` (weighted non-maximum
        suppression over the boxes overlapping the best one), or ``None`` below the
        model's minimum score.
        """
        x = (square.astype(np.float32) / 127.5 - 1.0)[None]
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        raw = self.interpreter.get_tensor(self.regressors)[0]
        logits = self.interpreter.get_tensor(self.logits)[0, :, 0]
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80.0, 80.0)))
        keep = np.flatnonzero(scores >= self.spec.min_score)
        if keep.size == 0:
            return None
        size = self.spec.size
        det = raw[keep] / size
        det[:, 0:2] += self.anchors[keep]
        det[:, 4:16] += np.tile(self.anchors[keep], 6)
        s = scores[keep]
        best = int(s.argmax())
        iou = _iou(det[best, :4], det[:, :4])
        near = iou > _NMS_IOU
        weights = s[near] / s[near].sum()
        merged = (det[near] * weights[:, None]).sum(0)
        return np.append(merged, s[best])


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one ``(cx, cy, w, h)`` box with each of ``boxes``."""
    a0, a1 = box[:2] - box[2:4] / 2, box[:2] + box[2:4] / 2
    b0, b1 = boxes[:, :2] - boxes[:, 2:4] / 2, boxes[:, :2] + boxes[:, 2:4] / 2
    wh = np.clip(np.minimum(a1, b1) - np.maximum(a0, b0), 0, None)
    inter = wh[:, 0] * wh[:, 1]
    union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
    return inter / np.maximum(union, 1e-12)


def _model(spec: _Spec) -> _Model:
    models = getattr(_local, "models", None)
    if models is None:
        models = _local.models = {}
    model = models.get(spec.name)
    if model is None:
        model = models[spec.name] = _Model(spec)
    return model


# --------------------------------------------------------------------------- detection


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


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def _run(spec: _Spec, rgb: np.ndarray, pad: float, equalize: bool = False) -> Face | None:
    """One pass: letterbox ``rgb`` into a square ``pad`` times its long side, detect, map back."""
    from PIL import Image, ImageOps

    h, w = rgb.shape[:2]
    side = max(1, int(round(max(h, w) * pad)))
    oy, ox = (side - h) // 2, (side - w) // 2
    square = np.zeros((side, side, 3), np.uint8)
    square[oy : oy + h, ox : ox + w] = rgb
    picture = Image.fromarray(rgb)
    if equalize:
        picture = ImageOps.equalize(picture)
        square[oy : oy + h, ox : ox + w] = np.asarray(picture)
    resized = Image.fromarray(square).resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    found = _model(spec)(np.asarray(resized))
    if found is None:
        return None
    cx, cy, bw, bh = found[:4] * side - np.array([ox, oy, 0, 0])
    keypoints = found[4:16].reshape(6, 2) * side - np.array([ox, oy])
    (rx, ry), (lx, ly) = keypoints[0], keypoints[1]
    angle = math.degrees(math.atan2(ly - ry, lx - rx))
    box = (float(cx - bw / 2), float(cy - bh / 2), float(cx + bw / 2), float(cy + bh / 2))
    return Face(box, float(found[16]), keypoints.astype(np.float64), angle)


_CASCADE = (
    (_SHORT, _DETECT_PAD, False),  # tight crops and faces of a photo: short range, padded
    (_SHORT, _DETECT_PAD, True),  # dark or backlit faces: the same, contrast-equalized
    (_SHORT, 2.0, False),  # faces filling the frame (the tightest crops): padded more
    (_FULL, 1.0, False),  # small faces in big frames: full range
)


_WINDOW = 0.5
"""The last stage looks for the face in 3x3 overlapping windows of this fraction of the short
side: a face a third of a small photo fills too little of the detector's 128 pixels, but
most of a window's. On 1,975 test faces pasted at a third of the width into synthetic
head-and-shoulders frames (``shift_images(..., "frame")``), the stages before it found 83%;
the windows found a face in every one of the rest."""


def _shifted(face: Face, dx: float, dy: float) -> Face:
    x0, y0, x1, y1 = face.box
    box = (x0 + dx, y0 + dy, x1 + dx, y1 + dy)
    return Face(box, face.score, face.keypoints + np.array([dx, dy]), face.angle)


def _run_windows(rgb: np.ndarray) -> Face | None:
    """The most confident face over 3x3 overlapping windows (:data:`_WINDOW`), or None."""
    h, w = rgb.shape[:2]
    side = max(1, int(round(min(h, w) * _WINDOW)))
    best: Face | None = None
    for y in np.linspace(0, h - side, 3).round().astype(int):
        for x in np.linspace(0, w - side, 3).round().astype(int):
            face = _run(_SHORT, rgb[y : y + side, x : x + side], _DETECT_PAD)
            if face is not None and (best is None or face.score > best.score):
                best = _shifted(face, float(x), float(y))
    return best


def detect_face(image: np.ndarray) -> Face | None:
    """The most confident face in ``image``, or ``None``.

    A cascade that stops at the first face: BlazeFace short range on the image padded to
    1.5x its size, the same on a contrast-equalized copy, short range on the image padded
    2x, BlazeFace full range, then short range on 3x3 overlapping windows of half the
    short side (small faces in small photos).

    Args:
        image: uint8 ``(H, W, C)`` with ``C`` = 1 (grayscale) or 3 (RGB), any size.

    Returns:
        The best :class:`Face`, in pixels of ``image``, or ``None`` when none is found.

    Raises:
        ArgumentError: for an image that is not uint8 ``(H, W, 1 or 3)``.
        ModelFileError: a shipped BlazeFace model is missing or damaged.

    Example:
        >>> detect_face(np.zeros((64, 64, 3), np.uint8)) is None
        True
    """
    rgb = _rgb(_check_image(image))
    for spec, pad, equalize in _CASCADE:
        face = _run(spec, rgb, pad, equalize)
        if face is not None:
            return face
    return _run_windows(rgb)


# --------------------------------------------------------------------------- cropping


def _gray(image: np.ndarray):
    from PIL import Image

    if image.shape[2] == 1:
        return Image.fromarray(image[:, :, 0])
    return Image.fromarray(image).convert("L")


def _crop(gray, cx: float, cy: float, side: float, angle: float, size: tuple[int, int]):
    """The square of ``side`` centred on ``(cx, cy)``, turned by ``angle``, resized to ``size``.

    The region is cut with edge replication (indices clipped to the image), rotated about
    its centre when ``|angle|`` is at least :data:`_MIN_ROTATION`, then the square is
    resized with Lanczos (antialiased when downscaling).
    """
    from PIL import Image

    arr = np.asarray(gray)
    h, w = arr.shape
    side = max(side, 1.0)
    rotate = abs(angle) >= _MIN_ROTATION
    region = int(math.ceil(side * (1.5 if rotate else 1.0))) + 4
    x0 = int(math.floor(cx - region / 2))
    y0 = int(math.floor(cy - region / 2))
    rows = np.clip(np.arange(y0, y0 + region), 0, h - 1)
    cols = np.clip(np.arange(x0, x0 + region), 0, w - 1)
    patch = Image.fromarray(np.ascontiguousarray(arr[rows[:, None], cols[None, :]]))
    px, py = cx - x0, cy - y0  # the face centre in the patch
    if rotate:
        patch = patch.rotate(angle, resample=Image.Resampling.BICUBIC, center=(px, py))
    box = (px - side / 2, py - side / 2, px + side / 2, py + side / 2)
    return patch.resize((size[1], size[0]), Image.Resampling.LANCZOS, box=box)


def _convert(gray) -> np.ndarray:
    """Like the training data: luminance, contrast-stretched (1% cutoff), on 3 channels.

    The stretch's levels come from the central part of the crop (the face, not the
    bright sky in the corners of a backlit photo's crop) and apply to all of it.
    """
    from PIL import Image, ImageOps

    w, h = gray.size
    mask = Image.new("L", (w, h), 0)
    mx, my = int(w * _LEVELS_MARGIN), int(h * _LEVELS_MARGIN)
    mask.paste(255, (mx, my, max(w - mx, mx + 1), max(h - my, my + 1)))
    stretched = np.asarray(ImageOps.autocontrast(gray, cutoff=_AUTOCONTRAST_CUTOFF, mask=mask))
    return np.repeat(stretched[:, :, None], 3, axis=2)


def _fallback(gray, size: tuple[int, int]):
    w, h = gray.size
    side = FALLBACK_FRACTION * min(h, w)
    return _crop(gray, w / 2, h / 2 - _FALLBACK_RAISE * side, side, 0.0, size)


def _size(size) -> tuple[int, int]:
    if not (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(_validate.is_int(v) and v > 0 for v in size)
    ):
        raise ArgumentError(
            f"size must be two positive ints (height, width). Received: size={size!r}"
        )
    return _validate.image_size(tuple(int(v) for v in size), "size", allow_none=False)


def _face_crop(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    face = detect_face(image)
    gray = _gray(image)
    if face is None:
        return _convert(_fallback(gray, size)), False
    cx, cy = face.center
    side = _CROP_SCALE * face.width
    # The crop centre lies (_CROP_SHIFT_X, _CROP_SHIFT) box widths from the box centre
    # *in the upright face*: in the image, along the face's own right and down.
    t = math.radians(face.angle)
    dx, dy = _CROP_SHIFT_X * face.width, _CROP_SHIFT * face.width
    cx += dx * math.cos(t) - dy * math.sin(t)
    cy += dx * math.sin(t) + dy * math.cos(t)
    return _convert(_crop(gray, cx, cy, side, face.angle, size)), True


def face_crop(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, bool]:
    """The face of ``image`` aligned, cropped like the SMILEs crops and converted like them.

    Every image goes through the same steps, training or not: detect
    (:func:`detect_face`), rotate the eye line level, crop the SMILEs framing, resize,
    then luminance, a contrast stretch and 3 channels. Without a face, a centre crop
    (:data:`FALLBACK_FRACTION` of the short side) is converted the same way.

    Args:
        image: uint8 ``(H, W, C)``, ``C`` = 1 or 3, any size.
        size: ``(height, width)`` of the result. The crop is square and stretched to it,
            as the loaders stretch the square training images.

    Returns:
        ``(crop, found)``: uint8 ``(height, width, 3)`` (three equal channels) and
        whether a face was found.

    Raises:
        ArgumentError: for a bad image or size.
        ModelFileError: a shipped BlazeFace model is missing or damaged.

    Example:
        >>> crop, found = face_crop(np.full((100, 80, 1), 128, np.uint8), (64, 64))
        >>> crop.shape, found
        ((64, 64, 3), False)
    """
    return _face_crop(_check_image(image), _size(size))


def crop_faces(
    images: np.ndarray, size, *, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`face_crop` of every image, on several threads.

    Args:
        images: uint8 ``(N, H, W, C)``, ``C`` = 1 or 3.
        size: ``(height, width)`` of the crops.
        workers: threads; default :func:`cnnlab.ops.get_num_threads` (1 runs in the
            calling thread). Each thread has its own interpreters.

    Returns:
        ``(crops, found)``: uint8 ``(N, height, width, 3)`` and bool ``(N,)``.

    Raises:
        ArgumentError: for bad images, size or workers.

    Example:
        >>> crops, found = crop_faces(np.zeros((2, 32, 32, 3), np.uint8), (16, 16))
        >>> crops.shape, found.tolist()
        ((2, 16, 16, 3), [False, False])
    """
    return map_images(_face_crop, images, size, workers, check_size=_size)


def no_face_message(found: np.ndarray) -> str | None:
    """A line for the user when some images had no face, else ``None``.

    Args:
        found: bool ``(N,)``, as returned by :func:`crop_faces`.

    Returns:
        ``"no face found in 12 of 150 images; used a centre crop"``, or ``None`` when
        every image had a face (or there were none).

    Example:
        >>> no_face_message(np.array([True, False, True]))
        'no face found in 1 of 3 images; used a centre crop'
        >>> no_face_message(np.array([True])) is None
        True
    """
    found = np.asarray(found, bool).reshape(-1)
    missing = int((~found).sum())
    if missing == 0:
        return None
    noun = "image" if found.size == 1 else "images"
    return f"no face found in {missing} of {found.size} {noun}; used a centre crop"
