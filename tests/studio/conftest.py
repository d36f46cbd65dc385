"""Fixtures of the studio tests: two small finished runs (one per engine) in one runs folder.

Both train the course's SIGNS architecture on the built-in digits (16x16 gray, no download)
for 2 epochs, so they take seconds and need no ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab import training


def _train(out: Path, engine: str) -> Path:
    cfg = training.TrainConfig(
        task="signs",
        engine=engine,
        model="course",
        data="digits",
        epochs=2,
        batch_size=64,
        learning_rate=0.01,
        seed=1,
        out=str(out),
    )
    training.train(cfg, progress=False, log=lambda line: None)
    return out


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding ``digits-numpy`` and ``digits-keras`` (finished, 2 epochs)."""
    root = tmp_path_factory.mktemp("runs")
    _train(root / "digits-numpy", "numpy")
    _train(root / "digits-keras", "keras")
    return root
