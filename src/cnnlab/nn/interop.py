"""Move models between cnnlab.nn and Keras: ``from_keras(keras_model)`` and ``to_keras(model)``.

Both directions keep the layer names, the architecture and the weights exactly (the same NHWC
layout and the same ``(kh, kw, c_in, c_out)`` kernels in both engines). Supported Keras layers:
InputLayer, Conv2D, Dense, ZeroPadding2D, MaxPooling2D, AveragePooling2D, BatchNormalization,
ReLU, Activation, Flatten, Dropout, in a ``keras.Sequential`` or a single-chain Functional model.
Anything else is refused with an ``ArgumentError`` (a ``ValueError``) naming the first
unsupported layer.

Keras is imported only when these functions run.

Example:
    >>> np_model = from_keras(keras_model)       # doctest: +SKIP
    >>> np_model.predict(x)                      # runs with NumPy alone  # doctest: +SKIP
    >>> keras_again = np_model.to_keras()        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from cnnlab.errors import ArgumentError
from cnnlab.nn import layers as L
from cnnlab.nn.model import Sequential

SUPPORTED = (
    "InputLayer",
    "Conv2D",
    "Dense",
    "ZeroPadding2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "BatchNormalization",
    "ReLU",
    "Activation",
    "Flatten",
    "Dropout",
)


def _unsupported(layer: Any, why: str | None = None) -> ArgumentError:
    kind = type(layer).__name__
    if why is None:
        return ArgumentError(
            f"from_keras: layer {layer.name!r} of type {kind} is not supported by cnnlab.nn "
            f"(supported: {', '.join(SUPPORTED)})"
        )
    return ArgumentError(
        f"from_keras: layer {layer.name!r} ({kind}) {why}, which cnnlab.nn does not support"
    )


def _chain(km) -> list:
    """The model's layers in order, checking that a Functional model is one chain."""
    import keras

    if isinstance(km, keras.Sequential):
        return [layer for layer in km.layers if type(layer).__name__ != "InputLayer"]
    if not isinstance(km, keras.Model):
        raise ArgumentError(f"from_keras expects a keras.Model. Received: {type(km).__name__}")
    if len(km.inputs) != 1 or len(km.outputs) != 1:
        raise ArgumentError(
            f"from_keras: model {km.name!r} has {len(km.inputs)} inputs and {len(km.outputs)} "
            "outputs; only single-chain models (one input, one output) are supported"
        )
    out, prev = [], km.inputs[0]
    for layer in km.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        node = next(
            (
                nd
                for nd in layer._inbound_nodes
                if len(nd.input_tensors) == 1 and nd.input_tensors[0] is prev
            ),
            None,
        )
        if node is None:
            raise ArgumentError(
                f"from_keras: layer {layer.name!r} does not take the previous layer's output as "
                f"its only input; model {km.name!r} is not a single chain of layers"
            )
        out.append(layer)
        prev = node.output_tensors[0]
    if prev is not km.outputs[0]:
        raise ArgumentError(f"from_keras: model {km.name!r} is not a single chain of layers")
    return out


def _activation(layer, cfg) -> str:
    act = cfg.get("activation", "linear")
    if not isinstance(act, str) or act not in ("linear", "relu", "sigmoid", "softmax", "tanh"):
        raise _unsupported(layer, f"uses activation={act!r}")
    return act


def _check(layer, cfg, **expected) -> None:
    for key, want in expected.items():
        got = cfg.get(key, want)
        if isinstance(got, list):
            got = tuple(got)
        if got != want and not (want is None and got in (None, {})):
            raise _unsupported(layer, f"uses {key}={got!r}")


def _convert(layer) -> L.Layer:
    kind = type(layer).__name__
    if kind not in SUPPORTED:
        raise _unsupported(layer)
    cfg = layer.get_config()
    dtype = layer.dtype if layer.dtype in ("float32", "float64") else None
    if dtype is None:
        raise _unsupported(layer, f"uses dtype={layer.dtype!r}")
    common = {"name": layer.name, "dtype": dtype, "trainable": layer.trainable}
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise _unsupported(layer, f"uses data_format={cfg['data_format']!r}")
    if kind == "Conv2D":
        _check(
            layer,
            cfg,
            dilation_rate=(1, 1),
            groups=1,
            kernel_regularizer=None,
            bias_regularizer=None,
            activity_regularizer=None,
            kernel_constraint=None,
            bias_constraint=None,
        )
        return L.Conv2D(
            cfg["filters"],
            tuple(cfg["kernel_size"]),
            strides=tuple(cfg["strides"]),
            padding=cfg["padding"],
            activation=_activation(layer, cfg),
            use_bias=cfg["use_bias"],
            **common,
        )
    if kind == "Dense":
        _check(
            layer,
            cfg,
            kernel_regularizer=None,
            bias_regularizer=None,
            activity_regularizer=None,
            kernel_constraint=None,
            bias_constraint=None,
            lora_rank=None,
        )
        return L.Dense(
            cfg["units"], activation=_activation(layer, cfg), use_bias=cfg["use_bias"], **common
        )
    if kind == "ZeroPadding2D":
        return L.ZeroPadding2D(tuple(tuple(p) for p in cfg["padding"]), **common)
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        cls = L.MaxPooling2D if kind == "MaxPooling2D" else L.AveragePooling2D
        return cls(
            tuple(cfg["pool_size"]),
            strides=tuple(cfg["strides"] or cfg["pool_size"]),
            padding=cfg["padding"],
            **common,
        )
    if kind == "BatchNormalization":
        _check(
            layer,
            cfg,
            renorm=False,
            beta_regularizer=None,
            gamma_regularizer=None,
            beta_constraint=None,
            gamma_constraint=None,
        )
        return L.BatchNormalization(
            axis=cfg["axis"],
            momentum=cfg["momentum"],
            epsilon=cfg["epsilon"],
            center=cfg["center"],
            scale=cfg["scale"],
            **common,
        )
    if kind == "ReLU":
        _check(layer, cfg, max_value=None, negative_slope=0.0, threshold=0.0)
        return L.ReLU(**common)
    if kind == "Activation":
        return L.Activation(_activation(layer, cfg), **common)
    if kind == "Flatten":
        return L.Flatten(**common)
    if kind == "Dropout":
        _check(layer, cfg, noise_shape=None)
        return L.Dropout(cfg["rate"], seed=cfg.get("seed"), **common)
    raise _unsupported(layer)  # pragma: no cover - InputLayer never reaches here


def from_keras(keras_model, seed: int | None = None) -> Sequential:
    """Build the equivalent :class:`~cnnlab.nn.Sequential` with the same names and weights.

    Args:
        keras_model: a built ``keras.Sequential`` or single-chain Functional model of supported
            layers (see module docstring).
        seed: seed of the new model's generator (dropout masks, shuffling).

    Raises:
        ValueError: naming the first unsupported layer or option, or a non-chain model.
    """
    chain = _chain(keras_model)
    shape = keras_model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if any(d is None for d in shape[1:]):
        raise ArgumentError(
            f"from_keras: the input shape {shape} must be fully known (apart from the batch)"
        )
    model = Sequential([L.Input(shape=tuple(shape[1:]))], name=keras_model.name, seed=seed)
    for layer in chain:
        model.add(_convert(layer))
    for k_layer, n_layer in zip(chain, model.layers, strict=True):
        n_layer.set_weights(k_layer.get_weights())
    return model


def _to_keras_layer(layer: L.Layer, keras):
    kl = keras.layers
    common = {"name": layer.name, "dtype": layer.dtype.name, "trainable": layer.trainable}
    act = getattr(layer, "activation", None)
    if isinstance(layer, L.Conv2D):
        return kl.Conv2D(
            layer.filters,
            layer.kernel_size,
            strides=layer.strides,
            padding=layer.padding,
            activation=act,
            use_bias=layer.use_bias,
            **common,
        )
    if isinstance(layer, L.Dense):
        return kl.Dense(layer.units, activation=act, use_bias=layer.use_bias, **common)
    if isinstance(layer, L.ReLU):
        return kl.ReLU(**common)
    if isinstance(layer, L.Activation):
        return kl.Activation(act, **common)
    if isinstance(layer, L.Flatten):
        return kl.Flatten(**common)
    if isinstance(layer, L.ZeroPadding2D):
        return kl.ZeroPadding2D(layer.padding, **common)
    if isinstance(layer, L.MaxPooling2D):
        return kl.MaxPooling2D(layer.pool_size, layer.strides, layer.padding, **common)
    if isinstance(layer, L.AveragePooling2D):
        return kl.AveragePooling2D(layer.pool_size, layer.strides, layer.padding, **common)
    if isinstance(layer, L.BatchNormalization):
        return kl.BatchNormalization(
            axis=layer.axis,
            momentum=layer.momentum,
            epsilon=layer.epsilon,
            center=layer.center,
            scale=layer.scale,
            **common,
        )
    if isinstance(layer, L.Dropout):
        return kl.Dropout(layer.rate, seed=layer.seed, **common)
    raise ArgumentError(
        f"to_keras: layer {layer.name!r} of type {type(layer).__name__} has no Keras equivalent"
    )


def to_keras(model: Sequential):
    """The equivalent ``keras.Sequential`` (same names, same weights; not compiled)."""
    import keras

    model._require_built()
    km = keras.Sequential(
        [keras.Input(shape=model.input_shape[1:])]
        + [_to_keras_layer(layer, keras) for layer in model.layers],
        name=model.name,
    )
    km.set_weights(model.get_weights())
    return km
