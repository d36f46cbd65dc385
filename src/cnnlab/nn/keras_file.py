"""The one checked way a ``.keras`` file is opened: sizes first, Keras after.

``keras.models.load_model`` builds the model from the file's ``config.json`` and allocates
every weight before it reads one, so a hand-edited config asking for a Dense layer of
300,000,000 units takes 19 GB before any check can run. :func:`check_keras_file` reads
the archive (a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``) without
importing Keras and refuses a model over :data:`cnnlab.nn.saving.MAX_PARAMS`, as
:func:`cnnlab.nn.load_model` does for ``.npz`` files; :func:`load_keras_model` loads only
a file that passed (``safe_mode=True``: no lambda layers run).

How the parameters are counted, and why this way: Keras writes each built layer's input
shape into its config (``build_config``), so a layer's weights follow from its own config
with no shape inference: Dense ``units * (in + 1)``, ConvND ``prod(kernel) * in / groups
* filters + filters``, and the others below. Working the shapes through the graph instead
would mean re-implementing Keras's layers; reading the weights alone would not do, since
the config is built (and allocated) before the weights are read. A config without
``build_config`` (hand-made) is counted at its least, one input channel, which still
catches a huge ``units`` or ``filters``. The arrays stored in ``model.weights.h5`` are
summed too (from their HDF5 headers, no data read): Keras reads each into memory.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from pathlib import Path

import numpy as np

from cnnlab.errors import ModelFileError
from cnnlab.nn.keras_config import build_model, read_config
from cnnlab.nn.model import Sequential
from cnnlab.nn.saving import MAX_ACTIVATION_ELEMENTS, MAX_PARAMS

_MAX_CONFIG_BYTES = 16 << 20  # a real config.json is a few kilobytes to a megabyte
_LIMIT = f"the limit of {MAX_PARAMS:,} (cnnlab.nn.saving.MAX_PARAMS)"


def _int(value, default: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return default
    return max(int(value), 0) if math.isfinite(value) else MAX_PARAMS + 1


def _prod(values) -> int:
    if isinstance(values, int | float):
        return _int(values)
    if isinstance(values, list | tuple):
        return math.prod(_int(v) for v in values) if values else 1
    return 1


def _in_channels(layer: dict) -> int:
    shape = (layer.get("build_config") or {}).get("input_shape")
    if isinstance(shape, list) and shape and isinstance(shape[0], list):
        shape = shape[0]  # a layer of several inputs: the first
    if isinstance(shape, list) and shape:
        return _int(shape[-1])
    return 1


def layer_params(layer: dict) -> int:
    """The weights a Keras layer config declares (0 for a layer without weights)."""
    kind, cfg = layer.get("class_name"), layer.get("config") or {}
    if not isinstance(cfg, dict):
        return 0
    cin = _in_channels(layer)
    bias = 1 if cfg.get("use_bias", True) else 0
    if kind in ("Dense", "EinsumDense"):
        return (cin + bias) * _int(cfg.get("units", 0))
    if kind in ("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose"):
        groups = max(_int(cfg.get("groups", 1)), 1)
        filters = _int(cfg.get("filters", 0))
        return _prod(cfg.get("kernel_size", 1)) * max(cin // groups, 1) * filters + bias * filters
    if kind in ("DepthwiseConv1D", "DepthwiseConv2D"):
        out = cin * _int(cfg.get("depth_multiplier", 1))
        return _prod(cfg.get("kernel_size", 1)) * out + bias * out
    if kind in ("SeparableConv1D", "SeparableConv2D"):
        mid = cin * _int(cfg.get("depth_multiplier", 1))
        filters = _int(cfg.get("filters", 0))
        return _prod(cfg.get("kernel_size", 1)) * mid + mid * filters + bias * filters
    if kind in ("BatchNormalization", "LayerNormalization", "GroupNormalization"):
        return 4 * cin
    if kind == "Embedding":
        return _int(cfg.get("input_dim", 0)) * _int(cfg.get("output_dim", 0))
    return 0


def _layers(node):
    """Every layer config in ``node`` (nested models included)."""
    if isinstance(node, dict):
        if isinstance(node.get("class_name"), str) and isinstance(node.get("config"), dict):
            yield node
        for value in node.values():
            yield from _layers(value)
    elif isinstance(node, list):
        for value in node:
            yield from _layers(value)


def _check_config(path: Path, config) -> None:
    total = 0
    for layer in _layers(config):
        cfg = layer["config"]
        name = cfg.get("name", "?")
        where = f"layer {name!r} ({layer['class_name']})"
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if layer["class_name"] == "InputLayer" and isinstance(shape, list):
            size = _prod([1 if s is None else s for s in shape[1:]])
            if size > MAX_ACTIVATION_ELEMENTS:
                raise ModelFileError(
                    f"{path}: {where} declares an input of {size:,} values per image, beyond "
                    f"the limit of {MAX_ACTIVATION_ELEMENTS:,} "
                    "(cnnlab.nn.saving.MAX_ACTIVATION_ELEMENTS)"
                )
        n = layer_params(layer)
        total += n
        if total > MAX_PARAMS:
            raise ModelFileError(
                f"{path}: {where} in config.json would bring the parameter count to "
                f"{total:,} ({n:,} in this layer), beyond {_LIMIT}; refusing to build it"
            )


def _check_weights(path: Path, archive: zipfile.ZipFile) -> None:
    import h5py

    try:
        info = archive.getinfo("model.weights.h5")
    except KeyError:
        return  # Keras says what is missing
    if info.compress_type != zipfile.ZIP_STORED:
        return  # seeking in a compressed member re-reads it; Keras writes it stored
    total = 0

    def count(name, obj) -> None:
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += math.prod(int(s) for s in obj.shape or ())

    try:
        with archive.open(info) as member, h5py.File(member, "r") as f:
            f.visititems(count)
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelFileError(f"{path}: model.weights.h5 is damaged ({exc})") from None
    if total > MAX_PARAMS:
        raise ModelFileError(
            f"{path}: model.weights.h5 declares {total:,} weights, beyond {_LIMIT}"
        )


def check_keras_file(path: str | os.PathLike) -> dict:
    """Refuse a ``.keras`` file that is not a Keras archive or declares too many weights;
    return its ``config.json``.

    Raises:
        ModelFileError: a missing file, not a zip (or truncated), no ``config.json``, a
            config that is not JSON, or a parameter count over ``MAX_PARAMS`` (from the
            config, or from the weights file's array headers), naming the file and layer.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > _MAX_CONFIG_BYTES:
                raise ModelFileError(
                    f"{path}: config.json is {info.file_size:,} bytes, over the "
                    f"{_MAX_CONFIG_BYTES:,} a model's architecture takes"
                )
            with archive.open(info) as fh:
                text = fh.read(_MAX_CONFIG_BYTES + 1)
            try:
                config = json.loads(text)
            except ValueError as exc:
                raise ModelFileError(f"{path}: config.json is not JSON ({exc})") from None
            _check_config(path, config)
            _check_weights(path, archive)
    except (zipfile.BadZipFile, KeyError, EOFError, OSError):
        raise ModelFileError(
            f"{path}: not a Keras model archive (truncated or not a zip)"
        ) from None
    return config


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``SeparableConv2D`` -> ``separable_conv2d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _weight_keys(config: dict) -> dict[str, str]:
    """``{layer name: its group under layers/ in model.weights.h5}``.

    Keras 3 does not file a layer's variables under the layer's own name but under its class
    in snake case, numbered in the model's layer order: the first Conv2D's are in
    ``layers/conv2d/vars``, the second's in ``layers/conv2d_1/vars`` (``saving_lib``'s
    ``_save_container_state``)."""
    used: dict[str, int] = {}
    keys = {}
    for item in (config.get("config") or {}).get("layers") or []:
        key = _snake_case(str(item.get("class_name")))
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        keys[str((item.get("config") or {}).get("name", item.get("name")))] = key
    return keys


def _read_weights(path: Path, config: dict) -> dict[str, list[np.ndarray]]:
    """``{layer name: [arrays in Keras's order]}`` from the archive's ``model.weights.h5``
    (layer ``name``'s variables are ``layers/<key>/vars/0``, ``1``, ...; see
    :func:`_weight_keys`)."""
    import h5py

    weights = {}
    try:
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as member:
            with h5py.File(member, "r") as f:
                for name, key in _weight_keys(config).items():
                    found = f.get(f"layers/{key}/vars")
                    if isinstance(found, h5py.Group) and len(found):
                        keys = sorted(found, key=lambda k: int(k) if k.isdigit() else -1)
                        weights[name] = [np.asarray(found[k]) for k in keys]
    except KeyError:
        raise ModelFileError(f"{path}: the archive holds no model.weights.h5") from None
    except (OSError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: model.weights.h5 is damaged ({exc})") from None
    return weights


def read_keras(path: str | os.PathLike, seed: int | None = None) -> Sequential:
    """A ``.keras`` file as a cnnlab.nn model, with zipfile and h5py alone: no TensorFlow,
    no Keras (a fraction of a second where importing Keras takes ten).

    The architecture is read from ``config.json`` through the layer registry (see
    :mod:`cnnlab.nn.keras_config`), the weights from ``model.weights.h5``; the optimizer's
    state is not read. Its predictions equal Keras's (within float32 rounding).

    Raises:
        ModelFileError: the file is refused (see :func:`check_keras_file`), or its weights
            are missing or damaged.
        ArgumentError: a layer or option cnnlab.nn does not compute, naming it (Keras can
            still load such a file: :func:`load_keras_model`).
    """
    path = Path(path)
    config = check_keras_file(path)
    keras = read_config(path, config)
    return build_model(path, keras, _read_weights(path, config), seed)


def load_keras_model(path: str | os.PathLike, **kwargs):
    """``keras.models.load_model(path, safe_mode=True)`` for a file :func:`check_keras_file`
    passes; Keras (and TensorFlow) is imported only then.

    Raises:
        ModelFileError: the file is refused, or Keras cannot load it.
    """
    check_keras_file(path)
    import keras  # after the cheap checks: importing TensorFlow takes seconds

    try:
        return keras.models.load_model(path, safe_mode=True, **kwargs)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ModelFileError(f"{path}: cannot load the Keras model ({exc})") from None
