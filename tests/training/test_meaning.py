"""Tests that can see a wrong *meaning*, not only a wrong shape, for both engines.

Each test compares the runner against an expectation computed independently of it:

- ``predict`` names the right class of images whose class is known (fresh images drawn
  like the training data), for both tasks and both engines; a label flipped anywhere
  between the folder names and the printed name fails here even when accuracy stays 1.0.
- The learning rate the *optimizer* holds while each batch of an epoch runs equals the
  cosine schedule, computed here from its formula (not the rate the run records).
- ``class_weight=True`` trains exactly like explicit per-sample weights of
  ``n / (n_classes * count[label])``, computed here from the labels ``fit`` receives.

The spies wrap the public ``fit`` of ``keras.Model`` and ``cnnlab.nn.Sequential``, so they
see what the engine received, whatever the runner does around it.
"""

from __future__ import annotations

import contextlib
import functools
import math

import numpy as np
import pytest
from PIL import Image

keras = pytest.importorskip("keras")

from _helpers import SIZE, train_config, write_class_folders  # noqa: E402
from cnnlab import nn, training  # noqa: E402
from cnnlab.data import make_synthetic_arrays  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

ENGINES = ["keras", "numpy"]


# The shared small run, for 3 epochs at a constant rate unless a test says otherwise.
_config = functools.partial(train_config, epochs=3, schedule="constant")


@contextlib.contextmanager
def _fit_spy(transform=None):
    """Wrap both engines' ``fit``: record each call's arguments; ``transform(kwargs, y)`` may
    change them. Yields the list of recorded calls (dicts with ``y``, ``kwargs``, ``lrs``)."""
    calls: list[dict] = []

    class _LearningRateSpy(keras.callbacks.Callback):
        """The optimizer's learning rate while each batch trains (read at batch begin and
        end: both must hold the epoch's rate)."""

        def __init__(self, record):
            super().__init__()
            self.record = record

        def _read(self):
            return float(np.asarray(self.model.optimizer.learning_rate))

        def on_train_batch_begin(self, batch, logs=None):
            self.record.append(self._read())

        def on_train_batch_end(self, batch, logs=None):
            self.record.append(self._read())

    def wrap(original):
        def fit(self, x=None, y=None, *args, **kwargs):
            call = {"y": np.asarray(y), "kwargs": dict(kwargs), "lrs": []}
            calls.append(call)
            if transform is not None:
                transform(kwargs, np.asarray(y))
            kwargs["callbacks"] = [*(kwargs.get("callbacks") or []), _LearningRateSpy(call["lrs"])]
            return original(self, x, y, *args, **kwargs)

        return fit

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(keras.Model, "fit", wrap(keras.Model.fit))
        mp.setattr(nn.Sequential, "fit", wrap(nn.Sequential.fit))
        yield calls


def _weights(run_dir) -> list[np.ndarray]:
    return [np.asarray(w, dtype=np.float64) for w in training.load_model(run_dir).get_weights()]


# --------------------------------------------------------------------------------------
# predict names the right class


@pytest.fixture(scope="module")
def mood_folder(tmp_path_factory):
    """Two visually distinct classes (red-tinted vertical vs green-tinted horizontal
    stripes) in folders named as the mood task names them."""
    return write_class_folders(
        tmp_path_factory.mktemp("faces"), {"not_smiling": 40, "smiling": 40}, seed=1, name="{n:03d}"
    )


@pytest.fixture(scope="module")
def known_images(tmp_path_factory):
    """Fresh images (another seed: never trained on) of each task, with their true names."""
    root = tmp_path_factory.mktemp("known")
    out = {}
    for task, n_classes, names in (
        ("mood", 2, ["not_smiling", "smiling"]),
        ("signs", 3, ["class_0", "class_1", "class_2"]),
    ):
        x, y, _ = make_synthetic_arrays(4, SIZE, n_classes, seed=99)
        paths, truth = [], []
        for i, (img, k) in enumerate(zip(x, y, strict=True)):
            path = root / f"{task}_{i}_{names[k]}.png"
            Image.fromarray(img).save(path)
            paths.append(path)
            truth.append(names[k])
        out[task] = (paths, truth)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("task", ["mood", "signs"])
@pytest.mark.parametrize("engine", ENGINES)
def test_predict_names_the_true_class_of_known_images(
    engine, task, mood_folder, known_images, tmp_path
):
    data = str(mood_folder) if task == "mood" else "synthetic"
    # Stripes, not faces: the whole image (the mood task's face step is tested elsewhere).
    run = training.train(
        _config(tmp_path / "run", engine, task=task, data=data, epochs=4, preprocess="none")
    )
    assert run.metrics["test"]["accuracy"] == 1.0
    paths, truth = known_images[task]
    for eng in ENGINES:  # the run's own engine and the converted model
        got = training.predict_images(run.dir, paths, engine=eng)
        assert [name for name, _ in got] == truth, f"predicted in {eng}"
        assert all(p > 0.5 for _, p in got)
    # The probabilities are the model's own output for that class, computed here apart
    # from predict_images: the image as uint8 -> float / 255 -> model.predict.
    model = training.load_model(run.dir)
    x = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths]) / 255.0
    probs = np.asarray(model.predict(x.astype("float32"), verbose=0), dtype=np.float64)
    if task == "mood":
        p_smiling = probs[:, 0]
        expected = [("smiling", p) if p >= 0.5 else ("not_smiling", 1 - p) for p in p_smiling]
    else:
        expected = [(f"class_{k}", probs[i, k]) for i, k in enumerate(probs.argmax(axis=1))]
    got = training.predict_images(run.dir, paths)
    assert [n for n, _ in got] == [n for n, _ in expected] == truth
    np.testing.assert_allclose([p for _, p in got], [p for _, p in expected], rtol=1e-5)


# --------------------------------------------------------------------------------------
# the optimizer's actual learning rate


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_the_optimizer_uses_the_cosine_rate_of_each_epoch(engine, tmp_path):
    epochs, lr0 = 3, 0.01
    cfg = _config(tmp_path / "run", engine, schedule="cosine", epochs=epochs, learning_rate=lr0)
    with _fit_spy() as calls:
        run = training.train(cfg)
    expected = [lr0 * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    assert expected[0] > expected[1] > expected[2] > 0
    assert len(calls) == epochs  # the runner fits one epoch at a time
    for epoch, call in enumerate(calls):
        assert call["lrs"], "no batch ran"
        np.testing.assert_allclose(
            call["lrs"], expected[epoch], rtol=1e-6, err_msg=f"epoch {epoch}"
        )
    # ... and the recorded history says the same.
    np.testing.assert_allclose(run.history["learning_rate"], expected, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_resume_continues_the_schedule_in_the_optimizer(engine, tmp_path):
    """A resumed run's optimizer runs at the schedule's rate of the epochs it trains (the
    rate saved with the model is the previous epoch's)."""
    epochs, lr0 = 3, 0.01
    cfg = _config(tmp_path / "run", engine, schedule="cosine", epochs=1, learning_rate=lr0)
    training.train(cfg)
    with _fit_spy() as calls:
        training.resume(tmp_path / "run", epochs=epochs)
    expected = [lr0 * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in (1, 2)]
    assert len(calls) == 2
    for call, lr in zip(calls, expected, strict=True):
        np.testing.assert_allclose(call["lrs"], lr, rtol=1e-6)


# --------------------------------------------------------------------------------------
# class weights


@pytest.fixture(scope="module")
def imbalanced_folder(tmp_path_factory):
    """3 classes with 30, 10 and 20 images: the balanced weights differ per class."""
    x, y, names = make_synthetic_arrays(30, SIZE, 3, seed=5)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[:10]])
    keep = np.concatenate([keep, np.flatnonzero(y == 2)[:20]])
    return write_class_folders(
        tmp_path_factory.mktemp("imbalanced"), names, images=(x[keep], y[keep]), name="{n:03d}"
    )


def _balanced_sample_weights(kwargs, y):
    """Replace the runner's class weights by per-sample weights n / (k * count[label])."""
    labels = np.round(y.reshape(len(y), -1)[:, 0]).astype(np.int64)
    counts = np.bincount(labels)
    per_class = len(labels) / (len(counts) * counts)
    assert np.ptp(per_class) > 0.5, "the data must be imbalanced for this test to mean much"
    kwargs["class_weight"] = None
    kwargs["sample_weight"] = per_class[labels].astype("float32")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ENGINES)
def test_class_weight_option_equals_explicit_per_sample_weights(
    engine, imbalanced_folder, tmp_path
):
    kw = dict(data=str(imbalanced_folder), epochs=2, batch_size=8)
    with _fit_spy() as calls:
        weighted = training.train(_config(tmp_path / "cw", engine, class_weight=True, **kw))
    class_weight = calls[0]["kwargs"]["class_weight"]
    labels = calls[0]["y"].astype(np.int64)
    counts = np.bincount(labels)
    assert class_weight == pytest.approx(
        {k: len(labels) / (3 * n) for k, n in enumerate(counts)}, rel=1e-9
    )
    with _fit_spy(_balanced_sample_weights):
        explicit = training.train(_config(tmp_path / "sw", engine, **kw))
    plain = training.train(_config(tmp_path / "plain", engine, **kw))

    tol = {"rtol": 1e-6, "atol": 1e-7} if engine == "numpy" else {"rtol": 1e-4, "atol": 1e-5}
    for a, b in zip(_weights(weighted.dir), _weights(explicit.dir), strict=True):
        np.testing.assert_allclose(a, b, **tol)
    assert weighted.history["loss"] == pytest.approx(explicit.history["loss"], rel=1e-4)
    # and the weights did change the training
    diff = max(
        np.abs(a - b).max()
        for a, b in zip(_weights(weighted.dir), _weights(plain.dir), strict=True)
    )
    assert diff > 1e-3
