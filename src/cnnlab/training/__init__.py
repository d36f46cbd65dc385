"""One training runner for both engines: Keras and the NumPy engine (:mod:`cnnlab.nn`).

Both engines get the same dataset, split, seed and preprocessing (``x / 255`` as
float32 NHWC; "mood" is binary with a sigmoid output and binary cross-entropy,
"signs" multiclass with softmax and sparse categorical cross-entropy). The runner
loops over epochs itself, calling ``fit(epochs=1)`` per epoch, and writes a
checkpoint after each one, so Ctrl-C or a crash loses at most the current epoch
and :func:`resume` continues where the run stopped.

A run directory holds::

    config.json          the TrainConfig (with defaults resolved)
    class_names.json     class index -> name
    model.keras          the run's Keras model (with optimizer state), or
    model.npz            the NumPy engine's (cnnlab.nn.save format): the best epoch's
                         weights (restore_best, the default) or the last epoch's
    model-epoch-0003.npz the latest checkpoint's model while training (or .keras); kept
                         in a finished run whose model is an earlier, best epoch
    model-best-0002.npz  the epoch with the lowest validation loss so far (or .keras)
    checkpoint.json      the manifest: epochs done, the model file that goes with them,
                         the best epoch ("best": epoch, val_loss, model file), the last
                         epoch's file when it is not the model ("last"), and the history
                         so far (rewritten every epoch)
    history.csv          loss / accuracy / val_loss / val_accuracy per epoch
    metrics.json         train, validation and test loss and accuracy of the run's model;
                         final_epoch, best_epoch (their history rows), model_epoch, and
                         stopped_early (epoch, patience, best_epoch) when patience ran out
    tensorboard/         train/ and validation/ event files (TrainConfig.tensorboard)
    learning_curves.png  confusion_matrix.png  summary.txt

Checkpoints. ``checkpoint.json`` is the single source of truth: it names the model file
that holds exactly ``epochs_done`` epochs. After each epoch the runner writes that
epoch's model to a new file ``model-epoch-NNNN.<ext>``, then ``checkpoint.json`` naming
it, and only then deletes the previous checkpoint's file. An epoch whose validation loss is
strictly the lowest so far is also copied to ``model-best-NNNN.<ext>`` before the manifest
names it as ``"best"`` (the epoch is in the name, so a named file never changes content);
the previous best file goes with the previous epoch file. When training ends the model
(the best epoch's with ``restore_best`` when it is not the last, else the last checkpoint)
is copied to ``model.npz`` / ``model.keras``, ``checkpoint.json`` is pointed at it, and
the last epoch's file is removed, or, when the best was restored, kept and named
``"last"``: training longer continues from it, not from the restored weights. A finished
run therefore holds the public name, the best epoch's file, and perhaps the last epoch's.
A kill at any point leaves a manifest whose model files exist and match it;
:func:`resume` deletes the leftovers (model files the manifest does not name, and the
hidden temporaries of interrupted writes) before training on. :func:`load_run`,
:func:`load_model`, evaluate, predict and show all follow the manifest. Runs written
before the manifest named its file (no ``"model"`` key) use ``model.npz`` /
``model.keras``.

Every file is written atomically (temporary name, then rename).

Early stopping. With ``patience`` N, training stops before an epoch once N epochs have
passed since the best one; this is computed from the manifest (epochs done, best epoch), so
an interrupted run resumes with the same count. Resuming a run that stopped early is
refused unless ``patience`` is raised past the epochs it waited; it then trains on from the
last epoch, as a run with that patience from the start would.

Exactness. Everything random in an epoch is a function of (seed, epoch), and the optimizer
state is saved with every checkpoint, so a resumed run retraces an uninterrupted one (its
best epoch included). The NumPy engine resumes bit-identically: its shuffling order and
Dropout masks are drawn from (seed, epoch). Keras gets its global generator reseeded with
``seed + epoch`` and every layer's own SeedGenerator (augmentation, Dropout; a .keras file
does not store their state) restarted from (seed, epoch, layer) before each epoch; on CPU a
resumed Keras run has matched an uninterrupted one bit for bit in our tests, but TensorFlow
does not promise it (kernels may sum in another order on other hardware or thread counts,
and GPU kernels are not deterministic), so the tests allow floating-point noise there.

Divergence. Training stops at the first non-finite batch loss (or non-finite weights
or validation loss at the end of an epoch); the epoch is not checkpointed, the last
finite checkpoint becomes the run's model, metrics are computed from it, and
:class:`TrainingDiverged` (a :class:`~cnnlab.errors.RunError`) says where and why. A
loss that grows past 100 times the run's first loss gets one warning.

The package, one job per module: :mod:`~cnnlab.training.config` (TrainConfig, defaults,
schedules), :mod:`~cnnlab.training.rundata` (the run's dataset, in memory or streamed),
:mod:`~cnnlab.training.feed` (batches as the engines take them, augmented per epoch),
:mod:`~cnnlab.training.engines` (Keras and NumPy), :mod:`~cnnlab.training.rundir` (the run
directory), :mod:`~cnnlab.training.checkpoints` (writing checkpoints),
:mod:`~cnnlab.training.divergence`, :mod:`~cnnlab.training.loop` (train, resume) and
:mod:`~cnnlab.training.inference` (evaluate, predict; ``show`` is
:func:`cnnlab.interpret.show`, a floor up), :mod:`~cnnlab.training.compare`
(runs side by side) and :mod:`~cnnlab.training.export` (keras, SavedModel, ONNX, LiteRT).

Example:
    >>> run = train(TrainConfig(epochs=2, out="runs/demo"))     # doctest: +SKIP
    >>> run.metrics["test"]["accuracy"]                          # doctest: +SKIP
    0.97...
"""

from __future__ import annotations

# The public API (__all__), then names re-exported for the CLI, notebooks and tests.
from cnnlab.training.compare import compare_runs
from cnnlab.training.config import ENGINES, MODEL_FILES, TrainConfig
from cnnlab.training.divergence import TrainingDiverged
from cnnlab.training.export import export_run
from cnnlab.training.inference import evaluate_run, predict_images
from cnnlab.training.loop import resume, train
from cnnlab.training.rundir import Run, load_model, load_run, read_history_csv
from cnnlab.training.shifted import evaluate_shifted

from cnnlab.keras_models import MODELS as MODELS  # isort: skip
from cnnlab.tasks import TASKS as TASKS  # isort: skip
from cnnlab.training.config import (  # isort: skip
    CHECKPOINT_FILE as CHECKPOINT_FILE,
    DEFAULT_IMAGE_SIZE as DEFAULT_IMAGE_SIZE,
    DIGITS_IMAGE_SIZE as DIGITS_IMAGE_SIZE,
    HISTORY_KEYS as HISTORY_KEYS,
    PREPROCESS as PREPROCESS,
    SCHEDULES as SCHEDULES,
)
from cnnlab.training.divergence import GROWTH_WARNING as GROWTH_WARNING  # isort: skip
from cnnlab.training.engines import get_engine as get_engine  # isort: skip
from cnnlab.training.inference import read_images as read_images  # isort: skip
from cnnlab.training.rundata import load_data as load_data  # isort: skip

__all__ = [
    "ENGINES",
    "MODEL_FILES",
    "Run",
    "TrainConfig",
    "TrainingDiverged",
    "compare_runs",
    "evaluate_run",
    "evaluate_shifted",
    "export_run",
    "load_model",
    "load_run",
    "predict_images",
    "read_history_csv",
    "resume",
    "train",
]
