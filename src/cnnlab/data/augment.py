"""Training-time augmentation in NumPy, shared by both training engines.

:func:`augment_batch` draws a random geometric warp (rotation, zoom, translation, flip), a
colour change (brightness, contrast, saturation, hue, white balance), a Gaussian blur and a
downscale-then-upscale for every image of a ``uint8`` NHWC batch, from an
:class:`AugmentSpec` and a seeded :class:`numpy.random.Generator`, chaining the transforms
of :mod:`cnnlab.data.transforms` in ``float32`` and rounding once, at the end. Every call
consumes the same amount of the generator (:data:`N_DRAWS` uniform draws per image,
whatever the spec), so a training loop that saves and restores the generator's state draws,
after a resume, exactly what an uninterrupted run draws. Each task's preset is in
:data:`PRESETS` (named by :attr:`cnnlab.tasks.Task.augment`).

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    >>> out = augment_batch(x, spec_for("signs"), np.random.default_rng(1))
    >>> out.shape, out.dtype
    ((4, 64, 64, 3), dtype('uint8'))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.data.transforms import (
    FILLS,
    affine_f,
    blur_f,
    choice,
    chunks,
    color_f,
    downscale_f,
    fail,
    finish,
    images,
    number,
    pair,
    planar,
)
from cnnlab.errors import ArgumentError

__all__ = ["N_DRAWS", "PRESETS", "AugmentSpec", "augment_batch", "augment_with_draws", "spec_for"]

N_DRAWS = 16
"""Uniform numbers :func:`augment_batch` draws per image, whatever the spec."""

# -------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class AugmentSpec:
    """How strongly :func:`augment_batch` changes each image (every field's default: none).

    Every image gets its own parameters, drawn uniformly: an angle in
    ``[-rotation, rotation]``, a content scale in ``zoom``, a shift in
    ``[-translate, translate]`` per axis, a flip with probability 1/2 if ``flip``,
    brightness and contrast factors in ``[1 - b, 1 + b]``, a saturation factor in
    ``[1 - s, 1 + s]``, a hue rotation in ``[-hue, hue]`` of the colour circle, channel
    gains in ``[1 - white_balance, 1 + white_balance]``, a blur (probability ``blur``)
    with sigma in ``(0.3, 1.5] * side / 64`` pixels (``side`` the short side), and a
    downscale-then-upscale (probability ``downscale[0]``) to a short side between
    ``downscale[1] * side`` and ``downscale[2] * side`` (``side`` when there is no third
    element).

    Args:
        rotation: largest ``|angle|`` in degrees.
        zoom: ``(low, high)`` content scale; below 1 zooms out (the object gets smaller).
        translate: largest shift as a fraction of the height and of the width (below 1).
        flip: random horizontal flip (not for hands: a mirrored hand is the other hand).
        brightness: largest relative change of brightness (below 1).
        contrast: largest relative change of contrast about the image mean (below 1).
        saturation: largest relative change of saturation (at most 1).
        hue: largest hue rotation as a fraction of the colour circle (at most 0.5).
        white_balance: largest per-channel gain deviation (warm, cool, beige casts; below 1).
        blur: probability of a Gaussian blur.
        downscale: ``(probability, smallest fraction of the side)`` or ``(probability,
            smallest, largest fraction)``; the largest is 1 when not given.
        fill: how exposed borders are filled: ``"nearest"`` (edge replication: a wrist
            at the bottom edge becomes a forearm), ``"reflect"`` or ``"constant"`` (black).

    Raises:
        ArgumentError: for a negative or out-of-range value, a decreasing ``zoom`` or an
            unknown ``fill``.

    Example:
        >>> AugmentSpec(rotation=15, zoom=(0.8, 1.0)).rotation
        15.0
        >>> AugmentSpec(zoom=(1.2, 0.8))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        cnnlab.errors.ArgumentError: zoom must be increasing (low <= high). Received: ...
    """

    rotation: float = 0.0
    zoom: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    flip: bool = False
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    white_balance: float = 0.0
    blur: float = 0.0
    downscale: tuple[float, ...] = (0.0, 0.0)
    fill: str = "nearest"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "rotation", number(self.rotation, "rotation", 0.0, 360.0))
        zoom = pair(self.zoom, "zoom")
        if zoom[0] <= 0:
            raise fail("zoom", "must be positive", self.zoom)
        if zoom[0] > zoom[1]:
            raise fail("zoom", "must be increasing (low <= high)", self.zoom)
        set_(self, "zoom", zoom)
        set_(self, "translate", number(self.translate, "translate", 0.0, 0.99))
        if not isinstance(self.flip, bool | np.bool_):
            raise fail("flip", "must be True or False", self.flip)
        set_(self, "flip", bool(self.flip))
        for name in ("brightness", "contrast", "white_balance"):
            set_(self, name, number(getattr(self, name), name, 0.0, 0.99))
        set_(self, "saturation", number(self.saturation, "saturation", 0.0, 1.0))
        set_(self, "hue", number(self.hue, "hue", 0.0, 0.5))
        set_(self, "blur", number(self.blur, "blur", 0.0, 1.0))
        down = tuple(self.downscale) if isinstance(self.downscale, tuple | list) else ()
        if len(down) == 3:
            p, frac = pair(down[:2], "downscale")
            top = number(down[2], "downscale", 0.0, 1.0)
        else:
            (p, frac), top = pair(self.downscale, "downscale"), 1.0
        if p > 1 or frac > 1 or (p > 0 and not 0 < frac <= top):
            raise fail(
                "downscale",
                "must be (probability in [0, 1], smallest fraction of the side in (0, 1]"
                "[, largest fraction, at least the smallest, at most 1])",
                self.downscale,
            )
        set_(self, "downscale", (p, frac, top))
        set_(self, "fill", choice(self.fill, "fill", FILLS))


PRESETS: dict[str, AugmentSpec] = {
    # Hands from elsewhere are smaller, tilted 20-45 degrees, off-centre, blurrier, and
    # under other light on other backgrounds; edge replication turns a wrist into a forearm.
    "signs": AugmentSpec(
        rotation=45.0,
        zoom=(0.55, 1.15),
        translate=0.15,
        flip=False,  # a mirrored right hand is a left hand
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0.04,
        white_balance=0.15,
        blur=0.3,
        downscale=(0.3, 0.4),
        fill="nearest",
    ),
    # Aligned gray face crops: small tilts and offsets, mirrored faces are still faces;
    # crops from small photos are blurry after upscaling: a face a quarter to a third of a
    # 64x64 photo is a crop of 12-28 pixels, so three images in four are downscaled to that
    # (a fifth to under half of the side) and back. No colour changes (gray). Measured on
    # the transfer model (docs/out-of-domain.md): the earlier (0.5, 0.25..1) gave 75% on the
    # photos from elsewhere, this 80-85%, at the same accuracy on the smiles test split.
    "mood": AugmentSpec(
        rotation=10.0,
        zoom=(0.9, 1.1),
        translate=0.06,
        flip=True,
        brightness=0.25,
        contrast=0.25,
        blur=0.25,
        downscale=(0.75, 0.19, 0.44),
        fill="nearest",
    ),
    # The hand step's pose drawings are already levelled, sized and free of light and
    # background: what is left to vary is the landmark model's own jitter (a few degrees,
    # a few per cent of size and place) and its depth (brightness). No flip (every hand is
    # drawn as a right hand), no colour, blur or downscale (a drawing has none), black fill.
    "hand": AugmentSpec(
        rotation=12.0,
        zoom=(0.9, 1.1),
        translate=0.06,
        brightness=0.15,
        fill="constant",
    ),
}
"""Augmentations by task: ``"signs"`` (hand signs, RGB) and ``"mood"`` (gray face crops);
and by preprocessing step where a step's pictures need their own (``"hand"``)."""


def spec_for(task: str) -> AugmentSpec:
    """The preset :class:`AugmentSpec` of a task (a key of :data:`PRESETS`).

    Args:
        task: ``"signs"`` or ``"mood"``.

    Returns:
        The preset spec.

    Raises:
        ArgumentError: for an unknown task.

    Example:
        >>> spec_for("signs").flip, spec_for("mood").flip
        (False, True)
    """
    return PRESETS[choice(task, "task", tuple(PRESETS))]


# -------------------------------------------------------------------- augment_batch


def augment_batch(x: np.ndarray, spec: AugmentSpec, rng: np.random.Generator) -> np.ndarray:
    """Augment every image of a batch with its own random parameters.

    Draws ``16`` uniform numbers per image from ``rng`` (always the same amount, whatever
    the spec, so the generator's state after a call depends only on ``N``), maps them to
    the parameters of :class:`AugmentSpec`, then warps (:func:`affine`), recolours
    (:func:`adjust_color`), blurs (:func:`gaussian_blur`) and downscales
    (:func:`downscale`) in ``float32``, rounding to ``uint8`` once. Results do not depend
    on how the batch is chunked. ``x`` is never modified.

    Args:
        x: ``uint8`` images ``(N, H, W, C)``, ``C`` 1 or 3.
        spec: the augmentation, e.g. ``spec_for("signs")``.
        rng: the generator to draw from (its state advances).

    Returns:
        A new ``uint8`` array of the same shape.

    Raises:
        ArgumentError: for images that are not ``uint8`` ``(N, H, W, 1 or 3)``, a spec
            that is not an :class:`AugmentSpec` or an rng that is not a Generator.

    Example:
        >>> import numpy as np
        >>> x = np.full((2, 8, 8, 1), 128, np.uint8)
        >>> y = augment_batch(x, AugmentSpec(brightness=0.5), np.random.default_rng(0))
        >>> y.dtype, bool((y[0] != y[1]).any())
        (dtype('uint8'), True)
    """
    x = images(x, uint8=True)
    if not isinstance(spec, AugmentSpec):
        raise ArgumentError(
            f"spec must be an AugmentSpec (e.g. spec_for('signs')). Received: spec={spec!r}"
        )
    if not isinstance(rng, np.random.Generator):
        raise ArgumentError(
            "rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed)). "
            f"Received: rng={rng!r}"
        )
    return augment_with_draws(x, spec, rng.random((len(x), N_DRAWS)))


def augment_with_draws(x: np.ndarray, spec: AugmentSpec, u: np.ndarray) -> np.ndarray:
    """:func:`augment_batch` with its uniform draws given: ``u`` is float ``(N, 16)`` in
    [0, 1), row ``i`` for image ``i``. A streamed epoch draws every training image's row up
    front (``rng.random((n_train, 16))``, 128 bytes an image) and takes each batch's rows, so
    its images equal those :func:`augment_batch` makes of the whole split with that rng."""
    x = images(x, uint8=True)
    n, h, w, c = x.shape
    u = np.asarray(u, dtype=np.float64)
    if u.shape != (n, N_DRAWS):
        raise ArgumentError(f"u must have shape ({n}, {N_DRAWS}). Received: u.shape={u.shape}")
    sym = 2.0 * u - 1.0  # uniform in [-1, 1)
    angle = spec.rotation * sym[:, 0]
    z0, z1 = spec.zoom
    scale = z0 + (z1 - z0) * u[:, 1]
    shift = spec.translate * sym[:, 2:4]
    flip = spec.flip & (u[:, 4] < 0.5)
    brightness = 1.0 + spec.brightness * sym[:, 5]
    contrast = 1.0 + spec.contrast * sym[:, 6]
    saturation = 1.0 + spec.saturation * sym[:, 7]
    hue = spec.hue * sym[:, 8]
    gains = 1.0 + spec.white_balance * sym[:, 9:12]
    short = min(h, w)
    blur_on = u[:, 12] < spec.blur
    sigma = (0.3 + 1.2 * (1.0 - u[:, 13])) * short / 64.0  # (0.3, 1.5] * side / 64
    p_down, frac, top = spec.downscale
    down_on = u[:, 14] < p_down
    side = np.clip(np.rint((frac + (top - frac) * u[:, 15]) * short), 2, short).astype(int)

    do_geo = spec.rotation > 0 or spec.zoom != (1.0, 1.0) or spec.translate > 0 or spec.flip
    do_color = spec.brightness > 0 or spec.contrast > 0
    if c == 3:
        do_color = do_color or spec.saturation > 0 or spec.hue > 0 or spec.white_balance > 0
    out = np.empty_like(x)
    for sl in chunks(n, h, w):
        if do_geo:
            p = affine_f(x[sl], angle[sl], scale[sl], shift[sl], flip[sl], spec.fill)
        else:
            p = planar(x[sl])  # a copy: x is never written
        if do_color:
            p = color_f(p, brightness[sl], contrast[sl], saturation[sl], hue[sl], gains[sl])
        for on, op, arg in ((blur_on, blur_f, sigma), (down_on, downscale_f, side)):
            idx = np.flatnonzero(on[sl])
            if len(idx):
                p[:, idx] = op(p[:, idx], arg[sl][idx])
        finish(p, out[sl])  # clipped and rounded once, at the end
    return out
