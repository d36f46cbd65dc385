"""Training from a stream: the same batches and weights as in memory (NumPy engine), the same
loss within float tolerance (Keras), exact resume; and the multi-worker training step against
Keras's own fit on one device."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from _stream_helpers import make_folder

from cnnlab import nn, training
from cnnlab.training import TrainConfig

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("stream-train") / "folder", side=36)


def _weights(run) -> list[np.ndarray]:
    return nn.load_model(run.last_path).get_weights()


def _cfg(folder, out, **kw) -> TrainConfig:
    base = dict(
        task="signs",
        engine="numpy",
        data=str(folder),
        epochs=1,
        batch_size=8,
        image_size=(32, 32),
        out=str(out),
        seed=3,
    )
    return TrainConfig(**(base | kw))


def test_numpy_streamed_run_equals_in_memory_run(folder, tmp_path):
    # the recommended model at 32x32 augments: the streamed epoch draws each image's
    # augmentation from the same (seed, epoch) rows as the in-memory epoch
    memory = training.train(_cfg(folder, tmp_path / "memory"), progress=False)
    streamed = training.train(_cfg(folder, tmp_path / "stream", stream=True), progress=False)
    assert streamed.config.stream and not memory.config.stream
    assert streamed.history["loss"] == memory.history["loss"]
    for a, b in zip(_weights(memory), _weights(streamed), strict=True):
        assert np.array_equal(a, b)
    assert streamed.metrics["test"]["accuracy"] == pytest.approx(memory.metrics["test"]["accuracy"])
    assert "streamed from disk" in streamed.metrics["validated_on"]


def test_resuming_a_streamed_run_equals_an_uninterrupted_one(folder, tmp_path):
    whole = training.train(_cfg(folder, tmp_path / "whole", epochs=2, stream=True), progress=False)
    part = training.train(_cfg(folder, tmp_path / "part", epochs=1, stream=True), progress=False)
    resumed = training.resume(part.dir, epochs=2, progress=False)
    assert resumed.history["loss"] == whole.history["loss"]
    for a, b in zip(_weights(whole), _weights(resumed), strict=True):
        assert np.array_equal(a, b)


def test_keras_streamed_loss_equals_in_memory_loss_without_shuffling(folder):
    from cnnlab.data import load_dataset
    from cnnlab.data.prepare import scale_pixels
    from cnnlab.data.stream import open_stream
    from cnnlab.tasks import get_task
    from cnnlab.training.engines import KerasEngine
    from cnnlab.training.feed import StreamFeed

    cfg = _cfg(folder, "unused", engine="keras", model="course", image_size=(16, 16)).resolved()
    ds = load_dataset(folder, image_size=16, seed=3)
    st = open_stream(folder, image_size=16, seed=3)
    engine = KerasEngine()
    a = engine.build(cfg, ds.image_shape, 3)
    b = engine.build(cfg, ds.image_shape, 3)
    b.set_weights(a.get_weights())
    ha = a.fit(
        scale_pixels(ds.x_train),
        get_task("signs").targets(ds.y_train),
        batch_size=8,
        shuffle=False,
        verbose=0,
    )
    feed = StreamFeed(st, "train", cfg, 8, epoch=0, shuffle=False)
    hb = b.fit(feed.tf(), verbose=0)
    assert hb.history["loss"][0] == pytest.approx(ha.history["loss"][0], rel=1e-5)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.allclose(wa, wb, atol=1e-5)


def test_the_multiworker_step_trains_as_keras_fit_on_one_device(folder):
    """The custom step (strategy.run, GradientTape, apply_gradients, the loss over the global
    batch) under the default strategy, against model.fit on the same batches."""
    import tensorflow as tf

    from cnnlab.data import load_dataset
    from cnnlab.data.prepare import scale_pixels
    from cnnlab.tasks import get_task
    from cnnlab.training.distribute import Distribution, _MultiWorkerKeras
    from cnnlab.training.engines import KerasEngine
    from cnnlab.training.feed import epoch_order

    cfg = _cfg(folder, "unused", engine="keras", model="course", image_size=(16, 16)).resolved()
    cfg = dataclasses.replace(cfg, batch_size=6)
    ds = load_dataset(folder, image_size=16, seed=3)
    x, y = scale_pixels(ds.x_train), get_task("signs").targets(ds.y_train)
    engine = _MultiWorkerKeras(Distribution("multiworker", tf.distribute.get_strategy(), ["cpu"]))
    a = KerasEngine().build(cfg, ds.image_shape, 3)
    b = engine.build(cfg, ds.image_shape, 3)
    b.set_weights(a.get_weights())
    order = epoch_order(len(x), cfg.seed, 0)
    ha = a.fit(x[order], y[order], batch_size=6, shuffle=False, verbose=0)
    logs = engine.fit_epoch(b, x, y, None, 0, cfg, None, None)
    assert logs["loss"] == pytest.approx(ha.history["loss"][0], rel=1e-5)
    assert logs["accuracy"] == pytest.approx(ha.history["accuracy"][0], abs=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.allclose(wa, wb, atol=1e-5)
