"""Resuming is bit-identical (dropout seeded by (seed, epoch)); training stops at a NaN loss."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab import nn
from cnnlab.errors import ArgumentError


def _model(seed=0, dropout=0.5, batch_norm=True):
    layers = [nn.Input(shape=(8, 8, 3)), nn.Conv2D(4, 3, padding="same", activation="relu")]
    if batch_norm:
        layers.append(nn.BatchNormalization())
    layers += [nn.MaxPool2D(), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers += [nn.Dense(8, activation="relu")]
    if dropout:
        layers.append(nn.Dropout(dropout / 2))
    layers.append(nn.Dense(3, activation="softmax"))
    model = nn.Sequential(layers, seed=seed, name="resumable")
    model.compile(
        optimizer=nn.optimizers.Adam(learning_rate=0.01),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 8, 8, 3), dtype=np.float32), rng.integers(0, 3, n)


def _epochs(model, x, y, first, last, seed):
    """The runner's loop: one fit call per epoch."""
    for epoch in range(first, last):
        model.fit(x, y, batch_size=8, epochs=epoch + 1, initial_epoch=epoch, verbose=0, seed=seed)
    return model


def _state(model):
    return [*model.get_weights(), *model.optimizer.variables()]


@pytest.mark.parametrize(
    ("dropout", "batch_norm"),
    [(0.5, True), (0.5, False), (0.0, True)],
    ids=["both", "dropout", "bn"],
)
@pytest.mark.slow
def test_save_load_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, dropout, batch_norm):
    x, y = _data()
    straight = _epochs(_model(dropout=dropout, batch_norm=batch_norm), x, y, 0, 4, seed=7)
    first = _epochs(_model(dropout=dropout, batch_norm=batch_norm), x, y, 0, 2, seed=7)
    first.save(tmp_path / "m.npz")
    resumed = _epochs(nn.load_model(tmp_path / "m.npz"), x, y, 2, 4, seed=7)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 20
    for a, b in zip(_state(straight), _state(resumed), strict=True):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_one_fit_equals_one_fit_per_epoch():
    x, y = _data()
    a = _epochs(_model(), x, y, 0, 3, seed=3)
    b = _model()
    b.fit(x, y, batch_size=8, epochs=3, verbose=0, seed=3)
    for u, v in zip(_state(a), _state(b), strict=True):
        assert np.array_equal(u, v)


@pytest.mark.slow
def test_the_seed_changes_the_masks_and_the_epochs_draw_different_masks():
    x, y = _data()
    a = _epochs(_model(), x, y, 0, 2, seed=1)
    b = _epochs(_model(), x, y, 0, 2, seed=2)
    assert not np.array_equal(a.get_weights()[-2], b.get_weights()[-2])
    drop = nn.Dropout(0.5)
    model = nn.Sequential([nn.Input(shape=(64,)), drop], seed=0)
    masks = []

    class Spy:
        def on_train_batch_end(self, batch, logs):
            masks.append(drop._mask.copy())

    model.add(nn.Dense(1))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    xs = np.ones((4, 64), np.float32)
    model.fit(xs, np.ones(4), batch_size=4, epochs=2, verbose=0, seed=5, callbacks=[Spy()])
    assert not np.array_equal(masks[0], masks[1])


@pytest.mark.slow
def test_without_a_fit_seed_dropout_keeps_drawing_from_the_models_generator():
    x, y = _data()
    model = _model()
    own = [layer._rng for layer in model.layers if isinstance(layer, nn.Dropout)]
    assert all(rng is model._rng for rng in own)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, seed=4)
    # the per-epoch generators are handed back when fit returns
    assert [layer._rng for layer in model.layers if isinstance(layer, nn.Dropout)] == own
    # and an unseeded fit is not reproducible across two identical models' different histories
    a, b = _model(), _model()
    a.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    b.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False, seed=0)
    assert not np.array_equal(a.get_weights()[-2], b.get_weights()[-2])


def test_set_generator_is_part_of_the_layer_contract():
    drop = nn.Dropout(0.5)
    drop.build((None, 10), np.random.default_rng(0))
    old = drop.set_generator(np.random.default_rng(1))
    assert isinstance(old, np.random.Generator)
    a = drop(np.ones((2, 10), np.float32), training=True)
    drop.set_generator(np.random.default_rng(1))
    assert np.array_equal(a, drop(np.ones((2, 10), np.float32), training=True))
    assert nn.Dense(2).set_generator(np.random.default_rng(0)) is None


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_a_bad_fit_seed_is_refused(seed):
    x, y = _data(8)
    with pytest.raises(ArgumentError, match=r"seed must be a non-negative integer\. Received"):
        _model().fit(x, y, verbose=0, seed=seed)


# ---- non-finite losses -------------------------------------------------------------------
def _diverging(lr=1e30):
    model = _model(dropout=0.0, batch_norm=False)
    model.compile(
        optimizer=nn.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy"
    )
    return model


def test_terminate_on_nan_stops_after_the_first_non_finite_batch(capsys):
    x, y = _data()
    model = _diverging()
    stop = nn.TerminateOnNaN()
    seen = []

    class Batches(nn.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, logs["loss"]))

    hist = model.fit(x, y, batch_size=8, epochs=5, verbose=0, seed=0, callbacks=[Batches(), stop])
    assert stop.stopped and stop.epoch == 0 and stop.batch is not None
    assert not np.isfinite(stop.loss)
    # the batch that went non-finite is the last one run: no update after it
    assert model.optimizer.iterations == stop.batch + 1 == len(seen)
    assert all(np.isfinite(loss) for _, loss in seen[:-1]) and not np.isfinite(seen[-1][1])
    assert hist.epoch == [0]  # Keras 3: the epoch's logs and on_epoch_end still come
    assert f"Batch {stop.batch}: Invalid loss, terminating training" in capsys.readouterr().out


def test_terminate_on_nan_names_the_epoch_when_it_fires_later():
    x, y = _data()
    model = _diverging(lr=1e-3)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=0)
    model.optimizer.learning_rate = 1e30
    stop = nn.TerminateOnNaN(verbose=0)
    model.fit(x, y, batch_size=8, epochs=6, initial_epoch=2, verbose=0, seed=0, callbacks=[stop])
    assert stop.stopped and stop.epoch == 2
    assert model.optimizer.iterations == 10 + stop.batch + 1


def test_terminate_on_nan_can_raise_and_is_quiet_on_finite_losses():
    x, y = _data()
    stop = nn.TerminateOnNaN(raise_error=True)
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch"):
        _diverging().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[stop])
    quiet = nn.callbacks.TerminateOnNaN()
    _model().fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[quiet])
    assert not quiet.stopped and quiet.epoch is quiet.batch is quiet.loss is None


def test_stop_training_in_a_batch_stops_after_that_batch():
    x, y = _data()
    events = []

    class StopAtBatch1(nn.Callback):
        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch))
            if batch == 1:
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch", epoch, sorted(logs)))

        def on_train_end(self, logs=None):
            events.append("end")

    model = _model()
    hist = model.fit(
        x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x, y), callbacks=[StopAtBatch1()]
    )
    assert model.optimizer.iterations == 2
    assert events == [
        ("batch", 0),
        ("batch", 1),
        ("epoch", 0, ["accuracy", "loss", "val_accuracy", "val_loss"]),
        "end",
    ]
    assert hist.epoch == [0]


@pytest.mark.parametrize(
    ("bad", "name"),
    [("x_nan", "x"), ("x_inf", "x"), ("y_nan", "y")],
)
def test_non_finite_training_data_is_refused(bad, name):
    x, y = _data(16)
    y = y.astype(np.float32)
    if bad == "x_nan":
        x[5, 1, 1, 0] = np.nan
    elif bad == "x_inf":
        x[5, 0, 0, 2] = np.inf
    else:
        y[5] = np.nan
    model = _model()
    before = model.get_weights()
    with pytest.raises(
        ArgumentError, match=rf"^{name} contains NaN or infinite values \(the first in sample 5\)"
    ):
        model.fit(x, y, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_a_diverging_fit_warns_nothing_its_loss_says_it(recwarn):
    x, y = _data()
    model = _model(dropout=0.0)
    model.compile(optimizer=nn.optimizers.Adam(1e30), loss="sparse_categorical_crossentropy")
    stop = nn.TerminateOnNaN(verbose=0)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x, y), callbacks=[stop])
    assert stop.stopped
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
