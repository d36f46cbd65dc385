"""fit's progress bar comes from cnnlab._progress: it decides when (a terminal) and how."""

from __future__ import annotations

import numpy as np

from cnnlab import _progress, nn


def _model():
    model = nn.Sequential([nn.Input(shape=(4,)), nn.Dense(1, activation="sigmoid")], seed=0)
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


def test_fit_draws_the_progress_helpers_steps_bar_when_it_says_so(monkeypatch):
    styles = []
    real = _progress.rich_bar

    def spy(style="items", **kwargs):
        styles.append(style)
        return real(style, **kwargs)

    monkeypatch.setattr(_progress, "enabled", lambda progress: True)
    monkeypatch.setattr(_progress, "rich_bar", spy)
    x = np.random.default_rng(0).standard_normal((8, 4))
    y = (x[:, :1] > 0).astype(float)
    history = _model().fit(x, y, batch_size=4, epochs=2, verbose=1)
    assert styles == ["steps", "steps"]  # one bar per epoch
    assert len(history.history["loss"]) == 2


def test_fit_draws_no_bar_when_stdout_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(_progress, "enabled", lambda progress: False)
    monkeypatch.setattr(
        _progress, "rich_bar", lambda *a, **k: (_ for _ in ()).throw(AssertionError)
    )
    x = np.zeros((4, 4))
    _model().fit(x, np.zeros((4, 1)), batch_size=2, epochs=1, verbose=1)
