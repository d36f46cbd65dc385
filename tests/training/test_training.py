"""The training runner, for both engines: run directory, checkpoints and resume, evaluate,
predict (across engines) and show. Tiny synthetic data, a few epochs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("keras")

from _helpers import SIZE, write_class_folders  # noqa: E402
from _helpers import train_config as _config  # noqa: E402
from _helpers import train_interrupted_in_epoch as _train_interrupted_in_epoch  # noqa: E402
from cnnlab import interpret, training  # noqa: E402
from cnnlab.data import load_dataset  # noqa: E402
from cnnlab.data.prepare import scale_pixels  # noqa: E402
from cnnlab.errors import (  # noqa: E402
    DatasetError,
    ModelFileError,
    RunError,
    TrainingInterrupted,
)
from cnnlab.tasks import get_task  # noqa: E402
from cnnlab.training import feed  # noqa: E402

ENGINES = ["keras", "numpy"]


@pytest.fixture(scope="module", params=ENGINES)
def run(request, tmp_path_factory) -> training.Run:
    out = tmp_path_factory.mktemp(f"run_{request.param}") / "run"
    return training.train(_config(out, request.param))


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic", image_size=SIZE, seed=3)


def _weights(run_dir) -> list[np.ndarray]:
    return [np.asarray(w) for w in training.load_model(run_dir).get_weights()]


@pytest.mark.slow
def test_run_directory_holds_everything(run, data):
    d = run.dir
    expected = {
        "config.json",
        "class_names.json",
        training.MODEL_FILES[run.config.engine],
        "checkpoint.json",
        "history.csv",
        "metrics.json",
        "learning_curves.png",
        "confusion_matrix.png",
        "summary.txt",
    }
    assert expected <= {p.name for p in d.iterdir()}
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]  # no temp files left
    config = json.loads((d / "config.json").read_text())
    assert config["engine"] == run.config.engine and config["image_size"] == list(SIZE)
    assert config["grayscale"] is False and config["data"] == "synthetic"
    assert json.loads((d / "class_names.json").read_text()) == data.class_names
    for png in ("learning_curves.png", "confusion_matrix.png"):
        with Image.open(d / png) as im:
            assert im.format == "PNG" and im.size[0] >= 400
    summary = (d / "summary.txt").read_text()
    assert "Total params: 971" in summary and "conv2d" in summary


def test_metrics_are_consistent_with_history(run, data):
    d = run.dir
    with open(d / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    history = training.read_history_csv(d / "history.csv")
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"}
    assert history["learning_rate"] == [0.01, 0.01]  # the course models: constant
    assert history == run.history
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["engine"] == run.config.engine
    assert metrics["train"]["n"] == len(data.x_train) and metrics["test"]["n"] == len(data.x_test)
    # The final validation metrics are the last epoch's val_* (same weights, inference mode).
    assert metrics["validation"]["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-4)
    assert metrics["validation"]["accuracy"] == pytest.approx(history["val_accuracy"][-1])
    for split in ("train", "validation", "test"):
        assert 0.0 <= metrics[split]["accuracy"] <= 1.0 and metrics[split]["loss"] > 0
    assert metrics["train_seconds"] > 0


def test_the_run_learned_something(run):
    # 3 stripe classes at lr 0.01: clearly better than chance (1/3) after two epochs.
    assert run.metrics["train"]["accuracy"] > 0.5
    assert run.history["loss"][-1] < run.history["loss"][0]


def test_model_file_loads_with_its_optimizer_state(run):
    steps = 2 * -(-run.metrics["train"]["n"] // 16)  # 2 epochs of batches of 16
    if run.config.engine == "keras":
        import keras

        model = keras.models.load_model(run.dir / "model.keras", safe_mode=True)
    else:
        from cnnlab import nn

        model = nn.load_model(run.dir / "model.npz")
    assert model.count_params() == 971
    assert int(model.optimizer.iterations) == steps


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
def test_interrupt_then_resume_equals_an_uninterrupted_run(engine, tmp_path, monkeypatch):
    full = training.train(_config(tmp_path / "full", engine, epochs=3))

    calls = _train_interrupted_in_epoch(_config(tmp_path / "cut", engine, epochs=3), monkeypatch)
    assert calls == [0, 1]  # Ctrl-C during the second epoch

    cut = training.load_run(tmp_path / "cut")
    assert cut.epochs_done == 1 and cut.metrics is None and len(cut.history["loss"]) == 1
    # While training, the checkpoint's model is model-epoch-0001.*, named by checkpoint.json.
    suffix = ".keras" if engine == "keras" else ".npz"
    assert cut.model_path.name == f"model-epoch-0001{suffix}"
    ckpt = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())
    assert ckpt["model"] == cut.model_path.name and ckpt["epochs_done"] == 1
    assert not (tmp_path / "cut" / training.MODEL_FILES[engine]).exists()
    assert cut.history["loss"][0] == pytest.approx(full.history["loss"][0], rel=1e-5)

    resumed = training.resume(tmp_path / "cut")
    assert resumed.epochs_done == 3 and len(resumed.history["loss"]) == 3
    # Finished: only the public model file, which is the best epoch's too (epoch 3 here);
    # checkpoint.json names it as both.
    assert sorted(p.name for p in (tmp_path / "cut").glob("model*")) == [
        training.MODEL_FILES[engine]
    ]
    ckpt = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())
    assert ckpt["model"] == ckpt["best"]["model"] == training.MODEL_FILES[engine]
    assert ckpt["best"]["epoch"] == 3
    assert json.loads((tmp_path / "cut" / "metrics.json").read_text())["epochs"] == 3
    # Weights and optimizer state carried over: the same result as without the interruption.
    for a, b in zip(_weights(tmp_path / "cut"), _weights(tmp_path / "full"), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-4)

    with pytest.raises(RunError, match="already trained 3 of 3 epochs"):
        training.resume(tmp_path / "cut")
    before = (tmp_path / "cut" / "config.json").read_bytes()
    with pytest.raises(RunError, match="pass --epochs larger than 3"):
        training.resume(tmp_path / "cut", epochs=2)  # refused: nothing rewritten
    assert (tmp_path / "cut" / "config.json").read_bytes() == before
    longer = training.resume(tmp_path / "cut", epochs=4)
    assert longer.epochs_done == 4 and len(longer.history["val_loss"]) == 4


def test_ctrl_c_while_writing_a_checkpoint_keeps_it_consistent(tmp_path, monkeypatch):
    import os
    import signal

    eng = training.get_engine("numpy")
    real_save = type(eng).save

    def save_then_ctrl_c(self, model, path):
        real_save(self, model, path)
        os.kill(os.getpid(), signal.SIGINT)  # arrives between the model and checkpoint.json

    monkeypatch.setattr(type(eng), "save", save_then_ctrl_c)
    with pytest.raises(TrainingInterrupted, match="1 epoch is saved in") as info:
        training.train(_config(tmp_path / "r", "numpy", epochs=3))
    assert f"resume with: cnnlab train --resume {tmp_path / 'r'}" in str(info.value)
    run = training.load_run(tmp_path / "r")
    assert run.epochs_done == 1 and len(run.history["loss"]) == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_evaluate_run_matches_metrics_in_both_engines(run):
    own = training.evaluate_run(run.dir)
    for split in ("train", "validation", "test"):
        assert own[split]["loss"] == pytest.approx(run.metrics[split]["loss"], rel=1e-6)
        assert own[split]["accuracy"] == run.metrics[split]["accuracy"]
    other = "numpy" if run.config.engine == "keras" else "keras"
    cross = training.evaluate_run(run.dir, engine=other)
    for split in ("train", "validation", "test"):
        assert cross[split]["loss"] == pytest.approx(own[split]["loss"], rel=1e-4)
        assert cross[split]["accuracy"] == pytest.approx(own[split]["accuracy"])


def test_predict_images_any_size_and_across_engines(run, data, tmp_path):
    # A test image saved at the training size predicts exactly as the model on the array.
    exact = tmp_path / "exact.png"
    Image.fromarray(data.x_test[0]).save(exact)
    # Another at another size, in another format, with alpha.
    big = tmp_path / "big.bmp"
    Image.fromarray(data.x_test[1]).resize((50, 37)).save(big)
    rgba = tmp_path / "alpha.png"
    Image.fromarray(data.x_test[2]).convert("RGBA").resize((20, 20)).save(rgba)
    paths = [exact, big, rgba]

    got = training.predict_images(run.dir, paths)
    assert len(got) == 3
    for name, prob in got:
        assert name in data.class_names and 0.0 < prob <= 1.0

    model = training.load_model(run.dir)
    probs = np.asarray(model.predict(scale_pixels(data.x_test[:1]), verbose=0))
    assert got[0][0] == data.class_names[int(probs.argmax())]
    assert got[0][1] == pytest.approx(float(probs.max()), rel=1e-5)

    other = "numpy" if run.config.engine == "keras" else "keras"
    cross = training.predict_images(run.dir, paths, engine=other)
    assert [n for n, _ in cross] == [n for n, _ in got]
    np.testing.assert_allclose([p for _, p in cross], [p for _, p in got], rtol=1e-4)


@pytest.mark.slow
def test_show_draws_filters_and_feature_maps(run, data, tmp_path):
    image = tmp_path / "img.png"
    Image.fromarray(data.x_test[0]).save(image)
    default = interpret.show(run.dir, image)
    assert default == run.dir / "show_img.png"
    other = "numpy" if run.config.engine == "keras" else "keras"
    crossed = interpret.show(run.dir, image, tmp_path / "cross.png", engine=other)
    for path in (default, crossed):
        with Image.open(path) as im:
            img = np.asarray(im.convert("RGB"))
        assert img.shape[0] > 400 and img.std() > 10
    default.unlink()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
def test_mood_task_is_binary(engine, tmp_path):
    data_dir = write_class_folders(
        tmp_path / "faces", {"not_smiling": 16, "smiling": 16}, size=(20, 20), seed=1
    )
    run = training.train(
        _config(
            tmp_path / "run", engine, task="mood", data=str(data_dir), epochs=1, preprocess="none"
        )
    )
    assert run.class_names == ["not_smiling", "smiling"]
    summary = (run.dir / "summary.txt").read_text()
    assert "happy_model" in summary and "Non-trainable params: 64" in summary
    assert training.load_model(run.dir).output_shape == (None, 1)
    imgs = [next((data_dir / name).iterdir()) for name in run.class_names]
    got = training.predict_images(run.dir, imgs)  # one image of each class: its own name
    assert [name for name, _ in got] == run.class_names and all(p >= 0.5 for _, p in got)
    with pytest.raises(DatasetError, match="task 'mood' needs exactly 2 classes"):
        training.train(_config(tmp_path / "run3", engine, task="mood", epochs=1))


def test_task_outputs_to_labels_and_probabilities():
    mood, signs = get_task("mood"), get_task("signs")
    labels, p = mood.labels(np.array([[0.2], [0.9], [0.5]]))
    np.testing.assert_array_equal(labels, [0, 1, 1])
    np.testing.assert_allclose(p, [0.8, 0.9, 0.5])
    np.testing.assert_allclose(mood.probabilities([[0.2], [0.9]]), [[0.8, 0.2], [0.1, 0.9]])
    assert mood.top_k([[0.3]], 2) == [[(0, 0.7), (1, 0.3)]]
    labels, p = signs.labels(np.array([[0.1, 0.7, 0.2]]))
    assert labels.tolist() == [1] and p.tolist() == [0.7]
    assert signs.top_k([[0.1, 0.7, 0.2]], 2) == [[(1, 0.7), (2, 0.2)]]
    assert mood.targets([0, 1]).shape == (2, 1) and signs.targets([0, 2]).dtype == np.int64
    assert (mood.loss, signs.loss) == ("binary_crossentropy", "sparse_categorical_crossentropy")


def test_cosine_schedule():
    cfg = training.TrainConfig(epochs=4, learning_rate=0.1).resolved()
    assert cfg.schedule == "cosine"
    lrs = [cfg.learning_rate_at(e) for e in range(4)]
    np.testing.assert_allclose(lrs, [0.1, 0.1 * (1 + 2**-0.5) / 2, 0.05, 0.1 * (1 - 2**-0.5) / 2])
    assert training.TrainConfig(model="course").resolved().schedule == "constant"
    with pytest.raises(ValueError, match="schedule must be one of constant, cosine"):
        training.TrainConfig(schedule="step")


def test_default_config_is_digits():
    cfg = training.TrainConfig().resolved()
    assert (cfg.task, cfg.engine, cfg.model, cfg.data) == (
        "signs",
        "keras",
        "recommended",
        "digits",
    )
    assert cfg.image_size == (16, 16) and cfg.grayscale is True
    mood = training.TrainConfig(task="mood").resolved()
    assert mood.data == "smiles" and mood.image_size == (64, 64) and mood.grayscale is False


def test_bad_arguments_and_bad_runs(tmp_path, run):
    with pytest.raises(ValueError, match="engine must be one of keras, numpy"):
        training.TrainConfig(engine="torch")
    with pytest.raises(ValueError, match="task must be one of"):
        training.TrainConfig(task="faces")
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        training.TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        training.TrainConfig(seed=-1)
    for lr in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="learning_rate must be a positive finite number"):
            training.TrainConfig(learning_rate=lr)
    with pytest.raises(DatasetError, match="no such dataset"):
        training.train(_config(tmp_path / "x", "numpy", data=str(tmp_path / "missing")))
    with pytest.raises(RunError, match="not a cnnlab run"):
        training.load_run(tmp_path)
    with pytest.raises(RunError, match="no such run directory"):
        training.evaluate_run(tmp_path / "nope")
    with pytest.raises(RunError, match="already exists and is not empty"):
        training.train(_config(run.dir, "numpy"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(DatasetError, match="bad.jpg"):
        training.predict_images(run.dir, [bad])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(RunError, match="unreadable"):
        training.load_run(broken)


# --------------------------------------------------------------------------------------
# Reliability: old runs, divergence, class names, damaged files, per-image errors


def test_a_run_in_the_old_layout_still_loads_and_resumes(tmp_path, monkeypatch):
    # Before the manifest named its model file: model.npz + checkpoint.json without "model".
    _train_interrupted_in_epoch(_config(tmp_path / "old", "numpy", epochs=2), monkeypatch)
    d = tmp_path / "old"
    (d / "model-epoch-0001.npz").rename(d / "model.npz")
    ckpt = json.loads((d / "checkpoint.json").read_text())
    del ckpt["model"]
    (d / "checkpoint.json").write_text(json.dumps(ckpt))
    run = training.load_run(d)
    assert run.model_path == d / "model.npz" and run.epochs_done == 1
    assert training.load_model(d).count_params() == 971
    resumed = training.resume(d)
    assert resumed.epochs_done == 2 and resumed.model_path == d / "model.npz"
    assert sorted(p.name for p in d.glob("model*")) == ["model.npz"]
    full = training.train(_config(tmp_path / "full", "numpy", epochs=2))
    for a, b in zip(_weights(d), _weights(full.dir), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_manifest_naming_a_foreign_file_is_refused(run, tmp_path):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(run.dir, d)
    ckpt = json.loads((d / "checkpoint.json").read_text())
    (d / "checkpoint.json").write_text(json.dumps(ckpt | {"model": "../../etc/passwd"}))
    with pytest.raises(RunError, match="names an unexpected model file"):
        training.load_run(d)
    (d / "checkpoint.json").write_text(json.dumps(ckpt | {"model": "model-epoch-0009.npz"}))
    with pytest.raises(RunError, match="model-epoch-0009.npz"):
        training.load_run(d)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
def test_divergence_keeps_the_last_finite_checkpoint(engine, tmp_path, monkeypatch):
    # A learning rate that explodes from the second epoch on.
    real_lr = training.TrainConfig.learning_rate_at
    monkeypatch.setattr(
        training.TrainConfig,
        "learning_rate_at",
        lambda self, epoch: 1e30 if epoch >= 1 else real_lr(self, epoch),
    )
    warnings: list[str] = []
    with pytest.raises(training.TrainingDiverged) as info:
        training.train(_config(tmp_path / "r", engine, epochs=3), warn=warnings.append)
    exc = info.value
    message = str(exc)
    assert exc.epoch == 2 and exc.batch is not None and exc.batch >= 1
    assert f"training diverged in epoch 2, batch {exc.batch}: the loss is nan" in message
    assert "kept epoch 1's model" in message and "try a smaller --lr" in message
    assert isinstance(exc, RunError) and exc.run.epochs_done == 1
    d = tmp_path / "r"
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["diverged"] == {"epoch": 2, "batch": exc.batch}
    for split in ("train", "validation", "test"):
        assert np.isfinite(metrics[split]["loss"])
    assert sorted(p.name for p in d.glob("model*")) == [training.MODEL_FILES[engine]]
    assert not [p.name for p in d.iterdir() if p.name.startswith(".")]
    assert len(training.read_history_csv(d / "history.csv")["loss"]) == 1
    # The kept run loads everywhere: evaluate, predict, resume.
    assert all(np.isfinite(w).all() for w in _weights(d))
    assert training.evaluate_run(d)["test"]["loss"] == pytest.approx(metrics["test"]["loss"])
    monkeypatch.setattr(training.TrainConfig, "learning_rate_at", real_lr)
    assert training.resume(d).epochs_done == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_a_nan_pixel_is_refused_before_training_and_keeps_nothing(engine, tmp_path, monkeypatch):
    # cnnlab.data only hands out uint8 images; put the NaN pixel in the training array the
    # runner makes (the first scale_pixels() call of the loop is the training images).
    from cnnlab.training import loop

    real_preprocess = loop.scale_pixels
    calls = []

    def poisoned(x):
        out = real_preprocess(x)
        if not calls:
            out[5, 2, 3, 0] = np.nan
        calls.append(len(x))
        return out

    monkeypatch.setattr(loop, "scale_pixels", poisoned)  # where the loop looks it up
    with pytest.raises(
        DatasetError, match="synthetic: the training and validation images hold 1 NaN"
    ):
        training.train(_config(tmp_path / "r", engine, epochs=2))
    assert not (tmp_path / "r").exists()  # nothing half-made left behind


def test_an_exploding_loss_gets_one_warning(tmp_path):
    warnings: list[str] = []
    training.train(
        _config(tmp_path / "r", "numpy", epochs=2, learning_rate=1e6), warn=warnings.append
    )
    assert len(warnings) == 1
    assert "the loss grew from" in warnings[0] and "learning rate (1e+06)" in warnings[0]
    quiet: list[str] = []
    training.train(_config(tmp_path / "ok", "numpy", epochs=2), warn=quiet.append)
    assert quiet == []


def test_interrupt_before_the_first_epoch_keeps_nothing(tmp_path, monkeypatch):
    eng = training.get_engine("numpy")
    monkeypatch.setattr(
        type(eng), "fit_epoch", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    with pytest.raises(TrainingInterrupted, match="no epoch had finished, so nothing was kept"):
        training.train(_config(tmp_path / "r", "numpy"))
    assert not (tmp_path / "r").exists()


def test_class_names_must_match_the_model(run, tmp_path, data):
    import shutil

    image = tmp_path / "img.png"
    Image.fromarray(data.x_test[0]).save(image)
    for names in (data.class_names[:2], [*data.class_names, "extra"]):
        d = tmp_path / f"names{len(names)}"
        shutil.copytree(run.dir, d)
        (d / "class_names.json").write_text(json.dumps(names))
        with pytest.raises(RunError, match=r"class_names.json: lists \d class names, but the"):
            training.predict_images(d, [image])
        with pytest.raises(RunError, match="class_names.json"):
            training.evaluate_run(d)


def test_a_damaged_keras_file_says_what_is_wrong(tmp_path, run):
    if run.config.engine != "keras":
        pytest.skip("a .keras file")
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(run.dir, d)
    model = d / "model.keras"
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model.keras: not a Keras model archive \(trunc"):
        training.load_model(d)
    model.write_bytes(b"just text")
    with pytest.raises(ModelFileError, match="not a Keras model archive"):
        training.load_model(d)


def test_predict_collects_an_error_for_each_bad_image(run, data, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(data.x_test[0]).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    missing = tmp_path / "missing.jpg"
    got = training.predict_images(run.dir, [bad, good, missing, good], errors="collect")
    assert isinstance(got[0], DatasetError) and "bad.png" in str(got[0])
    assert isinstance(got[2], DatasetError) and "missing.jpg" in str(got[2])
    assert got[1] == got[3] and got[1] == training.predict_images(run.dir, [good])[0]
    with pytest.raises(DatasetError, match="bad.png"):
        training.predict_images(run.dir, [good, bad])
    with pytest.raises(ValueError, match="errors must be 'raise' or 'collect'"):
        training.predict_images(run.dir, [good], errors="ignore")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.slow
def test_resume_of_a_recommended_model_equals_an_uninterrupted_run(engine, tmp_path, monkeypatch):
    # The recommended models have Dropout, and at 32 pixels and up the runner augments their
    # training images each epoch: what they draw must depend on (seed, epoch) only. The NumPy
    # engine: bit-identical; Keras: within noise.
    cfg = dict(model="recommended", epochs=2, image_size=(32, 32), schedule="constant")
    assert feed.augmentation(_config(tmp_path / "x", engine, **cfg), (32, 32, 3))
    full = training.train(_config(tmp_path / "full", engine, **cfg))
    _train_interrupted_in_epoch(_config(tmp_path / "cut", engine, **cfg), monkeypatch)
    resumed = training.resume(tmp_path / "cut")
    pairs = zip(_weights(resumed.dir), _weights(full.dir), strict=True)
    if engine == "numpy":
        assert resumed.history == full.history
        for a, b in pairs:
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(resumed.history["loss"], full.history["loss"], rtol=1e-5)
        for a, b in pairs:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
