"""The data as the runner feeds it to either engine: the run's dataset (in memory, or streamed
a batch at a time: :class:`StreamFeed`), pixels scaled to [0, 1], targets shaped for the loss,
class weights, and model outputs back to labels."""

from __future__ import annotations

import numpy as np

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
    from cnnlab.data import load_dataset

    cfg = config.resolved()
    split_and_size = dict(
        image_size=cfg.image_size,
        grayscale=cfg.grayscale,
        seed=cfg.seed,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        preprocess=cfg.preprocess,
        progress=progress,
    )
    if streamed and data is None and cfg.stream:
        from cnnlab.data.stream import open_stream

        return open_stream(cfg.data, strict=cfg.strict, **split_and_size)
    return load_dataset(data if data is not None else cfg.data, **split_and_size)


def no_face_note(ds) -> str | None:
    """ "no face found in 12 of 150 images (...); used a centre crop", or None."""
    missing, n = ds.meta.get("no_face", 0), ds.meta.get("n_images", 0)
    if not missing:
        return None
    examples = ds.meta.get("no_face_examples") or []
    shown = f" (e.g. {', '.join(examples[:3])})" if examples else ""
    return f"no face found in {missing} of {n} images{shown}; used a centre crop for those"


def augmentation(cfg: TrainConfig, image_shape) -> object | None:
    """The :class:`cnnlab.data.augment.AugmentSpec` a run draws its training images from each
    epoch, or None: only the recommended models augment (the course's are trained as the
    course trains them), and only images of at least ``AUGMENT_MIN_SIDE`` pixels (on 8x8
    digits a shift or a rotation destroys more than it teaches)."""
    from cnnlab.keras_models import AUGMENT_MIN_SIDE

    if not cfg.augment or cfg.model != "recommended":
        return None
    if min(image_shape[0], image_shape[1]) < AUGMENT_MIN_SIDE:
        return None
    from cnnlab.data.augment import spec_for

    return spec_for(cfg.task)


def epoch_images(x: np.ndarray, spec, seed: int, epoch: int) -> np.ndarray:
    """Epoch ``epoch``'s training images: ``x`` augmented as ``spec`` says, drawn from
    (seed, epoch) alone, so a resumed run sees what an uninterrupted one sees."""
    from cnnlab.data.augment import augment_batch

    rng = np.random.default_rng([seed, epoch, 0xA0])
    return preprocess(augment_batch(x, spec, rng))


def preprocess(x: np.ndarray) -> np.ndarray:
    """uint8 ``(N, H, W, C)`` -> float32 ``(N, H, W, C)`` in [0, 1]."""
    return np.asarray(x, dtype=np.float32) / np.float32(255.0)


def targets(y: np.ndarray, task: str) -> np.ndarray:
    """Labels as the loss wants them: float32 ``(N, 1)`` for mood, int64 ``(N,)`` for signs."""
    if task == "mood":
        return np.asarray(y, dtype=np.float32).reshape(-1, 1)
    return np.asarray(y, dtype=np.int64)


def probabilities_to_labels(probs: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs -> (predicted class index ``(N,)``, its probability ``(N,)``)."""
    probs = np.asarray(probs, dtype=np.float64)
    if task == "mood":
        p = probs.reshape(-1)
        labels = (p >= 0.5).astype(np.int64)
        return labels, np.where(labels == 1, p, 1.0 - p)
    labels = probs.argmax(axis=1).astype(np.int64)
    return labels, probs[np.arange(len(labels)), labels]


def _check_classes(task: str, n_classes: int, data: str) -> None:
    from cnnlab.errors import DatasetError

    if task == "mood" and n_classes != 2:
        raise DatasetError(
            f"{data}: task 'mood' needs exactly 2 classes (not smiling, smiling); "
            f"this dataset has {n_classes}"
        )
    if n_classes < 2:
        raise DatasetError(f"{data}: needs at least 2 classes; found {n_classes}")


def _class_weight(ds, enabled: bool) -> dict[int, float] | None:
    if not enabled:
        return None
    return {int(k): float(v) for k, v in dict(ds.class_weights()).items()}


# ------------------------------------------------------------------------ streaming


def memory_budget_default() -> int:
    """A quarter of the machine's RAM, in bytes."""
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def stream_notice(cfg: TrainConfig, budget: int | None) -> str | None:
    """The line that says why a run streams by itself, or None when it fits in memory.

    The in-memory estimate is :func:`cnnlab.data.stream.in_memory_bytes` of the source's
    image count (found without decoding; built-in sets never stream by themselves).
    """
    from cnnlab.data.stream import count_images, in_memory_bytes
    from cnnlab.limits import human_bytes

    cfg = cfg.resolved()
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
        from cnnlab.data.augment import N_DRAWS

        self.ds, self.split, self.batch_size = ds, split, batch_size
        self.task = cfg.task
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
            from cnnlab.data.augment import augment_with_draws

            x = augment_with_draws(x, self.spec, self.draws[positions])
        self.images += len(x)
        return preprocess(x), targets(y, self.task)

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
        from cnnlab.errors import DatasetError

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
        probs.append(np.asarray(engine.predict(model, preprocess(x), batch_size)))
        labels.append(y)
    if not probs:
        return np.zeros((0, 1)), np.zeros(0, dtype=np.int64)
    return np.concatenate(probs), np.concatenate(labels)
