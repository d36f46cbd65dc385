"""cnnlab.interpret: Grad-CAM and saliency agree across engines and with finite differences,
Grad-CAM finds the evidence, the per-image report matches numbers computed by hand, and the
CLI (interpret, show --cam, predict --top-k) works end to end. Tiny shapes throughout."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from PIL import Image

from _helpers import SIZE, train_config, write_class_folders
from cnnlab import interpret, nn, numpy_models, training
from cnnlab.data import make_synthetic_arrays
from cnnlab.data.prepare import scale_pixels
from cnnlab.errors import ArgumentError
from reliability.conftest import assert_user_error, run_cnnlab


# ---- the two engines agree ---------------------------------------------------------------
def _with_moving_statistics(model, rng) -> None:
    """Non-trivial BatchNormalization statistics, so that inference mode is really tested."""
    for layer in model.layers:
        if isinstance(layer, nn.BatchNormalization):
            c = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.3, c))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c))
            layer.gamma.assign(rng.uniform(0.5, 1.5, c))
            layer.beta.assign(rng.normal(0, 0.2, c))


@pytest.mark.parametrize(
    "build",
    [
        lambda: numpy_models.happy_model((16, 16, 3), seed=1),  # sigmoid, BatchNorm
        lambda: numpy_models.signs_model((16, 16, 3), n_classes=4, seed=1),  # softmax
        lambda: numpy_models.recommended_model("signs", (16, 16, 3), 4, seed=1),  # BN, Dropout
    ],
    ids=["happy", "signs", "recommended"],
)
def test_numpy_and_keras_maps_agree_on_the_same_weights(build):
    pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    model = build()
    _with_moving_statistics(model, rng)
    keras_model = model.to_keras()
    x = rng.random((3, 16, 16, 3), dtype=np.float32)
    for classes in (None, 0):  # the predicted classes, then class 0 for all (sigmoid: -z)
        raw_np, c_np = interpret.attribution.grad_cam_raw(model, x, classes)
        raw_k, c_k = interpret.attribution.grad_cam_raw(keras_model, x, classes)
        np.testing.assert_array_equal(c_np, c_k)
        if classes is None:
            assert raw_np.max() > 0, "a map of zeros would compare nothing"
        # float32 engines summing in different orders: compare relative to each map's
        # largest value (measured differences: below 1e-6 of it).
        scale = np.maximum(raw_np.max(axis=(1, 2), keepdims=True), 1e-12)
        np.testing.assert_allclose(raw_np / scale, raw_k / scale, rtol=0, atol=1e-4)
        np.testing.assert_allclose(
            interpret.grad_cam(model, x, classes),
            interpret.grad_cam(keras_model, x, classes),
            rtol=0,
            atol=1e-4,
        )
        s_np = interpret.saliency(model, x, classes)
        s_k = interpret.saliency(keras_model, x, classes)
        np.testing.assert_allclose(s_np, s_k, rtol=0, atol=1e-4 * float(s_np.max()))


# ---- the gradient is the gradient --------------------------------------------------------
@pytest.mark.parametrize("output", ["softmax", "sigmoid"])
def test_numpy_saliency_equals_central_differences(output):
    rng = np.random.default_rng(1)
    units = 3 if output == "softmax" else 1
    model = nn.Sequential(
        [
            nn.Input(shape=(6, 6, 2)),
            nn.Conv2D(3, 3, activation="tanh"),
            nn.BatchNormalization(),
            nn.AveragePooling2D(2),
            nn.Flatten(),
            nn.Dense(units, activation=output),
        ],
        seed=2,
        dtype="float64",
    )
    _with_moving_statistics(model, rng)
    x = rng.random((2, 6, 6, 2))
    cls = np.array([2, 0]) if output == "softmax" else np.array([1, 0])
    got = interpret.saliency(model, x, cls)

    def score(xs):
        z = interpret.class_scores(model, xs)
        return np.where(cls == 1, z[:, 0], -z[:, 0]) if units == 1 else z[[0, 1], cls]

    eps = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape[1:]):
        up, down = x.copy(), x.copy()
        up[(slice(None), *idx)] += eps
        down[(slice(None), *idx)] -= eps
        fd[(slice(None), *idx)] = (score(up) - score(down)) / (2 * eps)
    np.testing.assert_allclose(got, np.abs(fd).max(axis=-1), rtol=1e-6, atol=1e-9)


def test_grad_cam_leaves_weights_and_gradients_as_they_were():
    rng = np.random.default_rng(3)
    model = numpy_models.recommended_model("mood", (16, 16, 1), seed=0)
    _with_moving_statistics(model, rng)
    for w in model.trainable_weights:
        w.grad[...] = rng.normal(size=w.shape)
    values = [w.value.copy() for w in model.weights]
    grads = [w.grad.copy() for w in model.trainable_weights]
    trainable = [layer.trainable for layer in model.layers]
    x = rng.random((2, 16, 16, 1), dtype=np.float32)
    before = model.predict(x)
    interpret.grad_cam(model, x)
    interpret.saliency(model, x, 0)
    for w, v in zip(model.weights, values, strict=True):
        np.testing.assert_array_equal(w.value, v)
    for w, g in zip(model.trainable_weights, grads, strict=True):
        np.testing.assert_array_equal(w.grad, g)
    assert [layer.trainable for layer in model.layers] == trainable
    np.testing.assert_array_equal(model.predict(x), before)


def test_bad_layer_and_class_index_name_what_was_received():
    model = numpy_models.signs_model((16, 16, 3), n_classes=4)
    x = np.zeros((1, 16, 16, 3), np.float32)
    convs = interpret.conv_layer_names(model)
    flatten = next(layer.name for layer in model.layers if isinstance(layer, nn.Flatten))
    for bad in (flatten, "no_such_layer"):
        with pytest.raises(ArgumentError, match=bad) as err:
            interpret.grad_cam(model, x, layer=bad)
        assert all(name in str(err.value) for name in convs)
    with pytest.raises(ArgumentError, match="class_index=4"):
        interpret.grad_cam(model, x, class_index=4)
    with pytest.raises(ArgumentError, match="class_index=-1"):
        interpret.saliency(model, x, class_index=-1)
    heat = interpret.grad_cam(model, x, layer=convs[0])
    assert heat.shape == (1, 16, 16) and heat.dtype == np.float32


# ---- Grad-CAM finds the evidence ---------------------------------------------------------
def _corner_images(n: int, rng):
    """16x16 noise; class 1 has a bright 4x4 patch somewhere in the top-left quadrant."""
    x = rng.uniform(0.0, 0.4, (n, 16, 16, 1))
    y = np.arange(n) % 2
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 5, 2)
        x[i, r : r + 4, c : c + 4] = 1.0
    return x.astype(np.float32), y


def test_grad_cam_puts_the_heat_on_the_deciding_corner():
    rng = np.random.default_rng(4)
    x, y = _corner_images(240, rng)
    model = nn.Sequential(
        [
            nn.Input(shape=(16, 16, 1)),
            nn.Conv2D(8, 3, padding="same", activation="relu"),
            nn.MaxPool2D(2),
            nn.Conv2D(8, 3, padding="same", activation="relu"),
            nn.AveragePooling2D(8),
            nn.Flatten(),
            nn.Dense(2, activation="softmax"),
        ],
        seed=0,
    )
    model.compile(optimizer=nn.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=6, batch_size=16, verbose=0, seed=0)
    xt, yt = _corner_images(40, rng)
    assert (model.predict(xt).argmax(axis=1) == yt).mean() >= 0.9
    heat = interpret.grad_cam(model, xt[yt == 1], class_index=1)
    fraction = heat[:, :8, :8].sum() / heat.sum()
    print(f"Grad-CAM heat in the top-left quadrant: {fraction:.1%}")
    assert fraction > 0.5


# ---- the report, by hand -----------------------------------------------------------------
def test_report_matches_numbers_computed_by_hand():
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]]
    )
    targets = np.array([0, 1, 1, 2, 2])
    it = interpret.Interpretation(["a", "b", "c"], targets, probs)
    np.testing.assert_array_equal(it.preds, [0, 1, 0, 2, 0])
    losses = -np.log([0.7, 0.8, 0.3, 0.6, 0.1])
    np.testing.assert_allclose(it.losses, losses)
    idx, top = it.top_losses(2)
    np.testing.assert_array_equal(idx, [4, 2])
    np.testing.assert_allclose(top, losses[[4, 2]])
    assert it.most_confused() == [("b", "a", 1), ("c", "a", 1)]
    assert it.most_confused(min_count=2) == []
    rep = it.classification_report()
    # a: predicted 3 times, right once; b: 1 of 2 found; c: 1 of 2 found
    assert rep["a"]["precision"] == pytest.approx(1 / 3) and rep["a"]["recall"] == 1.0
    assert rep["b"]["precision"] == 1.0 and rep["b"]["recall"] == 0.5
    assert rep["c"]["f1-score"] == pytest.approx(2 / 3) and rep["c"]["support"] == 2
    assert rep["accuracy"] == pytest.approx(0.6)
    assert "precision" in it.classification_report(output_dict=False)
    np.testing.assert_allclose(
        it.confusion_matrix("true"), [[1, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5]]
    )
    # one sigmoid output: p(class 1) becomes the two columns, binary cross-entropy per image
    mood = interpret.Interpretation(["no", "yes"], [1, 0, 1], np.array([[0.9], [0.3], [0.2]]))
    np.testing.assert_allclose(mood.losses, -np.log([0.9, 0.7, 0.2]))
    np.testing.assert_array_equal(mood.preds, [1, 0, 0])
    assert mood.most_confused() == [("yes", "no", 1)]


def test_the_confusion_matrix_counts_as_scikit_learns():
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.ones(5), size=200)
    targets = rng.integers(0, 4, 200)  # class 4 has no image, and is predicted all the same
    it = interpret.Interpretation(list("abcde"), targets, probs)
    want = confusion_matrix(targets, it.preds, labels=range(5))
    np.testing.assert_array_equal(it.confusion_matrix(), want)
    assert it.confusion_matrix().dtype.kind == "i"
    rows = want.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        it.confusion_matrix("true"), np.where(rows > 0, want / np.maximum(rows, 1), 0.0)
    )


# The shared small run (NumPy engine by default), trained for 1 epoch here.
_config = functools.partial(train_config, epochs=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return training.train(_config(tmp_path_factory.mktemp("interp") / "run"))


@pytest.fixture(scope="module")
def mood_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("mood")
    write_class_folders(root / "faces", {"not_smiling": 12, "smiling": 12}, seed=1)
    cfg = _config(root / "run", task="mood", data=str(root / "faces"), preprocess="none")
    return training.train(cfg)


@pytest.mark.parametrize("which", ["run", "mood_run"])
def test_from_run_predicts_the_split_as_the_model_does(which, request):
    r = request.getfixturevalue(which)
    it = interpret.Interpretation.from_run(r.dir, "val")
    ds = training.load_data(r.config)
    np.testing.assert_array_equal(it.targets, ds.y_val)
    out = np.asarray(training.load_model(r.dir).predict(scale_pixels(ds.x_val)), np.float64)
    probs = np.concatenate([1 - out, out], axis=1) if which == "mood_run" else out
    np.testing.assert_allclose(it.probs, probs)
    p_true = probs[np.arange(len(ds.y_val)), ds.y_val]
    np.testing.assert_allclose(it.losses, -np.log(np.clip(p_true, 1e-7, 1 - 1e-7)))
    # the mean loss is the engine's own validation loss
    assert it.losses.mean() == pytest.approx(r.history["val_loss"][-1], rel=1e-4)
    idx, _ = it.top_losses(3)
    assert it.losses[idx[0]] == it.losses.max()
    heat = it.grad_cam(idx)
    assert heat.shape == (3, *SIZE)
    with pytest.raises(ArgumentError, match="split"):
        interpret.Interpretation.from_run(r.dir, "validation")


# ---- the command line --------------------------------------------------------------------
@pytest.mark.slow
def test_cli_interpret_show_and_predict(run, tmp_path):
    image = tmp_path / "img.png"
    Image.fromarray(make_synthetic_arrays(1, SIZE, 3, seed=9)[0][0]).save(image)
    res = run_cnnlab("interpret", run.dir, "--top", "4")
    assert res.code == 0, res.stderr
    assert "precision" in res.stdout
    assert "most confused" in res.stdout or "no mistakes" in res.stdout
    out = run.dir / "interpret"
    for name in (
        "report.txt",
        "report.json",
        "top_losses.png",
        "confusion_normalized.png",
        "gradcam.png",
    ):
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    assert len(report["top_losses"]) == 4 and report["split"] == "test"

    res = run_cnnlab("show", run.dir, image, "--cam", "--out", tmp_path / "cam.png")
    assert res.code == 0, res.stderr
    assert (tmp_path / "cam.png").stat().st_size > 0

    res = run_cnnlab("predict", run.dir, image, "--top-k", "2")
    assert res.code == 0, res.stderr
    fields = res.stdout.strip().split("\t")
    assert len(fields) == 5 and float(fields[2]) >= float(fields[4])


@pytest.mark.slow
def test_cli_bad_input_is_one_error_line(run, tmp_path):
    image = tmp_path / "img.png"
    Image.fromarray(make_synthetic_arrays(1, SIZE, 3, seed=9)[0][0]).save(image)
    assert_user_error(run_cnnlab("interpret", tmp_path / "nowhere"), "nowhere")
    assert_user_error(run_cnnlab("show", run.dir, image, "--cam", "--class", "7"), "7")
    flatten = next(
        layer.name for layer in training.load_model(run.dir).layers if isinstance(layer, nn.Flatten)
    )
    assert_user_error(run_cnnlab("interpret", run.dir, "--layer", flatten), flatten)
    assert_user_error(run_cnnlab("predict", run.dir, image, "--top-k", "9"), "top_k")


@pytest.mark.parametrize("model", ["recommended", "course"])
@pytest.mark.slow
def test_a_keras_run_loaded_from_its_file_agrees_with_its_numpy_twin(model, tmp_path):
    # A Sequential read back from a .keras file (the recommended model) used to give no
    # gradient through a probe Model over its conv layer's output; the SIGNS model is
    # Functional. Both must match the NumPy engine on the converted weights.
    r = training.train(_config(tmp_path / "run", engine="keras", model=model))
    keras_model = training.load_model(r.dir, "keras")
    numpy_model = training.load_model(r.dir, "numpy")
    x = scale_pixels(training.load_data(r.config).x_test[:4])
    for fn in (interpret.grad_cam, interpret.saliency):
        a, b = fn(keras_model, x), fn(numpy_model, x)
        assert a.shape == b.shape == (4, *SIZE)
        assert np.abs(a - b).max() <= 1e-4 * max(float(np.abs(b).max()), 1e-12), fn.__name__


def test_the_raw_grad_cam_map_is_the_relu_of_the_weighted_sum():
    # Without its ReLU the raw map would go negative where the weighted channels speak
    # against the class; with it the map is >= 0 and exactly 0 there.
    from cnnlab import numpy_models

    model = numpy_models.signs_model((16, 16, 3), n_classes=4, seed=1)
    x = np.random.default_rng(5).random((8, 16, 16, 3), dtype=np.float32)
    zeros = 0
    for k in range(4):
        raw, classes = interpret.attribution.grad_cam_raw(model, x, k)
        assert classes.tolist() == [k] * 8
        assert raw.dtype == np.float64 and (raw >= 0).all()
        zeros += int((raw == 0).sum())
    assert zeros > 0  # some pixels had only negative evidence: the ReLU cut them to 0
