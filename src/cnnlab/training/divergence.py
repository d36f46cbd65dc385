"""Divergence: stop at the first non-finite loss (or weights, or validation loss), refuse
non-finite inputs, and warn once when the loss explodes."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cnnlab.errors import DatasetError, RunError
from cnnlab.training.config import TrainConfig
from cnnlab.training.rundir import Run

GROWTH_WARNING = 100.0
"""A loss more than this many times the run's first loss gets one warning."""


class TrainingDiverged(RunError):
    """Training reached a non-finite loss and stopped; the last finite checkpoint was kept.

    Attributes:
        run: the :class:`Run` as kept (its metrics are the last finite checkpoint's), or
            ``None`` when no epoch had finished (nothing was kept).
        epoch: the 1-based epoch that diverged. batch: its 1-based batch, or ``None`` when
            the loss was finite but the weights or the validation loss were not.
    """

    def __init__(self, message: str, run: Run | None, epoch: int, batch: int | None):
        super().__init__(message)
        self.run, self.epoch, self.batch = run, epoch, batch


class Diverged(Exception):
    """Raised from a batch callback to stop ``fit`` at the first non-finite loss."""

    def __init__(self, batch: int | None, what: str):
        super().__init__(what)
        self.batch, self.what = batch, what


class LossWatch:
    """Per-batch checks: stop at a non-finite loss; warn once when the loss explodes.

    ``reference`` is the run's first loss (its first epoch's, or the first batch's).
    """

    def __init__(self, reference: float | None, warn: Callable[[str], None], lr: float):
        self.reference = reference
        self.warn = warn
        self.lr = lr
        self.warned = False

    def batch(self, step: int, logs: dict) -> None:
        if "loss" not in logs:
            return
        loss = float(np.asarray(logs["loss"]))
        if not math.isfinite(loss):
            raise Diverged(step, f"the loss is {loss}")
        self.check_growth(loss, f"batch {step}")

    def check_growth(self, loss: float, where: str) -> None:
        if self.reference is None:
            self.reference = loss
            return
        if not self.warned and self.reference > 0 and loss > GROWTH_WARNING * self.reference:
            self.warned = True
            self.warn(
                f"the loss grew from {self.reference:.4g} to {loss:.4g} "
                f"(over {GROWTH_WARNING:g}x) by {where}; the learning rate "
                f"({self.lr:g}) is probably too high"
            )


def warn_default(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)


def check_finite_inputs(cfg: TrainConfig, arrays) -> None:
    bad = sum(int(x.size - np.count_nonzero(np.isfinite(x))) for x in arrays)
    if bad:
        raise DatasetError(
            f"{cfg.data}: the training and validation images hold {bad} NaN or infinite "
            "values; cnnlab trains on finite pixel values only"
        )


def check_finite_epoch(model, logs: dict) -> None:
    """After an epoch: the loss, the validation loss and every weight must be finite."""
    for key in ("loss", "val_loss"):
        if key in logs and not math.isfinite(float(logs[key])):
            raise Diverged(
                None, f"the {'validation ' if key == 'val_loss' else ''}loss is {float(logs[key])}"
            )
    for w in model.get_weights():
        if not np.isfinite(np.asarray(w)).all():
            raise Diverged(None, "the weights are no longer finite")
