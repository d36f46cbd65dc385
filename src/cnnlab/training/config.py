"""What a run is asked to do: :class:`TrainConfig`, its defaults and schedules, and the names
of the files a run directory holds."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cnnlab import numpy_models
from cnnlab.data import BUILTIN, REGISTRY
from cnnlab.data.images import DEFAULT_IMAGE_SIZE, normalize_image_size
from cnnlab.data.prepare import PREPROCESS, STEPS
from cnnlab.data.source import SplitSpec
from cnnlab.engines import ENGINES
from cnnlab.errors import ArgumentError
from cnnlab.keras_models import check_task_model
from cnnlab.tasks import get_task

DISTRIBUTE = ("none", "mirrored", "multiworker")
MODEL_FILES = {"keras": "model.keras", "numpy": "model.npz"}
DIGITS_IMAGE_SIZE = (16, 16)
"""The built-in 8x8 digits are upscaled to this size by default: a 16x16 map leaves room for
two poolings (about 99% test accuracy against 98% at 8x8) and the default run stays well under
a minute on 2 cores."""
MAX_EPOCHS_AND_BATCH = 1_000_000
"""The largest ``epochs`` or ``batch_size`` a run takes (a million epochs of the smallest set
would already run for days)."""
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
SCHEDULES = ("constant", "cosine")
CHECKPOINT_FILE = re.compile(r"model-epoch-(\d{4,})\.(npz|keras)")
"""The name of a checkpoint's model file: ``model-epoch-0003.npz`` holds 3 epochs."""
BEST_FILE = re.compile(r"model-best-(\d{4,})\.(npz|keras)")
"""The name of the best epoch's model file: ``model-best-0002.npz`` holds epoch 2's weights,
the lowest validation loss so far (its epoch is in the name, so a file never changes content)."""
HEAD_LR_FACTOR = 10.0
"""A transfer model's head-only epochs learn at this times the run's learning rate (1e-2 by
default): the new head starts at zero on the backbone's frozen logits. Its fine-tuning epochs
learn at the run's rate (1e-3), a tenth of the head's, so the unfrozen pretrained layers move
gently. Measured on smiles (docs/out-of-domain.md): head 1e-3 then 1e-4 reached 86% on the
validation split in 2 head epochs and 62.5% on the photos from elsewhere; 1e-2 then 1e-3,
86% after one epoch and 75-85% on them, at the same test accuracy."""


@dataclass
class TrainConfig:
    """What to train and how. ``None`` fields are resolved when training starts.

    Attributes:
        task: "signs" (multiclass, softmax) or "mood" (binary, sigmoid).
        engine: "keras" or "numpy" (the NumPy engine, :mod:`cnnlab.nn`).
        model: "course" (the course's SIGNS / Happy model), "recommended" or "transfer" (a
            pretrained backbone with a new head: :func:`cnnlab.keras_models.transfer_model`,
            :func:`cnnlab.numpy_models.transfer_model`; mood only); ``None``: the task's
            ``default_model`` (:data:`cnnlab.tasks.TASKS`), or "recommended" where the engine
            cannot build it.
        data: a dataset name ("digits", "signs", "smiles", "synthetic"), a folder of
            class subfolders, or a course .h5 file; ``None``: "digits" for signs,
            "smiles" for mood.
        epochs: number of epochs; ``None``: :func:`default_epochs` of the model.
        batch_size: mini-batch size.
        seed: seed of the split, the initial weights, the shuffling and augmentation.
        out: run directory; ``None``: ``runs/<task>-<model>-<engine>-<time>``.
        learning_rate: Adam's learning rate.
        image_size: ``(H, W)`` images are resized to; ``None``: 16x16 for digits, else 64x64.
        grayscale: one channel instead of RGB; ``None``: True for digits, else False.
        val_fraction, test_fraction: share of each class for validation and test.
        class_weight: weight the loss by inverse class frequency (for imbalanced data);
            ``None``: on for the transfer model, off otherwise (see :func:`default_class_weight`).
        augment: augment the training images each epoch (the recommended models only, images
            of at least 32 pixels): the task's preset of :mod:`cnnlab.data.augment`, drawn
            in NumPy from (seed, epoch), so both engines see the same images and a resumed run
            draws what an uninterrupted one draws.
        schedule: learning rate per epoch: "constant", or "cosine" (from ``learning_rate``
            down towards 0 over ``epochs``, by epoch); ``None``: cosine for the recommended
            models, constant for the course's.
        preprocess: "face" (detect, align and crop the face; :mod:`cnnlab.data.faces`),
            "hand" (the hand's pose drawn on black; :mod:`cnnlab.data.hands`) or "none";
            ``None``: the task's default ("face" for mood, "hand" for signs), but "none" for
            the built-in sets (digits, synthetic) and for images smaller than the step takes
            (the hand step: under 32x32). Recorded in config.json, so evaluate,
            predict and show apply it without being told. "hand" needs images of at least
            32x32 pixels (``ArgumentError`` on the built-in digits).
        restore_best: at the end, make the epoch with the lowest validation loss the run's
            model (model.npz / model.keras), as Keras's ``EarlyStopping(restore_best_weights=
            True)`` does; False: the last epoch's. Either way the best epoch's weights are kept
            (``model-best-NNNN``) and metrics.json reports both epochs. Without a validation
            split the last epoch is the model. Runs made before this option keep the last.
        patience: stop when the validation loss has not improved (strictly decreased) for this
            many epochs in a row; ``None``: train all ``epochs``. Needs a validation split.
        tensorboard: also log each epoch to ``RUN/tensorboard/`` (``train/`` and
            ``validation/``: loss, accuracy, learning rate, and the validation confusion
            matrix as an image), for either engine; a resumed run appends to the same log.
        stream: read the images a batch at a time instead of decoding the whole set into
            memory (:mod:`cnnlab.data.stream`); :func:`~cnnlab.training.train` also turns it
            on by itself when the decoded set would exceed its memory budget. The same split
            and, for the NumPy engine, the same batches and weights as in memory.
        strict: with ``stream``, stop at the first unreadable image instead of skipping it
            (skipped images are reported at the end of each epoch).
        distribute: "none", "mirrored" (``tf.distribute.MirroredStrategy`` over the local
            GPUs, else the CPU's logical devices) or "multiworker"
            (``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``); Keras engine only.
            ``batch_size`` is per replica: the global batch is it times the replicas.
        cpu_replicas: split the CPU into this many logical devices
            (``tf.config.set_logical_device_configuration``) for ``distribute``; ``None``:
            one.
        unfreeze_epoch: for ``model="transfer"``: the first epoch (0-based) that fine-tunes
            the backbone's top block (at the learning rate); the epochs before it train
            the head only, on the frozen backbone (at ``HEAD_LR_FACTOR`` times it). ``None``:
            :func:`default_unfreeze_epoch`. A function of the epoch, recorded in
            config.json, so a resumed run freezes and unfreezes as an uninterrupted one.
    """

    task: str = "signs"
    engine: str = "keras"
    model: str | None = None
    data: str | None = None
    epochs: int | None = None
    batch_size: int = 32
    seed: int = 0
    out: str | None = None
    learning_rate: float = 1e-3
    image_size: tuple[int, int] | None = None
    grayscale: bool | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    class_weight: bool | None = None
    augment: bool = True
    schedule: str | None = None
    preprocess: str | None = None
    restore_best: bool = True
    patience: int | None = None
    tensorboard: bool = False
    stream: bool = False
    strict: bool = False
    distribute: str = "none"
    cpu_replicas: int | None = None
    unfreeze_epoch: int | None = None

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.engine not in ENGINES:
            raise ArgumentError(
                f"engine must be one of {', '.join(ENGINES)}. Received: engine={self.engine!r}"
            )
        if self.model is not None:
            check_task_model(self.task, self.model)  # a known model the task can have
            if self.engine == "numpy":
                numpy_models.check_engine_model(self.model)
            if self.model == "transfer" and self.distribute != "none":
                raise ArgumentError(
                    "model 'transfer' recompiles when it unfreezes its backbone, which "
                    "distributed training does not do yet; use --distribute none"
                )
        u = self.unfreeze_epoch
        if u is not None:
            if isinstance(u, bool) or not isinstance(u, int) or u < 0:
                raise ArgumentError(
                    f"unfreeze_epoch must be a non-negative integer. Received: unfreeze_epoch={u!r}"
                )
            if self.model is not None and self.model != "transfer":
                raise ArgumentError(
                    "unfreeze_epoch is for model 'transfer' (a pretrained backbone). "
                    f"Received: unfreeze_epoch={u}, model={self.model!r}"
                )
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is None and name == "epochs":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ArgumentError(
                    f"{name} must be a positive integer. Received: {name}={value!r}"
                )
            if value > MAX_EPOCHS_AND_BATCH:
                raise ArgumentError(
                    f"{name} must be at most {MAX_EPOCHS_AND_BATCH:,}. Received: {name}={value!r}"
                )
        p = self.patience
        if p is not None and (isinstance(p, bool) or not isinstance(p, int) or p < 1):
            raise ArgumentError(f"patience must be a positive integer. Received: patience={p!r}")
        if self.distribute not in DISTRIBUTE:
            raise ArgumentError(
                f"distribute must be one of {', '.join(DISTRIBUTE)}. "
                f"Received: distribute={self.distribute!r}"
            )
        if self.distribute != "none" and self.engine != "keras":
            raise ArgumentError(
                f"distribute={self.distribute!r} needs the Keras engine (tf.distribute); the "
                "NumPy engine trains in one process on one device. Use --engine keras"
            )
        r = self.cpu_replicas
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise ArgumentError(
                f"cpu_replicas must be a positive integer. Received: cpu_replicas={r!r}"
            )
        cores = os.cpu_count() or 1
        if r is not None and r > cores:
            raise ArgumentError(
                f"cpu_replicas must be at most the {cores} CPU cores of this machine. "
                f"Received: cpu_replicas={r}"
            )
        if r is not None and self.distribute == "none":
            raise ArgumentError(
                "cpu_replicas splits the CPU for a distributed run; give distribute='mirrored' "
                f"or 'multiworker' with it. Received: cpu_replicas={r}, distribute='none'"
            )
        for name in ("restore_best", "tensorboard", "stream", "strict"):
            if not isinstance(getattr(self, name), bool):
                raise ArgumentError(
                    f"{name} must be True or False. Received: {name}={getattr(self, name)!r}"
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ArgumentError(
                f"seed must be a non-negative integer. Received: seed={self.seed!r}"
            )
        lr = self.learning_rate
        if isinstance(lr, bool) or not (isinstance(lr, int | float) and 0 < lr < math.inf):
            raise ArgumentError(
                f"learning_rate must be a positive finite number. Received: learning_rate={lr!r}"
            )
        if self.schedule is not None and self.schedule not in SCHEDULES:
            raise ArgumentError(
                f"schedule must be one of {', '.join(SCHEDULES)}. "
                f"Received: schedule={self.schedule!r}"
            )
        if self.preprocess is not None and self.preprocess not in PREPROCESS:
            raise ArgumentError(
                f"preprocess must be one of {', '.join(PREPROCESS)}. "
                f"Received: preprocess={self.preprocess!r}"
            )
        if self.image_size is not None:
            self.image_size = normalize_image_size(self.image_size)

    def split_spec(self) -> SplitSpec:
        """How the run's images are sized, coloured, preprocessed and split (a resolved
        config's)."""
        return SplitSpec(
            image_size=self.image_size,
            grayscale=self.grayscale,
            seed=self.seed,
            val_fraction=self.val_fraction,
            test_fraction=self.test_fraction,
            preprocess=self.preprocess,
        )

    @property
    def is_resolved(self) -> bool:
        """Whether every default is filled in (what a run directory's config.json holds)."""
        filled = (
            self.model,
            self.data,
            self.image_size,
            self.grayscale,
            self.schedule,
            self.preprocess,
            self.class_weight,
            self.epochs,
        )
        if None in filled or (self.model == "transfer" and self.unfreeze_epoch is None):
            return False
        return self.data in _dataset_names() or Path(self.data).is_absolute()

    def resolved(self) -> TrainConfig:
        """A copy with the ``None`` defaults filled in, from the task's entry in
        :data:`cnnlab.tasks.TASKS` (data, preprocessing) and the data (image size, colour),
        with a relative data path made absolute. A run resolves its config once, when it is
        made (:func:`~cnnlab.training.train`) or loaded (:func:`~cnnlab.training.load_run`);
        everything that reads a run takes ``run.config`` as it is. Resolving a resolved
        config returns it unchanged."""
        if self.is_resolved:
            return self
        task = get_task(self.task)
        data = self.data if self.data is not None else task.default_data
        if data not in _dataset_names():  # a path: keep it valid from any directory
            data = str(Path(data).expanduser().resolve())
        digits = data == "digits"
        size = self.image_size or (DIGITS_IMAGE_SIZE if digits else DEFAULT_IMAGE_SIZE)
        gray = self.grayscale if self.grayscale is not None else digits
        # The built-in sets (8x8 digits, synthetic shapes) hold no faces nor hands.
        builtin = data in BUILTIN
        preprocess = self.preprocess or ("none" if builtin else task.default_preprocess)
        default_step = STEPS.get(preprocess) if self.preprocess is None else None
        if default_step is not None and min(size) < default_step.min_side:
            preprocess = "none"  # the task's default step is for photos this size or larger
        step = STEPS.get(preprocess)
        if step is not None and step.min_side > 1 and (digits or min(size) < step.min_side):
            seen = "the built-in 8x8 digits" if digits else f"{size[0]}x{size[1]} images"
            raise ArgumentError(
                f"preprocess {preprocess!r} needs images of at least {step.min_side}x"
                f"{step.min_side} pixels with a {step.what} in them; {seen} have none to "
                f"find. Received: preprocess={preprocess!r}, data={data!r}, "
                f"image_size={tuple(size)}"
            )
        model = self.model or default_model(self.task, self.engine)
        if self.model is None and model == "transfer":
            # The pretrained backbone reads faces: without the face step (the built-in sets,
            # images under its size, --preprocess none) the default is "recommended"; also
            # under a distribution strategy, which "transfer" does not support yet.
            if preprocess == "none" or self.distribute != "none":
                model = "recommended"
        schedule = self.schedule or default_schedule(model)
        epochs = self.epochs if self.epochs is not None else default_epochs(model)
        unfreeze = self.unfreeze_epoch
        if model == "transfer" and unfreeze is None:
            unfreeze = default_unfreeze_epoch(epochs)
        class_weight = self.class_weight
        if class_weight is None:
            class_weight = default_class_weight(model)
        return dataclasses.replace(
            self,
            model=model,
            class_weight=class_weight,
            epochs=epochs,
            unfreeze_epoch=unfreeze,
            data=data,
            image_size=tuple(size),
            grayscale=gray,
            schedule=schedule,
            preprocess=preprocess,
        )

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0-based) under the schedule (a transfer
        model's head-only epochs: ``HEAD_LR_FACTOR`` times it)."""
        model = self.model or default_model(self.task, self.engine)
        rate = float(self.learning_rate)
        if model == "transfer" and not self.fine_tunes(epoch):
            rate *= HEAD_LR_FACTOR
        if (self.schedule or default_schedule(model)) == "constant":
            return rate
        epochs = self.epochs or default_epochs(model)
        return rate * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))

    def fine_tunes(self, epoch: int) -> bool:
        """Whether epoch ``epoch`` (0-based) fine-tunes a transfer model's backbone (False
        for the head's epochs and for every other model)."""
        model = self.model or default_model(self.task, self.engine)
        if model != "transfer":
            return False
        unfreeze = self.unfreeze_epoch
        if unfreeze is None:
            unfreeze = default_unfreeze_epoch(self.epochs or default_epochs(model))
        return epoch >= unfreeze

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        if d["image_size"] is not None:
            d["image_size"] = list(d["image_size"])
        return d

    @classmethod
    def from_json(cls, d: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ArgumentError(f"unknown config keys: {', '.join(unknown)}")
        d = dict(d)
        # Runs made before the face step existed used whole images: keep them as they were.
        d.setdefault("preprocess", "none")
        # Runs made before the class weight had a per-model default wrote it as a bool.
        d.setdefault("class_weight", False)
        # Runs made before the best epoch was kept ended with their last epoch's weights.
        d.setdefault("restore_best", False)
        if d.get("image_size") is not None:
            d["image_size"] = tuple(d["image_size"])
        return cls(**d)


def default_model(task: str, engine: str = "keras") -> str:
    """The model a run trains when none is given: the task's ``default_model``, or
    "recommended" where the engine cannot build that one (the NumPy engine and "transfer")."""
    model = get_task(task).default_model
    if engine == "numpy" and model not in numpy_models.MODELS:
        return "recommended"
    return model


def default_epochs(model: str) -> int:
    """The epochs a run trains when not told: 15, and 6 for the transfer model, whose
    pretrained backbone needs few (on smiles its validation loss is flat from epoch 4-6 on;
    15 would take 2.5 times as long)."""
    return 6 if model == "transfer" else 15


def default_class_weight(model: str) -> bool:
    """Whether a run weights its loss by inverse class frequency when not told: the transfer
    model does. The photos a user brings have no known share of each class, and weighting the
    classes equally makes the model assume even odds instead of its training folder's (the
    smiles set is 28% smiling): on the photos from elsewhere, 82.5% against 70.0% unweighted
    (seed 0; docs/out-of-domain.md). The other models keep the course's unweighted loss."""
    return model == "transfer"


def default_unfreeze_epoch(epochs: int) -> int:
    """A transfer model's first fine-tuning epoch when none is given: a third of the run
    trains the head on the frozen backbone (at least one epoch), the rest fine-tunes."""
    return max(1, epochs // 3)


def default_schedule(model: str) -> str:
    """The learning-rate schedule of a model when none is given: cosine for the recommended
    models, constant for the course's (as the course trains them)."""
    return "cosine" if model == "recommended" else "constant"


def _dataset_names() -> set[str]:

    return set(BUILTIN) | set(REGISTRY)
