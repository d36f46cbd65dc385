"""``--model transfer``: fer's expression backbone with a new head, trained in two phases
(head on the frozen backbone, then the top block unfrozen) by the normal runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from _helpers import (
    TRANSFER_SIZE,
    mood_faces_folder,
    train_interrupted_in_epoch,
    transfer_config,
    transfer_faces,
)  # noqa: E402
from cnnlab import keras_models as km  # noqa: E402
from cnnlab import pretrained, training  # noqa: E402
from cnnlab.errors import ArgumentError  # noqa: E402
from reliability.conftest import assert_user_error, run_cnnlab  # noqa: E402

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

SIZE = TRANSFER_SIZE


def _shipped():
    import keras

    return keras.models.load_model(pretrained.path("emotion_mini_xception"), compile=False)


def _faces(root: Path) -> Path:
    return transfer_faces(root)


def _config(tmp_path: Path, out: str, **overrides):
    return transfer_config(tmp_path, out, **overrides)


def _layer_weights(path: Path) -> dict[str, list[np.ndarray]]:
    import keras

    model = keras.models.load_model(path, compile=False)
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers}


def test_input_contract_three_or_one_channel_in_0_1():
    rgb = km.transfer_model("mood", (*SIZE, 3))
    grey = km.transfer_model("mood", (*SIZE, 1))
    assert rgb.input_shape == (None, *SIZE, 3) and grey.input_shape == (None, *SIZE, 1)
    assert rgb.output_shape == grey.output_shape == (None, 1)
    head = [np.linspace(-0.5, 0.5, 7, dtype=np.float32).reshape(7, 1), np.zeros(1, np.float32)]
    rgb.get_layer("head").set_weights(head)  # it starts at zero: give it an opinion
    grey.get_layer("head").set_weights(head)
    x = np.random.default_rng(0).random((4, *SIZE, 3), dtype=np.float32)
    same = np.repeat(x[..., :1], 3, axis=-1)  # the face step's grey faces: 3 equal channels
    p_rgb = np.asarray(rgb(same, training=False))
    p_grey = np.asarray(grey(same[..., :1], training=False))
    np.testing.assert_allclose(p_rgb, p_grey, atol=1e-5)
    assert ((p_rgb > 0) & (p_rgb < 1)).all()
    # [0, 1] becomes [-1, 1] inside the model, where the backbone learned its faces
    import keras

    scaled = keras.Model(grey.inputs[0], grey.get_layer("to_signed").output)
    s = np.asarray(scaled(np.stack([np.zeros(SIZE), np.ones(SIZE)])[..., None]))
    assert s[0].max() == -1.0 and s[1].min() == 1.0
    with pytest.raises(ArgumentError, match="1 .grey. or 3 .RGB. channels"):
        km.transfer_model("mood", (*SIZE, 2))


def test_backbone_weights_are_the_shipped_files_and_frozen_but_the_head():
    model = km.transfer_model("mood", (64, 64, 3))
    shipped = _shipped()
    names = [layer.name for layer in shipped.layers if layer.get_weights()]
    assert len(names) == 29  # every conv, separable conv and BatchNorm
    for name in names:
        ours, theirs = model.get_layer(name).get_weights(), shipped.get_layer(name).get_weights()
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    assert not any(model.get_layer(name).trainable for name in names)
    assert [layer.name for layer in model.layers if layer.trainable and layer.weights] == ["head"]
    assert model.count_params() == 58_423 + 3 + 8  # the backbone, to_grey's 3, the head's 8


def test_head_first_then_the_top_block_and_resume_reapplies_the_phase(tmp_path):
    shipped = {layer.name: layer.get_weights() for layer in _shipped().layers}
    head_only = training.train(_config(tmp_path, "r", epochs=1))
    after_head = _layer_weights(head_only.dir / "model.keras")
    for name, weights in shipped.items():
        if weights:  # every backbone layer (BatchNorm statistics too) as shipped
            for a, b in zip(after_head[name], weights, strict=True):
                np.testing.assert_array_equal(a, b)
    assert head_only.config.fine_tunes(1) and not head_only.config.fine_tunes(0)
    longer = training.resume(head_only.dir, epochs=2)  # epoch 1 unfreezes the top block
    after_tune = _layer_weights(longer.last_path)
    for name in km.TRANSFER_TOP:
        assert not np.array_equal(after_tune[name][0], shipped[name][0]), name
    for name, weights in shipped.items():
        if weights and name not in km.TRANSFER_TOP:
            for a, b in zip(after_tune[name], weights, strict=True):
                np.testing.assert_array_equal(a, b)
    # the head's epoch at HEAD_LR_FACTOR (10) times the run's rate, fine-tuning at the rate
    assert longer.history["learning_rate"] == [pytest.approx(1e-2), pytest.approx(1e-3)]


@pytest.mark.parametrize("cut", [1, 2])  # at the unfreeze, and after it
def test_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch, cut):
    full = training.train(_config(tmp_path, "full", restore_best=False))
    train_interrupted_in_epoch(_config(tmp_path, "cut", restore_best=False), monkeypatch, cut)
    resumed = training.resume(tmp_path / "cut")
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-4)
    a, b = _layer_weights(resumed.model_path), _layer_weights(full.model_path)
    for name in a:
        for wa, wb in zip(a[name], b[name], strict=True):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


def test_default_model_comes_from_the_task_table(monkeypatch):
    import dataclasses

    from cnnlab import tasks

    assert tasks.TASKS["signs"].default_model == "recommended"
    assert training.TrainConfig(task="signs").resolved().model == "recommended"
    assert tasks.TASKS["mood"].default_model == "transfer"
    mood = training.TrainConfig(task="mood").resolved()  # the smiles photos, face step
    assert (mood.model, mood.preprocess, mood.epochs, mood.unfreeze_epoch) == (
        "transfer",
        "face",
        6,  # default_epochs("transfer")
        2,  # a third of them
    )
    assert mood.class_weight is True and mood.schedule == "constant"
    longer = training.TrainConfig(task="mood", epochs=15).resolved()
    assert longer.unfreeze_epoch == 5 and longer.epochs == 15
    # the backbone reads faces: without the face step the default is the recommended model,
    # with its own defaults (15 epochs, unweighted loss)
    plain = training.TrainConfig(task="mood", preprocess="none").resolved()
    assert (plain.model, plain.epochs, plain.class_weight) == ("recommended", 15, False)
    assert plain.unfreeze_epoch is None
    assert training.TrainConfig(task="mood", engine="numpy").resolved().model == "transfer"
    assert training.TrainConfig(task="mood", model="course").resolved().unfreeze_epoch is None
    # an explicit choice wins over the model's defaults
    unweighted = training.TrainConfig(task="mood", class_weight=False).resolved()
    assert unweighted.model == "transfer" and unweighted.class_weight is False
    with pytest.raises(ArgumentError, match="unfreeze_epoch is for model 'transfer'"):
        training.TrainConfig(task="mood", model="recommended", unfreeze_epoch=2)
    monkeypatch.setitem(
        tasks.TASKS, "mood", dataclasses.replace(tasks.TASKS["mood"], default_model="recommended")
    )
    assert training.TrainConfig(task="mood").resolved().model == "recommended"


def test_the_default_mood_run_is_the_transfer_model_through_every_command(smiles_dir, tmp_path):
    """`cnnlab train --task mood` on face photos, as a user runs it, then evaluate, predict and
    show reapply what config.json recorded: the transfer model, the face step, its defaults."""
    data = mood_faces_folder(smiles_dir, tmp_path / "faces", per_class=12)
    run = tmp_path / "run"
    r = run_cnnlab("train", "--task", "mood", "--data", data, "--epochs", "2", "--out", run)
    assert r.code == 0, r.stderr
    config = json.loads((run / "config.json").read_text())
    assert (config["model"], config["preprocess"], config["unfreeze_epoch"]) == (
        "transfer",
        "face",
        1,  # a third of 2 epochs, at least one
    )
    assert config["class_weight"] is True and config["epochs"] == 2
    assert "model: epoch" in r.stdout and "run: " in r.stdout
    ev = run_cnnlab("evaluate", run, "--data", data, "--json")
    assert ev.code == 0, ev.stderr
    metrics = json.loads(ev.stdout)
    assert metrics["test"]["n"] == 24 and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    framed = next(p for p in sorted((data / "smiling").iterdir()) if p.suffix == ".png")
    pr = run_cnnlab("predict", run, framed)
    assert pr.code == 0, pr.stderr
    assert framed.name in pr.stdout and ("smiling" in pr.stdout), pr.stdout
    out = tmp_path / "show.png"
    sh = run_cnnlab("show", run, framed, "--cam", "--out", out)
    assert sh.code == 0, sh.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_records_transfer_and_evaluate_and_predict_reapply_it(tmp_path):
    data = _faces(tmp_path / "faces")
    run = tmp_path / "run"
    r = run_cnnlab(
        "train",
        "--task",
        "mood",
        "--model",
        "transfer",
        "--data",
        data,
        "--preprocess",
        "none",
        "--image-size",
        "32",
        "--epochs",
        "2",
        "--unfreeze-epoch",
        "1",
        "--batch-size",
        "8",
        "--out",
        run,
    )
    assert r.code == 0, r.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["model"] == "transfer" and config["unfreeze_epoch"] == 1
    ev = run_cnnlab("evaluate", run, "--data", data, "--json")
    assert ev.code == 0, ev.stderr
    image = next((data / "smiling").iterdir())
    pr = run_cnnlab("predict", run, image)
    assert pr.code == 0 and "smiling" in pr.stdout, pr.stderr


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--task", "signs", "--model", "transfer"), ("transfer", "signs")),
        (("--task", "signs", "--engine", "numpy", "--model", "transfer"), ("transfer", "signs")),
    ],
)
def test_refusals_are_one_line_exit_2(tmp_path, args, names):
    r = run_cnnlab("train", *args, "--epochs", "1", "--out", tmp_path / "r")
    assert_user_error(r, *names, max_lines=1)
    assert not (tmp_path / "r").exists()
