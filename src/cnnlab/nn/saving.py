"""Save a model to one ``.npz`` file and load it back, safely.

The file is a zip archive (NumPy's ``.npz``) holding:

- ``__cnnlab__``: the architecture and compile settings as UTF-8 JSON (a uint8 array);
- ``w/<layer name>/<weight name>``: every weight, e.g. ``w/conv2d/kernel``;
- ``opt/iterations`` and ``opt/<i>``: the optimizer's state, when saved with
  ``include_optimizer=True`` and the model has trained.

Loading never unpickles (``allow_pickle=False``) and checks everything against the rebuilt
architecture: every expected array present, no unexpected one, shapes and dtypes equal. Any
problem raises :class:`cnnlab.errors.ModelFileError` naming the file and what is wrong. Files
are written to a temporary name and renamed into place, so an interrupted save leaves the
previous file intact.

Limits. A model file is a few kilobytes of JSON that decides how much memory the model
takes, so before anything is allocated :func:`load_model` (and
:meth:`~cnnlab.nn.Sequential.from_config`) works out every layer's weight shapes and
output size from the architecture alone (:meth:`~cnnlab.nn.Layer.plan`) and refuses:

- more than :data:`MAX_PARAMS` = 250,000,000 parameters in all (1 GB as float32). The
  largest models cnnlab builds: the Happy model has 37,633 at 64x64 and about 33.6 million
  at 2048x2048 (its Dense layer grows with the image); the recommended models about 100k
  at any size.
- more than :data:`MAX_ACTIVATION_ELEMENTS` = 1,000,000,000 values in one image's input or
  in any layer's output for one image (4 GB as float32; a batch needs that many times the
  batch size). The largest at 2048x2048: the Happy model's convolution, 2048 x 2048 x 32
  = 134 million.
- an array whose header declares another shape or dtype than the architecture's (checked
  before its data is read), or more bytes than its zip entry holds.

Each refusal is one :class:`~cnnlab.errors.ModelFileError` naming the file and the layer,
e.g. ``m.npz: layer 'conv2d' (Conv2D) would bring the parameter count to
1,176,000,033, beyond the limit of 250,000,000 (cnnlab.nn.saving.MAX_PARAMS)``.

Example:
    >>> model.save("happy.cnnlab.npz")          # doctest: +SKIP
    >>> model = load_model("happy.cnnlab.npz")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab import _validate
from cnnlab._io import atomic_path
from cnnlab.errors import ArgumentError, ModelFileError
from cnnlab.nn import losses, optimizers
from cnnlab.nn.functional import Model
from cnnlab.nn.layers import InputLayer
from cnnlab.nn.model import Sequential

FORMAT = "cnnlab.nn.Sequential"
VERSION = 1
_META = "__cnnlab__"

#: The most parameters (weights, trainable or not) a model built from a config may have.
MAX_PARAMS = 250_000_000
#: The most values one image's input, or one layer's output for one image, may hold.
MAX_ACTIVATION_ELEMENTS = 1_000_000_000
# The most bytes of architecture JSON read from a file (a real one is a few kilobytes).
_MAX_META_BYTES = 16 << 20


def _describe(layer) -> str:
    return f"layer {layer.name!r} ({type(layer).__name__})"


def check_sizes(layers: list) -> None:
    """Refuse a stack of layers (an Input first, as in a config) whose parameter count or
    activation sizes would exceed :data:`MAX_PARAMS` or :data:`MAX_ACTIVATION_ELEMENTS`,
    working them out from the shapes alone, before anything is allocated.

    Raises:
        ArgumentError: naming the layer, its sizes and the limit.
    """

    rest = list(layers)
    if rest and isinstance(rest[0], InputLayer):
        shape, where = (None, *rest.pop(0).shape), "the input"
    elif rest and rest[0].input_shape_arg is not None:
        shape, where = (None, *rest[0].input_shape_arg), "the input"
    else:
        return  # no input shape: nothing is built yet
    _check_activation(where, shape)
    total = 0
    for layer in rest:
        out, weight_shapes = layer.plan(shape)
        n = sum(math.prod(w) for w in weight_shapes)
        total += n
        if total > MAX_PARAMS:
            raise ArgumentError(
                f"{_describe(layer)} would bring the parameter count to {total:,} "
                f"({n:,} in this layer, for inputs {shape}), beyond the limit of "
                f"{MAX_PARAMS:,} (cnnlab.nn.saving.MAX_PARAMS)"
            )
        _check_activation(_describe(layer), out)
        shape = out


def check_graph_sizes(layers: list, inbound: list) -> None:
    """:func:`check_sizes` for a graph (:class:`~cnnlab.nn.Model`'s config): the Input, then
    each layer with the names of the tensors it takes.

    Raises:
        ArgumentError: naming the layer, its sizes and the limit, or an inbound name that is
            not an earlier tensor.
    """
    first, rest = layers[0], layers[1:]
    shapes = {first.name: (None, *first.shape)}
    _check_activation("the input", shapes[first.name])
    total = 0
    for layer, names in zip(rest, inbound, strict=True):
        missing = [n for n in names if n not in shapes]
        if missing or not names:
            raise ArgumentError(
                f"{_describe(layer)} takes {list(names)}, which are not all earlier tensors"
            )
        given = [shapes[n] for n in names]
        out, weight_shapes = layer.plan(given[0] if len(given) == 1 else given)
        total += sum(math.prod(w) for w in weight_shapes)
        if total > MAX_PARAMS:
            raise ArgumentError(
                f"{_describe(layer)} would bring the parameter count to {total:,}, beyond "
                f"the limit of {MAX_PARAMS:,} (cnnlab.nn.saving.MAX_PARAMS)"
            )
        _check_activation(_describe(layer), out)
        shapes[layer.name] = out


def _check_activation(where: str, shape: tuple) -> None:
    size = math.prod(int(d) for d in shape[1:])
    if size > MAX_ACTIVATION_ELEMENTS:
        raise ArgumentError(
            f"{where} would hold {size:,} values per image (shape {tuple(shape)}), beyond the "
            f"limit of {MAX_ACTIVATION_ELEMENTS:,} (cnnlab.nn.saving.MAX_ACTIVATION_ELEMENTS)"
        )


def _weight_key(weight) -> str:
    return f"w/{weight.path}"


def save_model(model, path: str | os.PathLike, include_optimizer: bool = True) -> Path:
    """Write ``model`` to ``path`` (a ``.npz`` file) atomically; returns the path.

    Args:
        model: a built :class:`~cnnlab.nn.Sequential`.
        path: target file, ending in ``.npz`` (e.g. ``"happy.cnnlab.npz"``).
        include_optimizer: also store the compile settings' optimizer state, so training
            resumes exactly.
    """
    model._require_built()
    path = Path(path)
    if path.suffix != ".npz":
        raise ArgumentError(
            "Invalid filepath extension for saving: use a name ending in '.npz' "
            f"(e.g. 'model.cnnlab.npz'). Received: filepath={str(path)!r}"
        )
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.get_config(),
        "dtype": model.model_dtype.name,
        "weights": [w.path for w in model.weights],
    }
    arrays: dict[str, np.ndarray] = {_weight_key(w): w.value for w in model.weights}
    if model.compiled:
        meta["compile"] = {
            "optimizer": model.optimizer.get_config(),
            "loss": losses.serialize(model.loss),
            "metrics": [m if isinstance(m, str) else m.name for m in model._metric_ids],
        }
        state = model.optimizer.variables() if include_optimizer else []
        if state:
            meta["optimizer_state"] = len(state)
            arrays["opt/iterations"] = np.asarray(model.optimizer.iterations, dtype=np.int64)
            for i, arr in enumerate(state):
                arrays[f"opt/{i}"] = arr
    text = json.dumps(meta).encode("utf-8")
    arrays[_META] = np.frombuffer(text, dtype=np.uint8)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return path


def _fail(path: Path, problem: str) -> ModelFileError:
    return ModelFileError(f"{path}: {problem}")


class _Archive:
    """The arrays of an ``.npz`` file, read one at a time and only after their ``.npy``
    header (shape and dtype) is checked: nothing is unpickled, and no header can make
    the reader allocate more than its zip entry holds."""

    def __init__(self, path: Path):
        self.path = path
        if not path.exists():
            raise _fail(path, "no such model file")
        if not path.is_file():
            raise _fail(path, "not a file")
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != b"PK\x03\x04":
            raise _fail(path, "not a cnnlab model file (not an .npz zip archive)")
        try:
            self._zip = zipfile.ZipFile(path)
            self.entries = {  # as np.load names them: without the ".npy"
                info.filename.removesuffix(".npy"): info for info in self._zip.infolist()
            }
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise self._corrupt(exc) from None

    def __enter__(self) -> _Archive:
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def _corrupt(self, exc: BaseException) -> ModelFileError:
        return _fail(self.path, f"the file is truncated or corrupt ({type(exc).__name__}: {exc})")

    def header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        """The (shape, dtype) that entry ``key`` declares, read without its data."""
        info = self.entries[key]
        try:
            with self._zip.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise self._corrupt(exc) from None
        if dtype.hasobject:
            raise _fail(
                self.path,
                f"array {key!r} is a pickled object array; refusing to load it "
                "(cnnlab model files never contain pickles)",
            )
        if math.prod(shape) * dtype.itemsize > info.file_size:
            raise _fail(
                self.path,
                f"array {key!r} declares shape {shape} of {dtype}, more data than the "
                f"{info.file_size:,} bytes it holds",
            )
        return tuple(shape), dtype

    def read(self, key: str, shape: tuple | None = None, dtype: Any = None) -> np.ndarray:
        """Entry ``key``'s array, after checking its header (and, if given, that it declares
        ``shape`` and ``dtype``: a mismatch is reported before any data is read)."""
        got_shape, got_dtype = self.header(key)
        what = f"weight {key[2:]!r}" if key.startswith("w/") else f"array {key!r}"
        if shape is not None and got_shape != tuple(shape):
            raise _fail(self.path, f"{what} has shape {got_shape}, expected {tuple(shape)}")
        if dtype is not None and got_dtype != np.dtype(dtype):
            raise _fail(self.path, f"{what} has dtype {got_dtype}, expected {np.dtype(dtype)}")
        try:
            with self._zip.open(self.entries[key]) as fh:
                return np.lib.format.read_array(fh, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise self._corrupt(exc) from None


def load_model(path: str | os.PathLike, compile: bool = True):  # noqa: A002 - Keras's name
    """Load a model saved by :func:`save_model`, checking it thoroughly.

    The architecture is read and its sizes checked against :data:`MAX_PARAMS` and
    :data:`MAX_ACTIVATION_ELEMENTS` before any weight is allocated; each array's header
    is checked before its data is read.

    Raises:
        ModelFileError: missing, a directory, not a zip, truncated, pickled, wrong format
            or version, invalid architecture (unknown layer, bad arguments, sizes beyond
            the limits), missing or extra arrays, wrong shapes or dtypes, NaN or infinite
            weights.
    """
    if not isinstance(path, str | os.PathLike):
        raise ArgumentError(
            f"load_model needs the path of a model file. Received: {type(path).__name__}"
        )
    path = Path(path)
    with _Archive(path) as archive:
        return _load(archive, path, compile)


def _load(archive: _Archive, path: Path, compile: bool):  # noqa: A002

    if _META not in archive.entries:
        raise _fail(path, f"not a cnnlab model file (no {_META!r} entry)")
    for key in archive.entries:  # refuse pickles and lying headers before anything else
        archive.header(key)
    shape, dtype = archive.header(_META)
    if dtype != np.uint8 or len(shape) != 1:
        raise _fail(path, f"the {_META!r} entry is not UTF-8 JSON bytes")
    if shape[0] > _MAX_META_BYTES:
        raise _fail(path, f"the architecture JSON is too large ({shape[0]:,} bytes)")
    raw = archive.read(_META)
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _fail(path, f"the architecture JSON is unreadable ({exc})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt != FORMAT:
        raise _fail(path, f"not a cnnlab model file (format {fmt!r}, expected {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise _fail(path, f"unsupported file version {meta.get('version')!r} (expected {VERSION})")
    try:
        config = meta.get("config")
        graph = isinstance(config, dict) and "inbound" in config
        model = (Model if graph else Sequential).from_config(config)
        model._require_built()
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"the architecture is invalid: {exc}") from None

    expected = {_weight_key(w): w for w in model.weights}
    listed = [f"w/{p}" for p in meta.get("weights", [])]
    if listed != list(expected):
        raise _fail(
            path, f"the weight list {listed} does not match the architecture {list(expected)}"
        )
    names = set(archive.entries) - {_META}
    weight_keys = {k for k in names if k.startswith("w/")}
    missing = sorted(set(expected) - weight_keys)
    extra = sorted(k for k in names if k not in expected and not k.startswith("opt/"))
    if missing:
        raise _fail(path, f"missing weight arrays: {', '.join(k[2:] for k in missing)}")
    if extra:
        raise _fail(path, f"unexpected arrays: {', '.join(extra)}")
    for key, w in expected.items():
        arr = archive.read(key, w.shape, w.dtype)
        if not np.all(np.isfinite(arr)):
            raise _fail(path, f"weight {w.path!r} contains NaN or infinity")
        w.value[...] = arr

    if compile and "compile" in meta:
        try:
            c = meta["compile"]
            model.compile(
                optimizer=optimizers.deserialize(c["optimizer"]),
                loss=losses.deserialize(c["loss"]),
                metrics=c.get("metrics") or None,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _fail(path, f"the compile settings are invalid ({exc})") from None
        n_state = meta.get("optimizer_state", 0)
        if not _validate.is_int(n_state) or n_state < 0:
            raise _fail(path, f"the optimizer state count {n_state!r} is invalid")
        opt_keys = {k for k in names if k.startswith("opt/")}
        want = {f"opt/{i}" for i in range(n_state)} | ({"opt/iterations"} if n_state else set())
        if opt_keys != want:
            raise _fail(path, f"optimizer arrays {sorted(opt_keys)} do not match {sorted(want)}")
        if n_state:
            # each slot has the shape of a trainable weight: check headers before reading
            limit = sum(w.value.size for w in model.trainable_weights) * 2 + 1
            headers = [archive.header(f"opt/{i}") for i in range(n_state)]
            if n_state > 2 * len(model.trainable_weights) or any(
                math.prod(shape) > limit or dtype != model.model_dtype for shape, dtype in headers
            ):
                raise _fail(path, "the optimizer state does not fit the model")
            state = [archive.read(f"opt/{i}") for i in range(n_state)]
            iterations = archive.read("opt/iterations", (), np.int64)
            try:
                model.optimizer.set_state(int(iterations), state, model.trainable_weights)
            except ValueError as exc:
                raise _fail(path, f"the optimizer state does not fit the model ({exc})") from None
    return model
