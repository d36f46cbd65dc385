"""The data as the engines take it: pixels scaled to [0, 1], targets shaped for the task's
loss, each epoch's augmented training images, and streamed splits a batch at a time
(:class:`StreamFeed`), all drawn from (seed, epoch) alone so that a resumed run, a streamed
run and an in-memory run see the same batches."""

from __future__ import annotations

import numpy as np

from cnnlab.data.augment import (
    N_DRAWS,
    PRESETS,
    augment_batch,
    augment_with_draws,
    spec_for,
)
from cnnlab.data.prepare import scale_pixels
from cnnlab.errors import DatasetError
from cnnlab.keras_models import AUGMENT_MIN_SIDE
from cnnlab.tasks import get_task
from cnnlab.training.config import TrainConfig


def augmentation(cfg: TrainConfig, image_shape) -> object | None:
    """The :class:`cnnlab.data.augment.AugmentSpec` a run draws its training images from each
    epoch, or None: the recommended and transfer models augment (the course's are trained as
    the course trains them), and only images of at least ``AUGMENT_MIN_SIDE`` pixels (on 8x8
    digits a shift or a rotation destroys more than it teaches)."""
    if not cfg.augment or cfg.model == "course":
        return None
    if min(image_shape[0], image_shape[1]) < AUGMENT_MIN_SIDE:
        return None
    # A step whose pictures are not photos (the hand step's pose drawings) has its own preset.
    preset = cfg.preprocess if cfg.preprocess in PRESETS else get_task(cfg.task).augment
    return spec_for(preset)


def epoch_images(x: np.ndarray, spec, seed: int, epoch: int) -> np.ndarray:
    """Epoch ``epoch``'s training images: ``x`` augmented as ``spec`` says, drawn from
    (seed, epoch) alone, so a resumed run sees what an uninterrupted one sees."""
    rng = np.random.default_rng([seed, epoch, 0xA0])
    return scale_pixels(augment_batch(x, spec, rng))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order a streamed epoch reads its training images in: the NumPy engine's own
    shuffling order for (seed, epoch), so streamed and in-memory runs see the same batches."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class StreamFeed:
    """One pass over a streamed split, as either engine takes it: iterate it for the NumPy
    engine's ``fit`` (``(x, y)`` batches, x float32 in [0, 1]), or :meth:`tf` for Keras.

    A training epoch (``epoch`` given) reads the images in :func:`epoch_order` (unless
    ``shuffle`` is False) and augments them with each image's own row of the epoch's draws
    (the draws :func:`epoch_images` makes for the whole split), so its batches equal the
    in-memory path's. A pass in which no image could be read raises ``DatasetError``.
    """

    def __init__(
        self,
        ds,
        split: str,
        cfg: TrainConfig,
        batch_size: int,
        *,
        epoch=None,
        spec=None,
        shuffle: bool = True,
    ):
        self.ds, self.split, self.batch_size = ds, split, batch_size
        self.task = get_task(cfg.task)
        n = len(ds.parts[split])
        self.order = None
        self.draws = None
        if epoch is not None and shuffle:
            self.order = epoch_order(n, cfg.seed, epoch)
        if epoch is not None and spec is not None:
            rng = np.random.default_rng([cfg.seed, epoch, 0xA0])
            self.draws = rng.random((n, N_DRAWS))
        self.spec = spec
        self.images = 0

    def __len__(self) -> int:
        return -(-len(self.ds.parts[self.split]) // self.batch_size)

    def finish(self, x: np.ndarray, y: np.ndarray, positions: np.ndarray):
        """uint8 images of the split at ``positions`` -> ``(x float32, y targets)``."""
        if self.draws is not None and len(x):
            x = augment_with_draws(x, self.spec, self.draws[positions])
        self.images += len(x)
        return scale_pixels(x), self.task.targets(y)

    def __iter__(self):
        self.images = 0
        for x, y, pos in self.ds.batches(self.split, self.batch_size, self.order):
            yield self.finish(x, y, pos)
        self.check()

    def tf(self, options=None):
        """The pass as a ``tf.data.Dataset`` of ``(x, y)`` batches."""
        self.images = 0
        return self.ds.tf_dataset(
            self.split, self.batch_size, self.finish, order=self.order, options=options
        )

    def check(self) -> None:
        """Raise ``DatasetError`` when the pass read no image at all."""
        if self.images == 0:
            skipped = self.ds.skipped.take()
            first = f"; the first: {skipped[0]}" if skipped else ""
            raise DatasetError(
                f"{self.ds.source}: no image of the {self.split} split could be read "
                f"({len(skipped)} skipped){first}"
            )


def skipped_note(ds, epoch: int) -> str | None:
    """ "epoch 3: skipped 2 unreadable images: a.jpg: ...; b.png: ..." or None."""
    if not getattr(ds, "streamed", False):
        return None
    skipped = ds.skipped.take()
    if not skipped:
        return None
    n = len(skipped)
    return (
        f"epoch {epoch + 1}: skipped {n} unreadable image{'s' if n != 1 else ''} "
        f"(--strict stops instead): {'; '.join(skipped)}"
    )


def stream_predict(engine, model, ds, split: str, cfg: TrainConfig, batch_size: int):
    """``(probabilities, labels)`` of a streamed split, a batch at a time (labels of the
    images that could be read)."""
    probs, labels = [], []
    for x, y, _ in ds.batches(split, batch_size):
        probs.append(np.asarray(engine.predict(model, scale_pixels(x), batch_size)))
        labels.append(y)
    if not probs:
        return np.zeros((0, 1)), np.zeros(0, dtype=np.int64)
    return np.concatenate(probs), np.concatenate(labels)
