"""Training on several devices or machines with ``tf.distribute`` (the Keras engine only).

``TrainConfig.distribute``:

* ``"none"``: one device, the engines of :mod:`cnnlab.training.engines`.
* ``"mirrored"``: ``tf.distribute.MirroredStrategy`` over every local GPU, or, with no GPU
  (or with ``cpu_replicas``), over the CPU's logical devices. The model is built (or loaded)
  under ``strategy.scope()`` and trained by Keras's own ``fit``.
* ``"multiworker"``: ``tf.distribute.MultiWorkerMirroredStrategy``, configured by the
  standard ``TF_CONFIG`` environment variable. Keras 3's ``fit`` cannot train under it
  (keras-team/keras#20585: "Attempt to convert a value (PerReplica...) to a Tensor"), so
  :class:`_MultiWorkerKeras` has its own small training step: the model called on each
  replica's batch under ``strategy.run``, ``tf.GradientTape``, the loss summed over the
  global batch and divided by its size (the mean ``fit`` takes; each replica's gradient is a
  share, and the Keras optimizer's ``apply_gradients`` all-reduces them), and the
  BatchNormalization moving statistics averaged over the workers after each epoch, so every
  worker ends with the same weights. Validation, evaluation and prediction run locally on
  each worker (no collective op), with the model called directly.

``batch_size`` is per replica: a step takes ``batch_size x replicas`` images (printed at
start).

Only the chief writes the run directory. The chief is the ``"chief"`` task, or worker 0 when
the cluster names none. Every other worker trains in a private temporary folder that it
removes at the end. A restarted job continues as Keras's ``BackupAndRestore`` does: when the
run directory already holds a checkpoint, the chief resumes it, and every other worker
copies that checkpoint (reading only) into its folder and resumes the same epoch. The run
directory must therefore be on storage every worker sees (a shared volume), as
``BackupAndRestore``'s ``backup_dir`` must. Workers that disagree on the epoch stop with a
:class:`~cnnlab.errors.RunError` instead of hanging.

``cpu_replicas`` splits the CPU into logical devices with
``tf.config.set_logical_device_configuration``. TensorFlow allows that only before it
initializes its devices (the first op or device query in the process): the command line does
it first thing. A process that already used TensorFlow gets a :class:`~cnnlab.errors.RunError`
that says so, unless its CPU is already split that way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab.errors import ArgumentError, RunError
from cnnlab.tasks import TASKS, get_task
from cnnlab.training.config import TrainConfig
from cnnlab.training.engines import Engine, KerasEngine, get_engine
from cnnlab.training.feed import StreamFeed, epoch_order
from cnnlab.training.inference import metrics_from_probabilities
from cnnlab.training.rundir import load_run

UPSTREAM_ISSUE = "keras-team/keras#20585"


@dataclass
class Distribution:
    """A strategy and where this process stands in it."""

    kind: str
    strategy: object
    devices: list[str]
    chief: bool = True
    worker: int = 0
    workers: int = 1
    engine: Engine | None = field(default=None, repr=False)

    @property
    def replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)

    def describe(self, batch_size: int) -> str:
        """ "distributed: mirrored, 2 replicas (...); global batch 64 = 32 per replica x 2"."""
        where = ", ".join(self.devices)
        if self.kind == "multiworker":
            role = "chief" if self.chief else "worker"
            where = f"worker {self.worker} of {self.workers} ({role}); {where}"
        return (
            f"distributed: {self.kind}, {self.replicas} replica"
            f"{'s' if self.replicas != 1 else ''} ({where}); global batch "
            f"{batch_size * self.replicas} = {batch_size} per replica x {self.replicas}"
        )


_CURRENT: dict[tuple, Distribution] = {}


def split_cpu(n: int) -> None:
    """Split the first CPU into ``n`` logical devices (before TensorFlow initializes them).

    Raises:
        RunError: TensorFlow already initialized its devices with another split.
    """
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    config = [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    try:
        tf.config.set_logical_device_configuration(cpus[0], config)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have != n:
            raise RunError(
                f"cpu_replicas={n}: TensorFlow already initialized its devices in this process "
                f"({have} CPU device{'s' if have != 1 else ''}); split the CPU before "
                "anything uses TensorFlow (cnnlab train does it first)"
            ) from None


def _cluster() -> tuple[bool, int, int]:
    """``(is chief, worker index, workers)`` from ``TF_CONFIG`` (one worker without it)."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        return True, 0, 1
    try:
        conf = json.loads(text)
        cluster, task = conf["cluster"], conf["task"]
        kind, index = task["type"], int(task["index"])
        workers = sum(len(cluster.get(k, [])) for k in ("chief", "worker"))
    except (ValueError, KeyError, TypeError) as exc:
        raise ArgumentError(
            f"TF_CONFIG must be JSON with 'cluster' and 'task' (type, index). Received: {text!r} "
            f"({exc})"
        ) from None
    if "chief" in cluster:
        return kind == "chief", (0 if kind == "chief" else index + 1), workers
    return kind == "worker" and index == 0, index, workers


def setup(cfg: TrainConfig) -> Distribution | None:
    """The run's :class:`Distribution` (None for ``"none"``); made once per process."""
    if cfg.distribute == "none":
        return None
    key = (cfg.distribute, cfg.cpu_replicas)
    if key in _CURRENT:
        return _CURRENT[key]
    if _CURRENT:
        other = next(iter(_CURRENT))
        raise RunError(
            f"this process already trains with distribute={other[0]!r}, cpu_replicas="
            f"{other[1]}; TensorFlow keeps one device setup per process"
        )
    if cfg.cpu_replicas is not None:
        split_cpu(cfg.cpu_replicas)
    import tensorflow as tf

    if cfg.distribute == "mirrored":
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        devices = gpus if gpus and cfg.cpu_replicas is None else cpus
        dist = Distribution("mirrored", tf.distribute.MirroredStrategy(devices=devices), devices)
        dist.engine = _MirroredKeras(dist)
    else:
        chief, worker, workers = _cluster()
        try:  # before anything else asks TensorFlow for its devices
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise RunError(
                f"distribute='multiworker': TensorFlow already started in this process ({exc}); "
                "a worker must set up its strategy first (cnnlab train does)"
            ) from None
        devices = list(strategy.extended.worker_devices)
        dist = Distribution("multiworker", strategy, devices, chief, worker, workers)
        dist.engine = _MultiWorkerKeras(dist)
    _CURRENT[key] = dist
    return dist


def engine_for(cfg: TrainConfig) -> Engine:
    """The engine that trains ``cfg``: the plain one, or a distributed Keras engine."""
    dist = setup(cfg)
    return get_engine(cfg.engine) if dist is None else dist.engine


class _MirroredKeras(KerasEngine):
    """Keras under a strategy: built and loaded for training in its scope; ``fit`` trains
    (Keras 3 distributes a model made in a strategy's scope by itself). Validation,
    evaluation and prediction call the model directly on this process (no collective op;
    see :meth:`fit_epoch` for why not Keras's own)."""

    def __init__(self, dist: Distribution):
        self.dist = dist

    def build(self, cfg, input_shape, n_classes):
        with self.dist.strategy.scope():
            return super().build(cfg, input_shape, n_classes)

    def load_for_training(self, path):
        with self.dist.strategy.scope():
            return self.load(path)

    def global_batch(self, cfg):
        return cfg.batch_size * self.dist.replicas

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback):
        # Arrays go in as tf.data datasets, and the validation split is evaluated here, not
        # by fit: Keras 3 under MirroredStrategy fails on a batch that does not split evenly
        # over the replicas ("Inputs to operation AddN ... must have the same size", from
        # the symbolic build of evaluate), as a small validation split's batch does.
        import tensorflow as tf

        if not isinstance(x, StreamFeed):
            order = epoch_order(len(x), cfg.seed, epoch)
            x = tf.data.Dataset.from_tensor_slices((x[order], y[order]))
            x, y = x.batch(self.global_batch(cfg)), None
        logs = super().fit_epoch(model, x, y, None, epoch, cfg, class_weight, callback)
        return logs | self._validate(model, val, cfg)

    def _validate(self, model, val, cfg) -> dict:
        """``val_loss`` and ``val_accuracy`` computed on this process alone."""
        if val is None:
            return {}
        if isinstance(val, StreamFeed):
            probs, labels = [], []
            for xb, yb in val:
                probs.append(self.predict(model, xb, cfg.batch_size))
                labels.append(yb)
            res = self._metrics(np.concatenate(probs), np.concatenate(labels), cfg.task)
        else:
            res = self.evaluate(model, val[0], val[1], cfg.batch_size)
        return {f"val_{k}": v for k, v in res.items()}

    # Local evaluation: the model called directly, no collective op, on every worker alike.
    def predict(self, model, x, batch_size):
        outs = [
            np.asarray(model(x[i : i + batch_size], training=False))
            for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(outs) if outs else np.zeros((0, model.output_shape[-1]))

    def evaluate(self, model, x, y, batch_size):
        binary = model.output_shape[-1] == 1
        task = next(t for t in TASKS.values() if t.binary == binary)
        return self._metrics(self.predict(model, x, batch_size), y, task)

    @staticmethod
    def _metrics(probs, y, task):

        labels = np.asarray(y).reshape(-1).round().astype(np.int64)
        columns = np.arange(probs.shape[1])
        return metrics_from_probabilities(probs, labels, columns, task)


class _MultiWorkerKeras(_MirroredKeras):
    """Keras under ``MultiWorkerMirroredStrategy`` with its own training step (see the
    module docstring). With the default strategy (one device) it trains exactly as ``fit``
    does on the same batches, which the tests check."""

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback):
        import tensorflow as tf

        strategy = self.dist.strategy
        self._agree(epoch)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        streamed = isinstance(x, StreamFeed)
        if streamed:
            data = x.tf(options)
        else:
            order = epoch_order(len(x), cfg.seed, epoch)
            data = tf.data.Dataset.from_tensor_slices((x[order], y[order]))
            data = data.batch(self.global_batch(cfg)).with_options(options)
        data = data.map(_with_weights(class_weight, cfg.task))
        step = self._step(model, cfg)
        totals = np.zeros(4)  # sum of w * loss, sum of w * hit, sum of w, images
        reading = x.ds.reading() if streamed else contextlib.nullcontext()
        with reading:
            for i, batch in enumerate(strategy.experimental_distribute_dataset(data)):
                totals += np.array([float(v) for v in step(batch)])
                if callback is not None:
                    callback(i + 1, _logs(totals))
        if streamed:
            x.check()
        self._sync_statistics(model)
        return _logs(totals) | self._validate(model, val, cfg)

    def _step(self, model, cfg):
        """The training step, made once per model (a tf.function over ``strategy.run``)."""
        step = getattr(model, "_cnnlab_step", None)
        if step is not None:
            return step
        import keras
        import tensorflow as tf

        strategy = self.dist.strategy
        optimizer = model.optimizer
        binary = get_task(cfg.task).binary
        if binary:
            loss_fn = keras.losses.BinaryCrossentropy(reduction=None)
        else:
            loss_fn = keras.losses.SparseCategoricalCrossentropy(reduction=None)

        def replica_step(xb, yb, wb):
            ctx = tf.distribute.get_replica_context()
            n = ctx.all_reduce("SUM", tf.cast(tf.shape(yb)[0], tf.float32))
            with tf.GradientTape() as tape:
                probs = model(xb, training=True)
                weighted = loss_fn(yb, probs) * wb
                loss = tf.reduce_sum(weighted) / n  # the global batch's mean, as fit takes
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            if binary:
                hit = tf.equal(probs[:, 0] > 0.5, tf.reshape(yb, [-1]) > 0.5)
            else:
                hit = tf.equal(tf.argmax(probs, axis=-1), tf.cast(yb, tf.int64))
            hits = tf.reduce_sum(tf.cast(hit, tf.float32) * wb)
            count = tf.cast(tf.shape(yb)[0], tf.float32)
            return tf.reduce_sum(weighted), hits, tf.reduce_sum(wb), count

        @tf.function(reduce_retracing=True)
        def step(batch):
            out = strategy.run(replica_step, args=batch)
            return [strategy.reduce("SUM", v, axis=None) for v in out]

        model._cnnlab_step = step
        return step

    def _sync_statistics(self, model) -> None:
        """Average the float non-trainable variables (BatchNormalization's moving mean and
        variance, which each replica updates from its own batches) over all replicas."""
        import tensorflow as tf

        variables = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
        if not variables or self.dist.replicas == 1:
            return
        strategy = self.dist.strategy

        @tf.function
        def mean():
            def fn():
                ctx = tf.distribute.get_replica_context()
                return [ctx.all_reduce("MEAN", tf.identity(v.value)) for v in variables]

            return strategy.run(fn)

        for v, value in zip(variables, mean(), strict=True):
            v.assign(strategy.experimental_local_results(value)[0])

    def _agree(self, epoch: int) -> None:
        """Every worker must train the same epoch; else stop with a clear error (a worker
        that could not read the run directory after a restart would start at epoch 1)."""
        if self.dist.replicas == 1:
            return
        import tensorflow as tf

        strategy = self.dist.strategy

        def fn(e):
            ctx = tf.distribute.get_replica_context()
            e = tf.identity(e)  # on this replica's device
            return ctx.all_reduce("SUM", e), ctx.all_reduce("SUM", e * e)

        total, squares = tf.function(lambda e: strategy.run(fn, args=(e,)))(
            tf.constant(float(epoch))
        )
        total = float(strategy.experimental_local_results(total)[0])
        squares = float(strategy.experimental_local_results(squares)[0])
        k = self.dist.replicas
        if squares / k - (total / k) ** 2 > 1e-6:
            raise RunError(
                f"the workers are not at the same epoch (this one starts epoch {epoch + 1}, "
                f"their mean is {total / k + 1:g}); after a restart every worker resumes from "
                "the run directory, which must be on storage all workers see"
            )


def _logs(totals: np.ndarray) -> dict:
    loss_sum, hits, weights, n = totals
    return {"loss": loss_sum / max(n, 1.0), "accuracy": hits / max(weights, 1e-12)}


def _with_weights(class_weight: dict | None, task: str):
    """``(x, y) -> (x, y, w)``: each image's loss weight (its class weight, or 1)."""
    import tensorflow as tf

    if not class_weight:
        return lambda x, y: (x, y, tf.ones(tf.shape(y)[:1], tf.float32))
    table = np.ones(max(class_weight) + 1, dtype=np.float32)
    for k, v in class_weight.items():
        table[k] = v
    table = tf.constant(table)

    def weigh(x, y):
        ids = tf.cast(tf.round(tf.reshape(tf.cast(y, tf.float32), [-1])), tf.int32)
        return x, y, tf.gather(table, ids)

    return weigh


# ------------------------------------------------------------------ one job, many workers


def weights_digest(model) -> str:
    """A short SHA-256 of a model's weights (every weight, in order, as float32 bytes)."""
    import hashlib

    h = hashlib.sha256()
    for w in model.weights:
        h.update(np.ascontiguousarray(np.asarray(w), dtype=np.float32).tobytes())
    return h.hexdigest()[:16]


def as_worker(cfg: TrainConfig, out: Path, dist: Distribution, start, restart, log=None):
    """Run this process's part of a multi-worker job (see the module docstring).

    ``start(cfg)`` trains a new run at ``cfg.out``; ``restart(path)`` resumes one. The
    chief uses ``out``; any other worker a temporary folder, removed at the end (its
    :class:`~cnnlab.training.Run` then names ``out``, the job's run directory). At the end
    each worker logs the digest of its last epoch's weights (:func:`weights_digest`): the
    same line on every worker says they ended in step.
    """
    has_checkpoint = (out / "checkpoint.json").is_file()
    if has_checkpoint and log is not None:
        log(f"{out} holds a checkpoint: continuing from it (backup and restore)")
    if dist.chief:
        run = restart(out) if has_checkpoint else start(cfg)
        _log_digest(run, dist, log)
        return run
    scratch = Path(tempfile.mkdtemp(prefix=f"cnnlab-worker{dist.worker}-"))
    try:
        if has_checkpoint:
            _copy_checkpoint(out, scratch / "run")
            run = restart(scratch / "run")
        else:
            run = start(dataclasses.replace(cfg, out=str(scratch / "run")))
        _log_digest(run, dist, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run.dir = out
    return run


def _log_digest(run, dist: Distribution, log) -> None:
    if log is not None:
        model = dist.engine.load(run.last_path)
        log(
            f"worker {dist.worker}: last epoch's weights {weights_digest(model)} "
            f"({'the chief wrote the run' if dist.chief else 'the chief writes the run'})"
        )


def _copy_checkpoint(src: Path, dst: Path) -> None:
    """The files a resume needs from the chief's run directory (read, never written)."""

    run = load_run(src)
    dst.mkdir(parents=True)
    names = {"config.json", "class_names.json", "checkpoint.json", "metrics.json", "history.csv"}
    for name in names | set(run.named_files()):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)
