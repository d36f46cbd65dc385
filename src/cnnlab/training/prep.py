"""The data as the runner feeds it to either engine: the run's dataset, pixels scaled to
[0, 1], targets shaped for the loss, class weights, and model outputs back to labels."""

from __future__ import annotations

import numpy as np

from cnnlab.training.config import TrainConfig


def load_data(config: TrainConfig, data: str | None = None, progress: bool | None = None):
    """The run's dataset (``data`` overrides the source), split and sized as in training."""
    from cnnlab.data import load_dataset

    cfg = config.resolved()
    return load_dataset(
        data if data is not None else cfg.data,
        image_size=cfg.image_size,
        grayscale=cfg.grayscale,
        seed=cfg.seed,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.test_fraction,
        progress=progress,
        preprocess=cfg.preprocess,
    )


def no_face_note(ds) -> str | None:
    """"no face found in 12 of 150 images (...); used a centre crop", or None."""
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
