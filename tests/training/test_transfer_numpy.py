"""``--model transfer --engine numpy``: the NumPy twin of the Keras transfer model (same
layers, names, weights and outputs), read from the shipped file without TensorFlow, trained in
the same two phases by the normal runner."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _helpers import (
    TRANSFER_SIZE,
    train_interrupted_in_epoch,
    transfer_config,
    transfer_faces,
)
from cnnlab import keras_models, nn, numpy_models, training
from cnnlab.errors import ArgumentError
from cnnlab.nn.legacy_h5 import read_keras_h5
from cnnlab.pretrained import path as pretrained_path
from reliability.conftest import run_cnnlab

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

SIZE = TRANSFER_SIZE


def _faces(root: Path) -> Path:
    return transfer_faces(root)


def _config(tmp_path: Path, out: str, **overrides):
    return transfer_config(tmp_path, out, **({"engine": "numpy"} | overrides))


def _layer_weights(path: Path) -> dict[str, list[np.ndarray]]:
    model = nn.load_model(path)
    return {layer.name: layer.get_weights() for layer in model.layers}


def _shipped() -> dict[str, list[np.ndarray]]:
    return read_keras_h5(pretrained_path("emotion_mini_xception")).weights


@pytest.mark.parametrize("channels", [3, 1])
def test_the_numpy_model_is_the_keras_model(channels):
    pytest.importorskip("tensorflow")
    ours = numpy_models.transfer_model("mood", (*SIZE, channels))
    theirs = keras_models.transfer_model("mood", (*SIZE, channels))
    keras_layers = [layer for layer in theirs.layers if type(layer).__name__ != "InputLayer"]
    assert [layer.name for layer in ours.layers] == [layer.name for layer in keras_layers]
    assert [layer.trainable for layer in ours.layers if layer.weights] == [
        layer.trainable for layer in keras_layers if layer.weights
    ]
    assert ours.count_params() == theirs.count_params() == 58_423 + 8 + (3 if channels == 3 else 0)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    head = [np.linspace(-0.5, 0.5, 7, dtype=np.float32).reshape(7, 1), np.full(1, 0.1, np.float32)]
    ours.get_layer("head").set_weights(head)  # it starts at zero: give it an opinion
    theirs.get_layer("head").set_weights(head)
    x = np.random.default_rng(0).random((6, *SIZE, channels), dtype=np.float32)
    p_ours, p_theirs = ours.predict(x), np.asarray(theirs(x, training=False))
    assert np.abs(p_ours - p_theirs).max() < 1e-5
    assert p_ours.std() > 1e-3  # the head sees different faces differently


def test_the_phase_unfreezes_the_top_block_only():
    model = numpy_models.transfer_model("mood", (*SIZE, 1))
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["head"]
    assert numpy_models.set_transfer_phase(model, True)
    assert not numpy_models.set_transfer_phase(model, True)  # already so: nothing changes
    trainable = [layer.name for layer in model.layers if layer.trainable_weights]
    assert trainable == [*keras_models.TRANSFER_TOP, "head"]
    assert numpy_models.set_transfer_phase(model, False)
    assert [layer.name for layer in model.layers if layer.trainable_weights] == ["head"]
    with pytest.raises(ArgumentError, match="1 .grey. or 3 .RGB. channels"):
        numpy_models.transfer_model("mood", (*SIZE, 2))


def test_building_it_imports_no_tensorflow():
    code = (
        "import sys; from cnnlab import numpy_models; "
        "m = numpy_models.build_model('mood', 'transfer', (32, 32, 3), 2); "
        "assert m.count_params() == 58434; "
        "bad = [n for n in ('tensorflow', 'keras') if n in sys.modules]; "
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def test_head_first_then_the_top_block_and_resume_reapplies_the_phase(tmp_path):
    shipped = _shipped()
    head_only = training.train(_config(tmp_path, "r", epochs=1))
    after_head = _layer_weights(head_only.dir / "model.npz")
    for name, weights in shipped.items():  # every backbone layer (BatchNorm statistics too)
        for a, b in zip(after_head[name], weights, strict=True):
            np.testing.assert_array_equal(a, b)
    assert np.abs(after_head["head"][0]).max() > 0  # it started at zero
    longer = training.resume(head_only.dir, epochs=2)  # epoch 1 unfreezes the top block
    after_tune = _layer_weights(longer.last_path)
    for name in keras_models.TRANSFER_TOP:
        assert not np.array_equal(after_tune[name][0], shipped[name][0]), name
    for name, weights in shipped.items():
        if name not in keras_models.TRANSFER_TOP:
            for a, b in zip(after_tune[name], weights, strict=True):
                np.testing.assert_array_equal(a, b)
    assert not np.array_equal(after_tune["head"][0], after_head["head"][0])
    # the head's epoch at HEAD_LR_FACTOR (10) times the run's rate, fine-tuning at the rate
    assert longer.history["learning_rate"] == [pytest.approx(1e-2), pytest.approx(1e-3)]


@pytest.mark.parametrize("cut", [1, 2])  # at the unfreeze, and after it
def test_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch, cut):
    full = training.train(_config(tmp_path, "full", restore_best=False))
    train_interrupted_in_epoch(_config(tmp_path, "cut", restore_best=False), monkeypatch, cut)
    resumed = training.resume(tmp_path / "cut")
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-6)
    a, b = _layer_weights(resumed.model_path), _layer_weights(full.model_path)
    for name in a:
        for wa, wb in zip(a[name], b[name], strict=True):
            np.testing.assert_array_equal(wa, wb, err_msg=name)


def test_cli_trains_and_evaluates_it_with_the_numpy_engine(tmp_path):
    data = _faces(tmp_path / "faces")
    run = tmp_path / "run"
    r = run_cnnlab(
        "train", "--task", "mood", "--model", "transfer", "--engine", "numpy", "--data", data,
        "--preprocess", "none", "--image-size", "32", "--epochs", "2", "--unfreeze-epoch", "1",
        "--batch-size", "8", "--out", run,
    )  # fmt: skip
    assert r.code == 0, r.stderr
    assert (run / "model.npz").is_file()
    ev = run_cnnlab("evaluate", run, "--data", data, "--json")
    assert ev.code == 0, ev.stderr


def test_grad_cam_and_saliency_of_the_graph_model_agree_with_keras():
    pytest.importorskip("tensorflow")
    from cnnlab import interpret

    ours = numpy_models.transfer_model("mood", (*SIZE, 3))
    head = [np.linspace(-0.5, 0.5, 7, dtype=np.float32).reshape(7, 1), np.full(1, 0.1, np.float32)]
    ours.get_layer("head").set_weights(head)
    # its Keras twin as a graph of its own (a fresh keras_models.transfer_model's layers keep
    # their first outputs in fer's graph, which a probe model cannot reach)
    theirs = ours.to_keras()
    x = np.random.default_rng(1).random((3, *SIZE, 3), dtype=np.float32)
    # the last conv, and one below residual Adds (its gradient adds two paths)
    for layer in ("conv2d_7", "conv2d_3"):
        raw_np, c_np = interpret.attribution.grad_cam_raw(ours, x, None, layer)
        raw_k, c_k = interpret.attribution.grad_cam_raw(theirs, x, None, layer)
        np.testing.assert_array_equal(c_np, c_k)
        assert raw_np.max() > 0, layer
        scale = np.maximum(raw_np.max(axis=(1, 2), keepdims=True), 1e-12)
        np.testing.assert_allclose(raw_np / scale, raw_k / scale, rtol=0, atol=1e-4)
    s_np, s_k = interpret.saliency(ours, x), interpret.saliency(theirs, x)
    np.testing.assert_allclose(s_np, s_k, rtol=0, atol=1e-4 * float(s_np.max()))
