"""The engines: the few things that differ between Keras and the NumPy engine (build, load,
save, seeding, one epoch of fit, activations). Everything else in the runner is shared."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cnnlab import _io, keras_models, nn, numpy_models
from cnnlab.errors import ArgumentError
from cnnlab.nn import registry
from cnnlab.nn.keras_file import load_keras_model
from cnnlab.tasks import get_task
from cnnlab.training.config import ENGINES, TrainConfig
from cnnlab.training.feed import StreamFeed
from cnnlab.training.killpoints import kill_point


class Engine:
    """What the runner asks of an engine; everything else is shared.

    x is float32 ``(N, H, W, C)`` in [0, 1]; y as :func:`targets` makes it.
    """

    name = ""

    def build(self, cfg: TrainConfig, input_shape, n_classes: int):
        """A new compiled model for ``cfg`` (Adam at ``cfg.learning_rate``), seeded."""
        raise NotImplementedError

    def load(self, path: Path):
        raise NotImplementedError

    def load_for_training(self, path: Path):
        """The model to train on from ``path`` (a distributed engine places it on its
        replicas; :meth:`load` gives a plain one, for evaluation)."""
        return self.load(path)

    def global_batch(self, cfg: TrainConfig) -> int:
        """Images per training step: ``cfg.batch_size`` (times the replicas when
        distributed)."""
        return cfg.batch_size

    def save(self, model, path: Path) -> None:
        """Write model + optimizer state atomically."""
        with _io.atomic_path(path) as tmp:
            self._write(model, tmp)
            kill_point("temporary", path)

    def _write(self, model, path: Path) -> None:
        """Write model + optimizer state to ``path`` (the caller makes it atomic)."""
        raise NotImplementedError

    def set_seed(self, model, seed: int, epoch: int) -> None:
        """Seed the engine's randomness before epoch ``epoch`` as a function of (seed, epoch),
        so that a resumed run draws what an uninterrupted one draws (Keras only: the NumPy
        engine's fit takes the seed itself)."""

    def prepare_epoch(self, model, cfg: TrainConfig, epoch: int):
        """The model to train epoch ``epoch`` with, as a function of (config, epoch) only, so
        a resumed run trains what an uninterrupted one trains: a transfer model's backbone
        frozen before ``cfg.unfreeze_epoch`` and its top block unfrozen from it on."""
        return model

    def set_learning_rate(self, model, value: float) -> None:
        model.optimizer.learning_rate = value

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback) -> dict:
        """Train epoch ``epoch`` (0-based); return its logs (loss, accuracy, val_*)."""
        raise NotImplementedError

    def _fit_one_epoch(self, model, x, y, val, epoch, cfg, class_weight, **engine_args) -> dict:
        """The ``fit`` call both engines share (they speak the same Keras API).

        ``x`` is an array, or a :class:`~cnnlab.training.feed.StreamFeed` (``y`` None): the
        NumPy engine iterates it, Keras gets its ``tf.data.Dataset``; ``val`` likewise.
        """
        if isinstance(x, StreamFeed):
            with x.ds.reading(), warnings.catch_warnings():
                # A streamed pass is one pass (its length unknown to Keras, as a skipped
                # image may shorten it): Keras warns when it ends; nothing is wrong.
                warnings.filterwarnings("ignore", "Your input ran out of data")
                hist = model.fit(
                    self._feed(x),
                    epochs=epoch + 1,
                    initial_epoch=epoch,
                    validation_data=self._feed(val) if isinstance(val, StreamFeed) else val,
                    shuffle=False,  # the feed reads in its own seeded order
                    class_weight=class_weight,
                    verbose=0,
                    **engine_args,
                )
            x.check()
            return {k: float(v[-1]) for k, v in hist.history.items()}
        batched = y is None  # a dataset of (x, y) batches (distributed Keras makes them)
        hist = model.fit(
            x,
            y,
            batch_size=None if batched else self.global_batch(cfg),
            epochs=epoch + 1,
            initial_epoch=epoch,
            validation_data=val,
            shuffle=not batched,
            class_weight=class_weight,
            verbose=0,
            **engine_args,
        )
        return {k: float(v[-1]) for k, v in hist.history.items()}

    def _feed(self, feed):
        """How this engine takes a streamed pass (the NumPy engine: the feed itself)."""
        return feed

    def evaluate(self, model, x, y, batch_size: int) -> dict:
        res = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        return {"loss": float(res["loss"]), "accuracy": float(res["accuracy"])}

    def predict(self, model, x, batch_size: int) -> np.ndarray:
        return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))

    def summary(self, model) -> str:
        raise NotImplementedError

    def conv_layers(self, model) -> list:
        """The model's Conv2D layers (either engine's), as the layer registry tells them."""
        return [layer for layer in model.layers if registry.is_conv(layer)]

    def activations(self, model, x) -> list[tuple[str, np.ndarray]]:
        """``(conv layer name, (H, W, C) output)`` for the first image of ``x``."""
        raise NotImplementedError


class KerasEngine(Engine):
    name = "keras"

    def build(self, cfg, input_shape, n_classes):
        import keras

        keras.utils.set_random_seed(cfg.seed)
        # No augmentation layers: the runner augments the data itself, for both engines.
        model = keras_models.build_model(
            cfg.task, cfg.model, input_shape, n_classes, augment=False, seed=cfg.seed
        )
        self._compile(model, cfg)
        return model

    def _compile(self, model, cfg) -> None:
        import keras

        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=get_task(cfg.task).loss,
            metrics=["accuracy"],
        )

    def prepare_epoch(self, model, cfg, epoch):
        if cfg.model == "transfer" and keras_models.set_transfer_phase(
            model, cfg.fine_tunes(epoch)
        ):
            # Another set of trainable weights: a new optimizer for it (its state starts at
            # the unfreeze; a model saved after it reloads with that state).
            self._compile(model, cfg)
        return model

    def load(self, path):
        # The one checked loader: the config's sizes before Keras builds (and allocates) it.
        return load_keras_model(path)

    def _write(self, model, path):
        import warnings

        with warnings.catch_warnings():
            # Keras 3.x saving trips NumPy 2's __array__(copy=...) deprecation; harmless.
            warnings.filterwarnings("ignore", "__array__ implementation", DeprecationWarning)
            model.save(path)

    def _feed(self, feed):
        return feed.tf()

    def set_seed(self, model, seed, epoch):
        import keras

        keras.utils.set_random_seed(seed + epoch)
        # Layers with a seed of their own (augmentation, Dropout) draw from a SeedGenerator
        # whose state a .keras file does not keep: restart each from (seed, epoch, its index).
        flatten = getattr(model, "_flatten_layers", None)
        layers = list(flatten()) if flatten is not None else list(model.layers)
        generators = [g for layer in layers for g in getattr(layer, "_seed_generators", [])]
        for i, generator in enumerate(generators):
            start = int(np.random.SeedSequence([seed, epoch, i]).generate_state(1)[0] >> 1)
            generator.state.assign(np.array([start, 0], dtype=np.dtype(generator.state.dtype)))

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback):
        import keras

        callbacks = []
        if callback is not None:

            class _Batch(keras.callbacks.Callback):
                def on_train_batch_end(self, batch, logs=None):
                    callback(batch + 1, logs or {})

            callbacks.append(_Batch())
        return self._fit_one_epoch(model, x, y, val, epoch, cfg, class_weight, callbacks=callbacks)

    def summary(self, model):
        lines: list[str] = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=80)
        return "\n".join(lines) + "\n"

    def activations(self, model, x):
        import keras

        convs = self.conv_layers(model)
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        probe = keras.Model(inputs=inputs, outputs=[layer.output for layer in convs])
        outs = probe(x, training=False)
        outs = outs if isinstance(outs, list | tuple) else [outs]
        return [(layer.name, np.asarray(o)[0]) for layer, o in zip(convs, outs, strict=True)]


class _BatchCallback:
    """Batch progress for the NumPy engine's fit (used when it calls on_train_batch_end)."""

    def __init__(self, fn: Callable[[int, dict], None]):
        self._fn = fn

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._fn(batch + 1, logs or {})


class NumpyEngine(Engine):
    name = "numpy"

    def build(self, cfg, input_shape, n_classes):
        model = numpy_models.build_model(cfg.task, cfg.model, input_shape, n_classes, seed=cfg.seed)
        self._compile(model, cfg)
        return model

    def _compile(self, model, cfg) -> None:
        model.compile(
            optimizer=nn.optimizers.Adam(learning_rate=cfg.learning_rate),
            loss=get_task(cfg.task).loss,
            metrics=["accuracy"],
        )

    def prepare_epoch(self, model, cfg, epoch):
        if cfg.model == "transfer" and numpy_models.set_transfer_phase(
            model, cfg.fine_tunes(epoch)
        ):
            # As the Keras engine: a new optimizer for the new set of trainable weights (its
            # state starts at the unfreeze; a model saved after it keeps that state).
            self._compile(model, cfg)
        return model

    def load(self, path):

        return nn.load_model(path)

    def _write(self, model, path):
        model.save(path)  # optimizer state included

    def fit_epoch(self, model, x, y, val, epoch, cfg, class_weight, callback):
        return self._fit_one_epoch(
            model,
            x,
            y,
            val,
            epoch,
            cfg,
            class_weight,
            seed=cfg.seed,  # the order depends on (seed, epoch): resuming gives the same order
            callbacks=[_BatchCallback(callback)] if callback is not None else None,
        )

    def summary(self, model):
        lines: list[str] = []
        model.summary(print_fn=lines.append)
        return "\n".join(lines) + "\n"

    def activations(self, model, x):
        acts = model.forward_all(x, training=False)
        return [(layer.name, np.asarray(acts[layer.name])[0]) for layer in self.conv_layers(model)]


_ENGINES: dict[str, Engine] = {"keras": KerasEngine(), "numpy": NumpyEngine()}


def get_engine(name: str) -> Engine:
    if name not in _ENGINES:
        raise ArgumentError(
            f"engine must be one of {', '.join(ENGINES)}. Received: engine={name!r}"
        )
    return _ENGINES[name]
