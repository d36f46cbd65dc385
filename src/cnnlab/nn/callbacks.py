"""Callbacks for :meth:`cnnlab.nn.Sequential.fit`, as in ``keras.callbacks``.

``fit`` calls, on every callback that has them: ``set_model(model)``,
``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``, ``on_train_batch_begin(batch,
logs)``, ``on_train_batch_end(batch, logs)`` with the epoch's running ``loss`` (and metrics)
so far, ``on_epoch_end(epoch, logs)`` and ``on_train_end(logs)``. A callback that sets
``model.stop_training = True`` in ``on_train_batch_end`` stops training after that batch,
as Keras 3 does: the epoch's logs (from the batches run), its validation and
``on_epoch_end`` still follow, then ``fit`` returns.

Example:
    >>> stop = TerminateOnNaN(verbose=0)
    >>> history = model.fit(x, y, epochs=5, callbacks=[stop])  # doctest: +SKIP
    >>> if stop.stopped:                                       # doctest: +SKIP
    ...     print(f"non-finite loss {stop.loss} in epoch {stop.epoch}, batch {stop.batch}")
"""

from __future__ import annotations

import math
from typing import Any


class Callback:
    """Base class: every hook does nothing; ``self.model`` is set by ``fit``."""

    def __init__(self) -> None:
        self.model = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class TerminateOnNaN(Callback):
    """Stop training at the first batch whose loss is NaN or infinite
    (``keras.callbacks.TerminateOnNaN``).

    After a batch, ``fit`` passes the epoch's running mean loss; once it is not finite,
    this callback sets ``model.stop_training = True`` and ``fit`` stops after that batch.
    That batch's update has been applied (as in Keras), so the model's weights may be
    non-finite: keep the last checkpoint saved before, not the model.

    Args:
        raise_error: raise a ``RuntimeError`` at once instead (as Keras's
            ``raise_error=True``; ``on_train_end`` is then not called).
        verbose: 1 (default) prints Keras's line "Batch 3: Invalid loss, terminating
            training"; 0 prints nothing.

    Attributes (``None`` until it fires; reset by each ``fit``):
        stopped: whether it stopped training.
        epoch: the 0-based epoch of the batch with the non-finite loss.
        batch: that batch's 0-based index within the epoch.
        loss: the loss it saw (nan, inf or -inf).
    """

    def __init__(self, raise_error: bool = False, verbose: int = 1):
        super().__init__()
        self.raise_error = bool(raise_error)
        self.verbose = int(verbose)
        self._reset()
        self._current_epoch: int | None = None

    def _reset(self) -> None:
        self.stopped = False
        self.epoch: int | None = None
        self.batch: int | None = None
        self.loss: float | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._reset()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)) or self.stopped:
            return
        self.stopped = True
        self.epoch, self.batch, self.loss = self._current_epoch, batch, float(loss)
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. "
                f"Loss value: {loss}. Terminating training immediately."
            )
        if self.verbose:
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
        if self.model is not None:
            self.model.stop_training = True
