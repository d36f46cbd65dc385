"""The model explorer's live camera: one frame (a JPEG the page grabbed from the camera)
through a run's own preparation and model, answered light enough for a few frames a second.

A frame is prepared exactly as an uploaded image (:meth:`RunsFolder.prepared`:
the run's size and colour, and its face or hand step), then the run's model gives the class
probabilities and the Grad-CAM of the predicted class over the crop it saw. No layer walk, no
feature maps: that is what makes it fast (docs/benchmarks.md#studio). Frames are never kept:
each is decoded from a private temporary file that is gone when the answer is made.
"""

from __future__ import annotations

import time

from cnnlab.data.prepare import STEPS, scale_pixels
from cnnlab.engines import engine_of
from cnnlab.errors import ArgumentError
from cnnlab.studio.encode import png_url
from cnnlab.studio.explorer import RunsFolder, decision
from cnnlab.training.engines import get_engine

__all__ = ["MAX_FRAME", "frame"]

MAX_FRAME = 2 * 1024 * 1024
"""The largest frame the route takes (bytes): a 640x480 JPEG is 30 to 150 KB."""


def frame(runs: RunsFolder, name: str, data: bytes) -> dict:
    """One camera frame through run ``name``: the crop its model saw, the class
    probabilities, the predicted class and the Grad-CAM over the crop.

    Args:
        runs: the studio's runs folder (its cached models and their locks are shared with
            the explorer).
        name: the run.
        data: the bytes of an image file (the page sends a JPEG).

    Returns:
        ``{"crop", "shape", "found", "note", "predicted", "probabilities", "grad_cam", "ms"}``
        (docs/studio-api.md).

    Raises:
        ArgumentError: the frame is empty or not an image (one line naming "the camera frame").
        NotFound: no such run.
    """
    t0 = time.perf_counter()
    if not data:
        raise ArgumentError("the camera frame is empty: send the JPEG's bytes as the body")
    run, image, found, inverted = runs.prepared(name, data, "the camera frame")
    cfg = run.config
    note = None
    if cfg.preprocess != "none" and not found:
        note = f"no {STEPS[cfg.preprocess].what} found"
    if inverted:
        note = "the frame was dark on light; the digits are light on dark, so it was inverted"
    x = scale_pixels(image[None])
    with runs.model_in_use(name) as (run, model):
        probs = get_engine(engine_of(model)).predict(model, x, 1)
        decided = decision(run, model, x, probs, "Grad-CAM is blank: no region speaks for it")
    return {
        "crop": png_url(image),
        "shape": list(image.shape),
        "found": bool(found),
        "note": note,
        **decided,
        "ms": round((time.perf_counter() - t0) * 1e3, 1),
    }
