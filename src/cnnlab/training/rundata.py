"""A run's dataset: loaded as its config says (in memory, or streamed a batch at a time when
asked or when the decoded images would not fit the memory budget), and what the runner says
about it (images without a face, class weights)."""

from __future__ import annotations

import os

from cnnlab.data import load_split
from cnnlab.data.prepare import STEPS
from cnnlab.data.source import count_images
from cnnlab.data.stream import in_memory_bytes, open_stream
from cnnlab.errors import ArgumentError
from cnnlab.limits import human_bytes
from cnnlab.training.config import TrainConfig


def load_data(
    config: TrainConfig,
    data: str | None = None,
    progress: bool | None = None,
    *,
    streamed: bool = False,
):
    """The run's dataset (``data`` overrides the source), split and sized as in training.

    With ``streamed`` and a run that streams (``config.stream``), a
    :class:`~cnnlab.data.stream.StreamDataset` (training and ``evaluate`` take one); else
    the images in memory (what the analysis tools need).
    """
    if not config.is_resolved:
        raise ArgumentError("load_data takes a resolved config: give config.resolved()")
    spec = config.split_spec()
    if streamed and data is None and config.stream:
        return open_stream(config.data, spec, strict=config.strict, progress=progress)
    return load_split(data if data is not None else config.data, spec, progress=progress)


def no_face_note(ds, preprocess: str = "face") -> str | None:
    """ "no face found in 12 of 150 images (...); used a centre crop", or None (the words
    are the step's: "no hand found ...; used a blank picture" for the hand step)."""
    missing, n = ds.meta.get("no_face", 0), ds.meta.get("n_images", 0)
    if not missing:
        return None
    examples = ds.meta.get("no_face_examples") or []
    shown = f" (e.g. {', '.join(examples[:3])})" if examples else ""
    step = STEPS[preprocess]
    return f"no {step.what} found in {missing} of {n} images{shown}; used {step.instead} for those"


def class_weights(ds, enabled: bool) -> dict[int, float] | None:
    if not enabled:
        return None
    return {int(k): float(v) for k, v in dict(ds.class_weights()).items()}


def memory_budget_default() -> int:
    """A quarter of the machine's RAM, in bytes."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def stream_notice(cfg: TrainConfig, budget: int | None) -> str | None:
    """The line that says why a run streams by itself, or None when it fits in memory.

    The in-memory estimate is :func:`cnnlab.data.stream.in_memory_bytes` of the source's
    image count (found without decoding; built-in sets never stream by themselves).
    """
    budget = memory_budget_default() if budget is None else budget
    n = count_images(cfg.data)
    if n is None:
        return None
    shape = (*cfg.image_size, 1 if cfg.grayscale else 3)
    need = in_memory_bytes(n, shape)
    if need <= budget:
        return None
    return (
        f"streaming the images from disk: in memory, {n:,} images of {shape[0]}x{shape[1]}x"
        f"{shape[2]} would take about {human_bytes(need)}, over the memory budget of "
        f"{human_bytes(budget)} (--memory-budget)"
    )
