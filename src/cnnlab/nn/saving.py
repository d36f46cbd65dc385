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

Example:
    >>> model.save("happy.cnnlab.npz")          # doctest: +SKIP
    >>> model = load_model("happy.cnnlab.npz")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab._io import atomic_path
from cnnlab.errors import ArgumentError, ModelFileError

FORMAT = "cnnlab.nn.Sequential"
VERSION = 1
_META = "__cnnlab__"


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
        from cnnlab.nn import losses

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


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise _fail(path, "no such model file")
    if not path.is_file():
        raise _fail(path, "not a file")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":
        raise _fail(path, "not a cnnlab model file (not an .npz zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {}
            for key in npz.files:
                try:
                    arrays[key] = npz[key]
                except ValueError as exc:
                    if "pickle" in str(exc).lower():
                        raise _fail(
                            path,
                            f"array {key!r} is a pickled object array; refusing to load it "
                            "(cnnlab model files never contain pickles)",
                        ) from None
                    raise
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise _fail(
            path, f"the file is truncated or corrupt ({type(exc).__name__}: {exc})"
        ) from None
    return arrays


def load_model(path: str | os.PathLike, compile: bool = True):  # noqa: A002 - Keras's name
    """Load a model saved by :func:`save_model`, checking it thoroughly.

    Raises:
        ModelFileError: missing, not a zip, truncated, pickled, wrong format or version,
            unknown layer, missing or extra arrays, wrong shapes or dtypes.
    """
    from cnnlab.nn import losses, optimizers
    from cnnlab.nn.model import Sequential

    path = Path(path)
    arrays = _read_arrays(path)
    raw = arrays.pop(_META, None)
    if raw is None:
        raise _fail(path, f"not a cnnlab model file (no {_META!r} entry)")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise _fail(path, f"the {_META!r} entry is not UTF-8 JSON bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(path, f"the architecture JSON is unreadable ({exc})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt != FORMAT:
        raise _fail(path, f"not a cnnlab model file (format {fmt!r}, expected {FORMAT!r})")
    if meta.get("version") != VERSION:
        raise _fail(path, f"unsupported file version {meta.get('version')!r} (expected {VERSION})")
    try:
        model = Sequential.from_config(meta["config"])
        model._require_built()
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"the architecture is invalid ({exc})") from None

    expected = {_weight_key(w): w for w in model.weights}
    listed = [f"w/{p}" for p in meta.get("weights", [])]
    if listed != list(expected):
        raise _fail(
            path, f"the weight list {listed} does not match the architecture {list(expected)}"
        )
    weight_keys = {k for k in arrays if k.startswith("w/")}
    missing = sorted(set(expected) - weight_keys)
    extra = sorted(k for k in arrays if k not in expected and not k.startswith("opt/"))
    if missing:
        raise _fail(path, f"missing weight arrays: {', '.join(k[2:] for k in missing)}")
    if extra:
        raise _fail(path, f"unexpected arrays: {', '.join(extra)}")
    for key, w in expected.items():
        arr = arrays[key]
        if arr.shape != w.shape:
            raise _fail(path, f"weight {w.path!r} has shape {arr.shape}, expected {w.shape}")
        if arr.dtype != w.dtype:
            raise _fail(path, f"weight {w.path!r} has dtype {arr.dtype}, expected {w.dtype}")
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
        opt_keys = {k for k in arrays if k.startswith("opt/")}
        want = {f"opt/{i}" for i in range(n_state)} | ({"opt/iterations"} if n_state else set())
        if opt_keys != want:
            raise _fail(path, f"optimizer arrays {sorted(opt_keys)} do not match {sorted(want)}")
        if n_state:
            state = [arrays[f"opt/{i}"] for i in range(n_state)]
            try:
                model.optimizer.set_state(
                    int(arrays["opt/iterations"]), state, model.trainable_weights
                )
            except ValueError as exc:
                raise _fail(path, f"the optimizer state does not fit the model ({exc})") from None
            if any(s.dtype != model.model_dtype for s in state):
                raise _fail(path, "the optimizer state has the wrong dtype")
    return model
