"""TensorBoard logs for either engine (``TrainConfig.tensorboard``), written with ``tf.summary``.

``RUN/tensorboard/train`` holds ``epoch_loss``, ``epoch_accuracy`` and ``epoch_learning_rate``;
``RUN/tensorboard/validation`` holds ``epoch_loss``, ``epoch_accuracy`` and the validation
confusion matrix as an image (``confusion_matrix``), Keras's layout, so TensorBoard draws the
training and validation curves on one chart. The step is the epoch number (1-based, as in
history.csv). A resumed run opens new event files in the same folders, so the log continues.
Open it with ``uv run tensorboard --logdir runs``.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cnnlab import plots

LOG_DIR = "tensorboard"


class TensorBoardLog:
    """One writer per folder (train, validation); :meth:`epoch` logs one epoch and flushes."""

    def __init__(self, run_dir: Path):
        import tensorflow as tf

        self._tf = tf
        root = Path(run_dir) / LOG_DIR
        self._writers = {
            part: tf.summary.create_file_writer(str(root / part))
            for part in ("train", "validation")
        }

    def epoch(self, step: int, logs: dict, confusion_png: bytes | None) -> None:
        tf = self._tf
        with self._writers["train"].as_default(step=step):
            for key in ("loss", "accuracy", "learning_rate"):
                if key in logs:
                    tf.summary.scalar(f"epoch_{key}", float(logs[key]))
        with self._writers["validation"].as_default(step=step):
            for key in ("loss", "accuracy"):
                if f"val_{key}" in logs:
                    tf.summary.scalar(f"epoch_{key}", float(logs[f"val_{key}"]))
            if confusion_png is not None:
                image = tf.image.decode_png(confusion_png, channels=4)
                tf.summary.image("confusion_matrix", image[None])
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def confusion_png(y_true: np.ndarray, y_pred: np.ndarray, class_names, epoch: int) -> bytes:
    """The confusion matrix of one epoch's validation predictions as PNG bytes."""

    fig = plots.plot_confusion_matrix(
        y_true, y_pred, class_names, title=f"Confusion matrix (validation), epoch {epoch}"
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)  # a pyplot-free Figure: nothing to close
    return buf.getvalue()
