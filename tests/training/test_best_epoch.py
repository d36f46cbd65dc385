"""The best epoch (restore-best / keep-last), early stopping (patience), resume with both, and
TensorBoard logs for both engines. Tiny synthetic data, NumPy engine unless said otherwise."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from _helpers import train_config, train_interrupted_in_epoch  # noqa: E402
from cnnlab import training  # noqa: E402
from cnnlab.errors import ArgumentError, RunError  # noqa: E402
from reliability.conftest import assert_user_error, run_cnnlab  # noqa: E402

# The kick below makes the loss jump by orders of magnitude, on purpose: its warning is expected.
pytestmark = [  # the slow tier: uv run pytest -m slow
    pytest.mark.filterwarnings("ignore:the loss grew:RuntimeWarning"),
    pytest.mark.slow,
]

# The shared small run (NumPy engine by default), trained for 4 epochs here.
_config = functools.partial(train_config, epochs=4)


@pytest.fixture
def worse_after_epoch_2(monkeypatch):
    """Make the validation loss rise after epoch 2, deterministically.

    Undisturbed, this tiny run's validation loss falls every epoch. From the third epoch on,
    the weights get a large kick before the epoch trains (normal noise, scale 3, drawn from
    the epoch number): one epoch at lr 0.01 cannot undo it, so epochs 3, 4, ... end with a
    validation loss far above epoch 2's and epoch 2 stays the best. The kick depends on the
    epoch alone, so an interrupted and resumed run gets the same kicks as an uninterrupted one.
    """
    eng = training.get_engine("numpy")
    real_fit = type(eng).fit_epoch

    def kicked(self, model, x, y, val, epoch, *args, **kw):
        if epoch >= 2:
            rng = np.random.default_rng(epoch)
            model.set_weights(
                [w + rng.normal(0.0, 3.0, np.shape(w)).astype(w.dtype) for w in model.get_weights()]
            )
        return real_fit(self, model, x, y, val, epoch, *args, **kw)

    monkeypatch.setattr(type(eng), "fit_epoch", kicked)


def _weights(path: Path) -> list[np.ndarray]:
    from cnnlab import nn

    return [np.asarray(w) for w in nn.load_model(path).get_weights()]


def _same(a: Path, b: Path) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(_weights(a), _weights(b), strict=True))


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "checkpoint.json").read_text())


def test_restore_best_and_keep_last(worse_after_epoch_2, tmp_path):
    best = training.train(_config(tmp_path / "best"))
    val = best.history["val_loss"]
    assert min(val) == val[1] and val[2] > val[1] and val[3] > val[1], val
    d = best.dir
    ckpt = _manifest(d)
    # The run's model is epoch 2's, so model.npz stands for the best epoch too (no second
    # copy); the last epoch's file stays, to resume from.
    assert ckpt["best"] == {"epoch": 2, "val_loss": val[1], "model": "model.npz"}
    assert ckpt["model"] == "model.npz" and ckpt["last"] == "model-epoch-0004.npz"
    assert sorted(p.name for p in d.glob("model*")) == ["model-epoch-0004.npz", "model.npz"]
    m = json.loads((d / "metrics.json").read_text())
    assert m["model_epoch"] == 2 and m["epochs"] == 4
    assert m["best_epoch"]["epoch"] == 2 and m["best_epoch"]["val_loss"] == val[1]
    assert m["final_epoch"]["epoch"] == 4 and m["final_epoch"]["val_loss"] == val[3]
    assert m["validation"]["loss"] == pytest.approx(val[1], rel=1e-6)  # measured on epoch 2's
    assert "stopped_early" not in m

    last = training.train(_config(tmp_path / "last", restore_best=False))
    assert last.history == best.history
    m = json.loads((last.dir / "metrics.json").read_text())
    assert m["model_epoch"] == 4 and m["best_epoch"]["epoch"] == 2
    assert m["validation"]["loss"] == pytest.approx(val[3], rel=1e-6)
    ckpt = _manifest(last.dir)
    assert ckpt["model"] == "model.npz" and "last" not in ckpt
    assert sorted(p.name for p in last.dir.glob("model*")) == ["model-best-0002.npz", "model.npz"]
    assert _same(last.dir / "model.npz", d / "model-epoch-0004.npz")
    assert _same(last.dir / "model-best-0002.npz", d / "model.npz")
    assert not _same(last.dir / "model.npz", d / "model.npz")


def test_a_best_that_is_the_model_survives_training_on_at_the_last_epoch(
    worse_after_epoch_2, tmp_path
):
    # Kept at its last epoch, a 2-epoch run's model IS its best epoch: one file stands for
    # both. Trained on to 4 epochs (worse ones), model.npz becomes epoch 4's and the best
    # must first move back to a file of its own, with epoch 2's weights intact.
    two = training.train(_config(tmp_path / "two", epochs=2, restore_best=False))
    ckpt = _manifest(two.dir)
    assert ckpt["best"]["model"] == ckpt["model"] == "model.npz" and ckpt["best"]["epoch"] == 2
    epoch_2 = _weights(two.dir / "model.npz")
    four = training.resume(two.dir, epochs=4)
    ckpt = _manifest(four.dir)
    assert ckpt["best"] == {
        "epoch": 2,
        "val_loss": four.history["val_loss"][1],
        "model": "model-best-0002.npz",
    }
    assert sorted(p.name for p in four.dir.glob("model*")) == ["model-best-0002.npz", "model.npz"]
    kept = _weights(four.dir / "model-best-0002.npz")
    assert all(np.array_equal(a, b) for a, b in zip(kept, epoch_2, strict=True))
    assert not _same(four.dir / "model.npz", four.dir / "model-best-0002.npz")
    assert four.metrics["model_epoch"] == 4 and four.metrics["best_epoch"]["epoch"] == 2


def test_interrupted_in_epoch_3_then_resumed_equals_uninterrupted(worse_after_epoch_2, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    full = training.train(_config(tmp_path / "full"))
    cut_cfg = _config(tmp_path / "cut")
    assert train_interrupted_in_epoch(cut_cfg, monkeypatch, epoch=2) == [0, 1, 2]
    assert _manifest(tmp_path / "cut")["best"]["epoch"] == 2
    resumed = training.resume(tmp_path / "cut")
    assert resumed.history == full.history  # bit-identical
    assert _manifest(tmp_path / "cut") == _manifest(tmp_path / "full") | {
        "train_seconds": _manifest(tmp_path / "cut")["train_seconds"]
    }
    for name in ("model.npz", "model-epoch-0004.npz"):
        assert _same(tmp_path / "cut" / name, tmp_path / "full" / name), name
    a, b = resumed.metrics, full.metrics
    assert a["model_epoch"] == b["model_epoch"] == 2
    assert a["best_epoch"] == b["best_epoch"] and a["final_epoch"] == b["final_epoch"]


def test_patience_stops_early_and_resume_trains_on_only_when_asked(worse_after_epoch_2, tmp_path):
    run = training.train(_config(tmp_path / "p1", epochs=8, patience=1))
    assert run.epochs_done == 3 and len(run.history["loss"]) == 3
    m = json.loads((run.dir / "metrics.json").read_text())
    assert m["stopped_early"] == {"epoch": 3, "patience": 1, "best_epoch": 2}
    assert m["model_epoch"] == 2 and m["epochs"] == 3

    with pytest.raises(RunError, match="stopped early after epoch 3") as info:
        training.resume(run.dir)
    assert "pass --patience larger than 1 to train on" in str(info.value)
    with pytest.raises(RunError, match="stopped early after epoch 3"):
        training.resume(run.dir, epochs=10)  # more epochs alone: patience still ran out

    # A larger patience trains on from the last epoch's weights (not the restored best), so
    # the run ends exactly where a run with that patience from the start ends.
    on = training.resume(run.dir, patience=3)
    straight = training.train(_config(tmp_path / "p3", epochs=8, patience=3))
    assert on.epochs_done == straight.epochs_done == 5
    assert on.history == straight.history
    assert on.metrics["stopped_early"] == {"epoch": 5, "patience": 3, "best_epoch": 2}
    assert _same(run.dir / "model.npz", straight.dir / "model.npz")


def test_old_runs_and_runs_without_validation_keep_the_last(tmp_path):
    old = _config(tmp_path / "x").to_json()
    del old["restore_best"], old["patience"], old["tensorboard"]
    cfg = training.TrainConfig.from_json(old)
    assert cfg.restore_best is False and cfg.patience is None and cfg.tensorboard is False
    assert training.TrainConfig().restore_best is True

    run = training.train(_config(tmp_path / "noval", epochs=2, val_fraction=0.0))
    assert run.metrics["model_epoch"] == 2 and "best_epoch" not in run.metrics
    assert "best" not in _manifest(run.dir)
    with pytest.raises(ArgumentError, match="no validation images"):
        training.train(_config(tmp_path / "noval2", val_fraction=0.0, patience=2))


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_patience_must_be_a_positive_integer(value):
    with pytest.raises(ArgumentError, match=f"Received: patience={value!r}"):
        _config("x", patience=value)


def _events(folder: Path) -> tuple[dict[str, dict[int, float]], set[str]]:
    """Scalars ``{tag: {step: value}}`` and image tags in a folder's TensorBoard event files."""
    import tensorflow as tf

    scalars: dict[str, dict[int, float]] = {}
    images: set[str] = set()
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for v in event.summary.value:
                kind = v.metadata.plugin_data.plugin_name
                if kind == "images":
                    images.add(v.tag)
                elif kind == "scalars":
                    value = float(tf.make_ndarray(v.tensor))
                    scalars.setdefault(v.tag, {})[event.step] = value
    return scalars, images


def _check_tensorboard(run_dir: Path) -> None:
    """The logged scalars equal history.csv epoch by epoch; each epoch has its image."""
    history = training.read_history_csv(run_dir / "history.csv")
    epochs = list(range(1, len(history["loss"]) + 1))
    train, train_images = _events(run_dir / "tensorboard" / "train")
    val, val_images = _events(run_dir / "tensorboard" / "validation")
    for tag, key in (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy"),
                     ("epoch_learning_rate", "learning_rate")):  # fmt: skip
        assert sorted(train[tag]) == epochs
        np.testing.assert_allclose([train[tag][e] for e in epochs], history[key], rtol=1e-6)
    for tag, key in (("epoch_loss", "val_loss"), ("epoch_accuracy", "val_accuracy")):
        assert sorted(val[tag]) == epochs
        np.testing.assert_allclose([val[tag][e] for e in epochs], history[key], rtol=1e-6)
    assert val_images == {"confusion_matrix"} and not train_images


def test_tensorboard_with_keras_and_resume_appends(tmp_path, monkeypatch):
    cfg = _config(tmp_path / "k", engine="keras", epochs=2, tensorboard=True)
    train_interrupted_in_epoch(cfg, monkeypatch, epoch=1)
    training.resume(tmp_path / "k")
    _check_tensorboard(tmp_path / "k")
    assert len(list((tmp_path / "k" / "tensorboard" / "train").glob("events*"))) == 2


def test_cli_patience_and_tensorboard(tmp_path):
    # lr 0.1 on this data: the validation loss falls for 5 epochs, then rises in epoch 6.
    out = tmp_path / "run"
    tiny = ["--data", "synthetic", "--image-size", "16", "--batch-size", "16", "--model", "course"]
    result = run_cnnlab("train", "--engine", "numpy", *tiny, "--epochs", "8", "--lr", "0.1",
                        "--patience", "1", "--tensorboard", "--out", out)  # fmt: skip
    assert result.code == 0, result.stderr
    assert "stopped early after epoch 6: the validation loss had not improved for 1 epoch" in (
        result.stdout
    )
    assert "model: epoch 5 (the best;" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_early"] == {"epoch": 6, "patience": 1, "best_epoch": 5}
    _check_tensorboard(out)
    again = run_cnnlab("train", "--resume", out)
    assert_user_error(again, "stopped early after epoch 6", "--patience larger than 1")


@pytest.mark.parametrize("value", ["0", "-1"])
def test_cli_refuses_a_patience_below_1(value, tmp_path):
    result = run_cnnlab("train", "--patience", value, "--out", tmp_path / "run")
    assert_user_error(result, f"patience must be a positive integer. Received: patience={value}")
    assert result.err_lines[0].startswith("error: ")
    assert not (tmp_path / "run").exists()
