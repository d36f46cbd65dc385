"""The tasks cnnlab trains for, as one table: what each one defaults to and how its model's
outputs are read.

A task decides the default data, the default preprocessing step, the course model, the
output layer and loss, how a model's outputs become probabilities and labels, how many
classes its data may have, the augmentation preset and the shifted test sets it is
evaluated on. Everything else in cnnlab asks the task (``get_task(cfg.task).loss``) instead
of testing its name, so a new task is one more entry in :data:`TASKS`.

Example:
    >>> mood = get_task("mood")
    >>> mood.loss, mood.output_units(2), mood.default_preprocess
    ('binary_crossentropy', 1, 'face')
    >>> get_task("signs").probabilities([[0.1, 0.9]]).tolist()
    [[0.1, 0.9]]
    >>> mood.probabilities([[0.8]]).round(2).tolist()
    [[0.2, 0.8]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import ArgumentError, DatasetError

__all__ = ["TASKS", "Task", "get_task"]


@dataclass(frozen=True)
class Task:
    """One task: its defaults and how its model's outputs are read.

    Attributes:
        name: the task's name (``--task``).
        description: one line for help texts.
        course_model: the course's architecture for it (``"happy"``: Sequential API,
            ``"signs"``: Functional API).
        binary: one sigmoid output unit and binary cross-entropy (its probabilities are shown
            as two columns, ``1 - p`` and ``p``); else a softmax over the classes and sparse
            categorical cross-entropy.
        n_classes: the number of classes its data must have; ``None``: any number >= 2.
        default_data: the data a run trains on when none is given.
        default_preprocess: the preprocessing step of :data:`cnnlab.data.prepare.STEPS`
            applied to every image when none is given (the built-in sets, digits and
            synthetic, keep ``"none"``: see ``TrainConfig.resolved``).
        augment: the augmentation preset of :data:`cnnlab.data.augment.PRESETS`.
        flip: whether a mirrored image keeps its class (Keras's own augmentation layers).
        shifts: the shifted test sets of :mod:`cnnlab.data.shifts` it is evaluated on.
        default_model: the model a run trains when none is given (``--model``).
    """

    name: str
    description: str
    course_model: str
    binary: bool
    n_classes: int | None
    default_data: str
    default_preprocess: str
    augment: str
    flip: bool
    shifts: tuple[str, ...]
    default_model: str = "recommended"

    @property
    def loss(self) -> str:
        """The Keras name of the loss both engines train with."""
        return "binary_crossentropy" if self.binary else "sparse_categorical_crossentropy"

    def output_units(self, n_classes: int) -> int:
        """Units of the output layer for ``n_classes`` classes."""
        return 1 if self.binary else int(n_classes)

    def targets(self, y) -> np.ndarray:
        """Labels as the loss takes them: float32 ``(N, 1)`` when binary, else int64 ``(N,)``."""
        if self.binary:
            return np.asarray(y, dtype=np.float32).reshape(-1, 1)
        return np.asarray(y, dtype=np.int64)

    def probabilities(self, outputs) -> np.ndarray:
        """A model's outputs as float64 ``(N, n_classes)`` probabilities (a binary model's
        one sigmoid output ``p`` is the two columns ``1 - p`` and ``p``)."""
        probs = np.asarray(outputs, dtype=np.float64)
        if self.binary:
            p = probs.reshape(-1, 1)
            return np.concatenate([1.0 - p, p], axis=1)
        return probs.reshape(len(probs), -1)

    def labels(self, outputs) -> tuple[np.ndarray, np.ndarray]:
        """A model's outputs -> (predicted class ``(N,)`` int64, its probability ``(N,)``).

        A binary output of exactly 0.5 is class 1, as Keras's binary accuracy counts it.
        """
        if self.binary:
            p = np.asarray(outputs, dtype=np.float64).reshape(-1)
            labels = (p >= 0.5).astype(np.int64)
            return labels, np.where(labels == 1, p, 1.0 - p)
        probs = self.probabilities(outputs)
        labels = probs.argmax(axis=1).astype(np.int64)
        return labels, probs[np.arange(len(labels)), labels]

    def top_k(self, outputs, k: int) -> list[list[tuple[int, float]]]:
        """Each row's ``k`` most probable classes ``[(index, probability), ...]``, best first."""
        probs = self.probabilities(outputs)
        order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
        return [
            [(int(j), float(row[j])) for j in idx] for row, idx in zip(probs, order, strict=True)
        ]

    def check_n_classes(self, n_classes: int | None) -> None:
        """``ArgumentError`` when a model of this task cannot have ``n_classes`` outputs."""
        if n_classes is not None and self.n_classes is not None and n_classes != self.n_classes:
            raise ArgumentError(
                f"task {self.name!r} needs exactly {self.n_classes} classes. "
                f"Received: n_classes={n_classes}"
            )

    def check_classes(self, n_classes: int, data: str) -> None:
        """``DatasetError`` when the dataset ``data`` has a class count this task can't use."""
        if self.n_classes is not None and n_classes != self.n_classes:
            raise DatasetError(
                f"{data}: task {self.name!r} needs exactly {self.n_classes} classes "
                f"({self.description}); this dataset has {n_classes}"
            )
        if n_classes < 2:
            raise DatasetError(f"{data}: needs at least 2 classes; found {n_classes}")


TASKS: dict[str, Task] = {
    "mood": Task(
        name="mood",
        description="not smiling, smiling",
        course_model="happy",
        binary=True,
        n_classes=2,
        default_data="smiles",
        default_preprocess="face",
        augment="mood",
        flip=True,  # a mirrored face keeps its mood
        shifts=("rotate", "zoom_out", "recolor", "lowres", "frame"),
        # fer's expression backbone: 84.2% on photos from elsewhere where "recommended" got
        # 60% (docs/out-of-domain.md); "recommended" where there is no face step.
        default_model="transfer",
    ),
    "signs": Task(
        name="signs",
        description="multiclass: which sign, digit or class",
        course_model="signs",
        binary=False,
        n_classes=None,
        default_data="digits",
        default_preprocess="hand",  # photos of hands; the built-in digits keep "none"
        augment="signs",
        flip=False,  # a mirrored right hand is a left hand
        shifts=("rotate", "zoom_out", "recolor", "lowres"),
        default_model="recommended",
    ),
}
"""Every task, by name. Add an entry to add a task."""


def get_task(name) -> Task:
    """The :class:`Task` called ``name``, or ``ArgumentError`` naming the choices."""
    if isinstance(name, Task):
        return name
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ArgumentError(
            f"task must be one of {', '.join(TASKS)}. Received: task={name!r}"
        ) from None
