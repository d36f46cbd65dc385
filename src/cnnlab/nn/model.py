"""``Sequential``: a stack of layers that compiles, fits, evaluates, predicts and saves like Keras.

One class with Keras's whole ``Model`` API; how the layers run is :mod:`cnnlab.nn.plan`,
``fit``'s checks, ``History`` and progress are :mod:`cnnlab.nn.fitting`, the layer types
:mod:`cnnlab.nn.registry`. The graph model :class:`~cnnlab.nn.Model` extends it.

Example:
    >>> import numpy as np
    >>> from cnnlab import nn
    >>> model = nn.Sequential([
    ...     nn.Input(shape=(8, 8, 1)),
    ...     nn.Conv2D(4, 3, padding="same", activation="relu"),
    ...     nn.Flatten(),
    ...     nn.Dense(1, activation="sigmoid"),
    ... ], seed=0)
    >>> model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    >>> x = np.random.default_rng(0).random((16, 8, 8, 1), dtype="float32")
    >>> history = model.fit(x, (x.mean(axis=(1, 2, 3)) > 0.5), epochs=2, verbose=0, seed=0)
    >>> sorted(history.history)
    ['accuracy', 'loss']
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab.errors import ArgumentError
from cnnlab.nn import losses as losses_mod
from cnnlab.nn import metrics as metrics_mod
from cnnlab.nn import optimizers as optimizers_mod
from cnnlab.nn.fitting import (
    History,
    SourceBatches,
    array_batches,
    as_labels,
    as_numbers,
    call_hooks,
    check_batch_size,
    check_finite,
    check_fit_args,
    check_seed,
    evaluate_batches,
    format_result,
    is_batch_source,
    quiet_overflow,
    run_epoch,
    sample_weights,
    seed_layers,
    verbosity,
)
from cnnlab.nn.layers.base import InputLayer, Layer, Weight, as_dtype, unique_name
from cnnlab.nn.plan import Plan, run_order
from cnnlab.nn.registry import deserialize, serialize
from cnnlab.nn.summary import summary_lines

__all__ = ["History", "Sequential", "run_order"]


class Sequential:
    """A linear stack of layers, with Keras's training API.

    Args:
        layers: optional list of layers; may start with :func:`~cnnlab.nn.Input`.
        name: model name (default "sequential", "sequential_1", ...).
        seed: int seed of the model's ``numpy.random.Generator``, which draws the initial
            weights and (unless ``fit(seed=...)``) the dropout masks and shuffling order. Two models
            built with the same seed have bit-identical weights.
        dtype: optional "float32" or "float64" for every layer (default: each layer's own,
            float32).

    Attributes:
        layers: the layers (without the Input), ``input_shape`` / ``output_shape`` with a batch
        axis of ``None``, ``optimizer``, ``loss``, ``stop_training``.
    """

    def __init__(
        self,
        layers: Iterable[Layer] | None = None,
        name: str | None = None,
        seed: int | None = None,
        dtype: Any = None,
    ):
        self.name = name if name is not None else unique_name("sequential")
        self.seed = check_seed(seed)
        self._rng = np.random.default_rng(seed)
        self.dtype = None if dtype is None else as_dtype(dtype)
        self._input: InputLayer | None = None
        self._layers: list[Layer] = []
        self.optimizer: optimizers_mod.Optimizer | None = None
        self.loss: losses_mod.Loss | None = None
        self._metric_ids: list[Any] = []
        self._metrics: list[metrics_mod.Accuracy] | None = None
        self._plan: Plan | None = None
        self.stop_training = False
        self.history: History | None = None
        for layer in layers or []:
            self.add(layer)

    # ---- structure -----------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer (or set the input with :func:`~cnnlab.nn.Input` first)."""
        if isinstance(layer, InputLayer):
            if self._input is not None or self._layers:
                raise ArgumentError(
                    "An Input can only be the first entry of a Sequential model. "
                    f"Received: {layer!r} after {self._layers or [self._input]}"
                )
            self._input = layer
            self._apply_dtype(layer)
            return
        if not isinstance(layer, Layer):
            raise ArgumentError(
                "Only instances of cnnlab.nn layers can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer).__name__})"
            )
        names = {lay.name for lay in self._layers}
        if layer.name in names:
            raise ArgumentError(
                f"All layers added to a Sequential model should have unique names. "
                f"Name {layer.name!r} is already the name of a layer in this model."
            )
        if not self._layers and self._input is None and layer.input_shape_arg is not None:
            self._input = InputLayer(layer.input_shape_arg)
        self._apply_dtype(layer)
        self._layers.append(layer)
        self._plan = None
        self._metrics = None
        if self._input is not None:
            self._build_layers()

    def _apply_dtype(self, layer: Layer) -> None:
        if self.dtype is not None and not layer.built:
            layer.dtype = self.dtype

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or index."""
        if index is not None:
            if not _validate.is_int(index):
                raise ArgumentError(f"index must be an integer. Received: index={index!r}")
            if not -len(self._layers) <= index < len(self._layers):
                raise ArgumentError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self._layers)} layers."
                )
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ArgumentError(
            f"No such layer: {name!r}. Existing layers are: {[l.name for l in self._layers]}"
        )

    @property
    def built(self) -> bool:
        return self._input is not None and all(layer.built for layer in self._layers)

    def build(self, input_shape: Any = None) -> None:
        """Build every layer for inputs of ``input_shape`` (batch axis included, e.g.
        ``(None, 64, 64, 3)``), drawing initial weights from the model's generator."""
        if input_shape is not None:
            shape = tuple(input_shape)[1:]
            if self._input is None:
                self._input = InputLayer(shape)
            elif tuple(self._input.shape) != shape:
                raise ArgumentError(
                    f"Model {self.name!r} expects inputs of shape {self.input_shape}; "
                    f"cannot build it for {tuple(input_shape)}"
                )
        if self._input is None:
            raise ArgumentError(
                f"Model {self.name!r} has no input shape. Start it with nn.Input(shape=...), "
                "pass input_shape=... to its first layer, or call build((None, H, W, C))."
            )
        self._build_layers()

    def _build_layers(self) -> None:
        shape = (None, *self._input.shape)
        for layer in self._layers:
            if not layer.built:
                layer.build(shape, self._rng)
            elif tuple(layer.input_shape[1:]) != tuple(shape[1:]):
                raise ArgumentError(
                    f"Layer {layer.name!r} was built for inputs {layer.input_shape}, "
                    f"but receives {shape} in model {self.name!r}"
                )
            shape = layer.output_shape

    @property
    def input_shape(self) -> tuple:
        if self._input is None:
            raise AttributeError(f"Model {self.name!r} has no input shape yet")
        return (None, *self._input.shape)

    @property
    def input_name(self) -> str:
        """The name of the model's input (the tensor its first layer takes)."""
        if self._input is None:
            raise AttributeError(f"Model {self.name!r} has no input yet")
        return self._input.name

    @property
    def output_shape(self) -> tuple:
        self._require_built()
        return self._layers[-1].output_shape if self._layers else self.input_shape

    @property
    def model_dtype(self) -> np.dtype:
        if self._layers:
            return self._layers[0].dtype
        return self._input.dtype if self._input is not None else np.dtype("float32")

    def _require_built(self) -> None:
        if not self.built:
            raise ArgumentError(
                f"Model {self.name!r} is not built yet: give it an input shape "
                "(nn.Input(shape=...), input_shape=..., or build((None, H, W, C)))."
            )

    # ---- weights -------------------------------------------------------------------------
    @property
    def weights(self) -> list[Weight]:
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights in Keras's order (layer by layer)."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Set all weights from arrays in Keras's order (``keras_model.get_weights()``)."""
        self._require_built()
        weights = list(weights)
        own = self.weights
        if len(weights) != len(own):
            raise ArgumentError(
                f"Model {self.name!r} has {len(own)} weights, but received {len(weights)}"
            )
        start = 0
        for layer in self._layers:
            k = len(layer.weights)
            layer.set_weights(weights[start : start + k])
            start += k

    def count_params(self) -> int:
        self._require_built()
        return sum(layer.count_params() for layer in self._layers)

    # ---- forward -------------------------------------------------------------------------
    def _prepare_x(self, x: Any) -> np.ndarray:
        x = as_numbers(x, "x")
        if x.ndim < 2:
            raise ArgumentError(
                f"x must have a batch axis and the input's axes, (N, ...). "
                f"Received: x.shape={x.shape}"
            )
        if self._input is None:
            self.build((None, *x.shape[1:]))
        elif not self.built:
            self._build_layers()
        if x.shape[1:] != tuple(self._input.shape):
            raise ArgumentError(
                f"Input 0 of model {self.name!r} is incompatible: expected shape="
                f"{self.input_shape}, found shape={x.shape}"
            )
        dtype = self.model_dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        return x

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        # A diverging model overflows to inf and NaN: its loss reports that (see
        # callbacks.TerminateOnNaN), as in Keras, rather than NumPy warning on every op.
        with quiet_overflow():
            return self.plan.forward(x, training=training)

    def __call__(self, x: Any, training: bool = False) -> np.ndarray:
        """The model's output for ``x`` (N, ...) in one batch."""
        return self._forward(self._prepare_x(x), training)

    def forward_all(self, x: Any, training: bool = False) -> dict[str, np.ndarray]:
        """Every layer's output for ``x``, in order: ``{layer name: array (N, ...)}`` (for
        feature-map pictures: ``model.forward_all(x[:1])["conv2d"]``)."""
        x = self._prepare_x(x)
        out = {}
        for layer in self._layers:
            x = layer.forward(x, training=training)
            out[layer.name] = x
        return out

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0) -> np.ndarray:
        """Outputs for ``x`` (N, ...) in inference mode, computed ``batch_size`` (32) at a time."""
        bs = check_batch_size(batch_size)
        x = self._prepare_x(x)
        n = x.shape[0]
        out = np.empty((n, *self.output_shape[1:]), dtype=self.model_dtype)
        for start in range(0, n, bs):
            out[start : start + bs] = self._forward(x[start : start + bs], training=False)
        return out

    def predict_on_batch(self, x: Any) -> np.ndarray:
        return self(x, training=False)

    # ---- training ------------------------------------------------------------------------
    def compile(self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None) -> None:
        """Choose the optimizer ("adam", "sgd" or an instance), the loss
        ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy" or
        an instance) and the metrics (["accuracy"])."""
        if loss is None:
            raise ArgumentError("compile() needs a loss. Received: loss=None")
        self.optimizer = optimizers_mod.get(optimizer)
        self.loss = losses_mod.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str):
            metrics = [metrics]
        for m in metrics:
            if not (m in ("accuracy", "acc") or isinstance(m, metrics_mod.Accuracy)):
                metrics_mod.get(m, self.loss, (1,))  # raises the Keras-style error
        self._metric_ids = list(metrics)
        self._metrics = None
        self._plan = None

    @property
    def compiled(self) -> bool:
        return self.loss is not None

    @property
    def plan(self) -> Plan:
        """How the model runs its layers: run order, the output activation fused with the
        loss, and where backward stops (a :class:`~cnnlab.nn.plan.Plan`, made for the
        current layers and loss; the layers themselves are never changed by it)."""
        self._require_built()
        if self._plan is None:
            self._plan = Plan.build(self._layers, self.loss)
        return self._plan

    def _setup_training(self) -> Plan:
        if not self.compiled:
            raise ArgumentError("You must call `compile()` before using the model.")
        plan = self.plan
        if self._metrics is None:
            self._metrics = [
                metrics_mod.get(m, self.loss, self.output_shape) for m in self._metric_ids
            ]
        return plan

    def _train_step(self, x, y, sample_weight=None) -> tuple[float, np.ndarray]:
        plan = self.plan
        with quiet_overflow():
            out, logits = plan.forward_with_logits(x, training=True)
            loss, grad = plan.loss_and_grad(y, out, logits, sample_weight)
            loss += sum(layer.regularization_loss() for layer in self._layers)  # Keras's losses
            for layer in self._layers:
                layer.zero_grad()
            plan.backward(grad)
            self.optimizer.apply(self.trainable_weights)
        return loss, out

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False):
        """One optimizer step on one batch; returns the batch's loss (and metrics)."""
        x = self._prepare_x(x)
        y = as_labels(y, x.shape[0])
        check_finite(x, "x")
        check_finite(y, "y")
        self._setup_training()
        sample_weight = sample_weights(y, None, sample_weight)
        loss, out = self._train_step(x, y, sample_weight)
        logs = {"loss": loss}
        for m in self._metrics:
            logs[m.name] = float(m.matches(y, out).mean())
        return format_result(logs, return_dict)

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: Any = "auto",
        callbacks: list | None = None,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
        seed: int | None = None,
    ) -> History:
        """Train for epochs ``initial_epoch .. epochs - 1`` (Keras's meaning of ``epochs``).

        Args:
            x: inputs (N, ...) matching the model's input shape; cast to the model's dtype.
                Or, as in Keras, a source of ready batches: an iterator or generator of
                ``(x, y)`` / ``(x, y, sample_weight)`` tuples (consumed as it goes), or an
                iterable that yields them afresh each epoch (a streamed split, see
                :mod:`cnnlab.data.stream`); ``y`` is then not given, its batches are used
                in its own order (``shuffle`` and ``batch_size`` do not apply) and
                ``validation_data`` may be such a source too.
            y: labels: (N,) or (N, 1) for binary, one-hot (N, K) for categorical, int (N,) for
                sparse categorical cross-entropy.
            batch_size: default 32. shuffle: reshuffle each epoch.
            seed: a non-negative int that fixes every random draw of each epoch as a
                function of (seed, epoch): the shuffling order, and each layer's draws
                (dropout masks, from a Generator handed to the layer with
                :meth:`~cnnlab.nn.Layer.set_generator`, seeded by (seed, epoch, layer
                position)). Fitting one epoch at a time, saving and loading in between,
                then gives bit-identical results to one fit. Default: the model's generator.
            validation_data: ``(x_val, y_val)`` evaluated after each epoch (val_ keys).
            callbacks: objects with any of on_train_begin(logs), on_epoch_begin(epoch, logs),
                on_train_batch_begin(batch, logs), on_train_batch_end(batch, logs) (logs: the
                epoch's running loss and metrics), on_epoch_end(epoch, logs),
                on_train_end(logs); see :mod:`cnnlab.nn.callbacks`. Setting
                ``model.stop_training = True`` stops after the current batch, as in Keras 3
                (the epoch's logs then cover the batches run); use
                :class:`~cnnlab.nn.callbacks.TerminateOnNaN` to stop at a non-finite loss.
            class_weight: ``{class id: weight}`` multiplies each sample's loss.
            verbose: 0 silent, 1 progress bar (a line per epoch when not a terminal), 2 a line
                per epoch.

        Returns:
            History: ``history.history["loss"]`` etc., one value per epoch.
        """
        streamed, seed, epochs, initial_epoch, bs = check_fit_args(
            x, y, sample_weight, validation_data, seed, epochs, initial_epoch, batch_size
        )
        if streamed:  # the source's own batches, in its own order (shuffle does not apply)
            if not self.compiled:
                raise ArgumentError("You must call `compile()` before using the model.")

            def prepare(xb):
                xb = self._prepare_x(xb)  # builds the model on the first batch if need be
                self._setup_training()
                return xb

            source = SourceBatches(x, prepare, class_weight)
            steps = source.steps()

            def batches(epoch: int):
                return source.epoch(epoch)

        else:
            x = self._prepare_x(x)
            n = x.shape[0]
            y = as_labels(y, n)
            if n == 0:
                raise ArgumentError("fit() received no samples (x is empty)")
            check_finite(x, "x")
            check_finite(y, "y")
            self._setup_training()
            sw = sample_weights(y, class_weight, sample_weight)
            steps = -(-n // bs)

            def batches(epoch: int):
                if not shuffle:
                    return array_batches(x, y, sw, bs, None)
                rng = np.random.default_rng([seed, epoch]) if seed is not None else self._rng
                return array_batches(x, y, sw, bs, rng.permutation(n))

        verbose = verbosity(verbose)
        callbacks = list(callbacks or [])
        history = History(self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.history = history
        self.stop_training = False
        for cb in callbacks:
            if hasattr(cb, "set_model"):
                cb.set_model(self)
        own_generators: dict[int, Any] = {}  # what the layers drew from before a seeded fit
        try:
            call_hooks(callbacks, "on_train_begin", {})
            for epoch in range(initial_epoch, epochs):
                call_hooks(callbacks, "on_epoch_begin", epoch, {})
                if seed is not None:
                    seed_layers(self._layers, seed, epoch, own_generators)
                args = (epochs, batches(epoch), steps, verbose, callbacks, validation_data, bs)
                logs = run_epoch(self, epoch, *args)
                history.append(epoch, logs)
                call_hooks(callbacks, "on_epoch_end", epoch, logs)
                if self.stop_training:
                    break
            call_hooks(callbacks, "on_train_end", {})
        finally:
            for i, rng in own_generators.items():
                self._layers[i].set_generator(rng)
        return history

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        batch_size: int | None = None,
        verbose: Any = 0,
        sample_weight: Any = None,
        return_dict: bool = False,
    ):
        """Loss and metrics over ``(x, y)`` in inference mode (batch-size-weighted means).

        Returns the loss (a float) when there are no metrics, else ``[loss, *metrics]``, or a
        dict ``{"loss": ..., "accuracy": ...}`` with ``return_dict=True``.
        """
        if is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ArgumentError(
                    "y and sample_weight must not be given when x is a source of (x, y) "
                    "batches: its batches carry them"
                )
            if not self.compiled:
                raise ArgumentError("You must call `compile()` before using the model.")
            batches = SourceBatches(x, self._prepare_x, None).epoch(0)
        else:
            x = self._prepare_x(x)
            y = as_labels(y, x.shape[0])
            bs = check_batch_size(batch_size)
            sw = None if sample_weight is None else np.asarray(sample_weight)
            batches = array_batches(x, y, sw, bs, None)
        logs = evaluate_batches(self._setup_training(), self._metrics, batches)
        logs["loss"] += sum(layer.regularization_loss() for layer in self._layers)  # as Keras
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in logs.items()))
        return format_result(logs, return_dict)

    # ---- description ---------------------------------------------------------------------
    def summary(self, line_length: int | None = None, print_fn=None) -> None:
        """Print each layer's name, type, output shape and parameter count, then the totals
        (trainable and non-trainable), as ``keras.Model.summary()``.

        Args:
            line_length: minimum width of the table.
            print_fn: called with each line (default ``print``).

        A compiled model ends with its :attr:`plan` (run order, fused output, backward stop).
        """
        self._require_built()
        for text in summary_lines(self, line_length):
            (print_fn or print)(text)

    def get_config(self) -> dict:
        """The architecture as JSON-friendly data (the Input first, then every layer)."""
        layers = [serialize(self._input)] if self._input is not None else []
        layers += [serialize(layer) for layer in self._layers]
        return {"name": self.name, "seed": self.seed, "layers": layers}

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        """The model ``get_config()`` described, built (its weights drawn from ``seed``).

        Before anything is allocated, the parameter count and every layer's output size are
        checked against :data:`cnnlab.nn.saving.MAX_PARAMS` and
        :data:`cnnlab.nn.saving.MAX_ACTIVATION_ELEMENTS`, so that a config asking for
        absurd sizes gives one clear error rather than exhausting the memory.

        Raises:
            ArgumentError: a malformed config, a layer's bad arguments, or sizes beyond the
                limits, naming the layer.
        """
        from cnnlab.nn.saving import check_sizes

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ArgumentError(
                'A Sequential config must be a dict with a "layers" list. '
                f"Received: {str(config)[:200]}"
            )
        name, seed = config.get("name"), config.get("seed")
        if name is not None and not isinstance(name, str):
            raise ArgumentError(f"The model name must be a string. Received: name={name!r}")
        seed = check_seed(seed)
        layers = [deserialize(item) for item in config["layers"]]
        check_sizes(layers)
        return cls(layers, name=name, seed=seed)

    def save(self, path: Any, include_optimizer: bool = True) -> None:
        """Save architecture, weights (and optimizer state) to one ``.npz`` file, atomically.
        See :func:`cnnlab.nn.saving.save_model`."""
        from cnnlab.nn.saving import save_model

        save_model(self, path, include_optimizer=include_optimizer)

    def to_keras(self):
        """The equivalent ``keras.Sequential`` with the same weights (imports Keras)."""
        from cnnlab.nn.interop import to_keras

        return to_keras(self)

    def __repr__(self) -> str:
        return f"<Sequential name={self.name} layers={len(self._layers)} built={self.built}>"
