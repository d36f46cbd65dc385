"""The face step in runs: recorded in config.json, applied identically by train, evaluate,
predict and show, and every image without a face counted and reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from _helpers import mood_faces_folder, write_class_folders
from cnnlab import interpret, training
from cnnlab.data.images import folder_arrays_found, list_class_folders
from cnnlab.data.prepare import decode_prepared, scale_pixels
from cnnlab.data.shifts import shift_images
from cnnlab.errors import ArgumentError
from cnnlab.tasks import get_task  # noqa: E402
from reliability.conftest import run_cnnlab

pytestmark = pytest.mark.slow


def _blank_folder(root: Path, n: int = 6) -> Path:
    """``n`` faceless 48x48 images a class: one grey level each, darker for not_smiling."""

    def grey(rng, k, i, size):
        return np.full((*size, 3), 60 + 120 * k + int(rng.integers(0, 20)), dtype=np.uint8)

    classes = {"not_smiling": n, "smiling": n}
    return write_class_folders(root, classes, (48, 48), pixels=grey, seed=1, name="{i}")


def test_preprocess_defaults_and_old_runs():
    assert training.TrainConfig(task="mood").resolved().preprocess == "face"
    assert training.TrainConfig(task="signs").resolved().preprocess == "none"
    assert training.TrainConfig(task="mood", preprocess="none").resolved().preprocess == "none"
    # a run written before the face step existed keeps using whole images
    old = training.TrainConfig(task="mood").to_json()
    del old["preprocess"]
    assert training.TrainConfig.from_json(old).resolved().preprocess == "none"
    with pytest.raises(ArgumentError, match=r"preprocess must be one of none, face, hand\. "):
        training.TrainConfig(task="mood", preprocess="faces")


@pytest.fixture(scope="module")
def face_run(smiles_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("face_run")
    data = mood_faces_folder(smiles_dir, tmp / "faces")
    cfg = training.TrainConfig(
        task="mood",
        engine="numpy",
        model="course",
        data=str(data),
        epochs=1,
        batch_size=8,
        out=str(tmp / "run"),
        val_fraction=0.25,
        test_fraction=0.25,
    )
    return training.train(cfg, progress=False), data


@pytest.mark.slow
def test_the_run_records_the_face_step(face_run):
    run, data = face_run
    config = json.loads((run.dir / "config.json").read_text())
    assert config["preprocess"] == "face"
    _, _, _, found = folder_arrays_found(data, (64, 64), False, preprocess="face")
    assert found.mean() > 0.8  # most of the faces are found (hard-edged pastes may not be)
    missing = int((~found).sum())
    assert f"faces cropped (none found in {missing} of 32)" in run.metrics["validated_on"]


def test_training_data_and_predict_prepare_an_image_the_same_way(face_run):
    run, data = face_run
    _, files = list_class_folders(data)
    paths = [p for cls in files for (p, _, _) in cls]
    x, _, _, found = folder_arrays_found(data, (64, 64), False, preprocess="face")
    for i in (0, 3, 17, 30):
        one, ok = decode_prepared(paths[i], (64, 64), False, "face")
        assert ok == found[i]
        np.testing.assert_array_equal(one, x[i])
    # predict = the model on that same array
    model = training.load_model(run.dir)
    probs = np.asarray(model.predict(x[[0, 17]] / np.float32(255), verbose=0)).reshape(-1)
    got = training.predict_images(run.dir, [paths[0], paths[17]])
    labels, p = get_task("mood").labels(probs)
    assert [name for name, _ in got] == [run.class_names[k] for k in labels]
    np.testing.assert_allclose([q for _, q in got], p, rtol=1e-5)
    # read_images (used by explain and the notebooks) too
    np.testing.assert_array_equal(
        training.read_images(run, [paths[3]])[0], x[3].astype(np.float32) / np.float32(255)
    )


@pytest.mark.slow
def test_evaluate_and_show_use_the_face_step(face_run, tmp_path):
    run, data = face_run
    again = training.evaluate_run(run.dir)
    assert again["test"]["accuracy"] == pytest.approx(run.metrics["test"]["accuracy"])
    assert again["test"]["loss"] == pytest.approx(run.metrics["test"]["loss"], rel=1e-5)
    image = next((data / "smiling").glob("f*.png"))
    out = interpret.show(run.dir, image, tmp_path / "show.png")
    assert out.is_file() and out.stat().st_size > 0


@pytest.mark.slow
def test_images_without_a_face_are_counted_and_reported(tmp_path):
    data = _blank_folder(tmp_path / "blank")
    lines: list[str] = []
    run = training.train(
        training.TrainConfig(
            task="mood",
            engine="numpy",
            model="course",
            data=str(data),
            epochs=1,
            batch_size=4,
            out=str(tmp_path / "run"),
            val_fraction=0.25,
            test_fraction=0.25,
        ),
        progress=False,
        log=lines.append,
    )
    assert any(line.startswith("no face found in 12 of 12 images") for line in lines), lines
    assert "none found in 12 of 12" in run.metrics["validated_on"]
    notes: list[str] = []
    image = next((data / "smiling").iterdir())
    training.predict_images(run.dir, [image], note=notes.append)
    assert notes == [f"no face found in 1 image ({image}); used a centre crop"]
    # What a user of the command line sees: the prediction on stdout, the note on stderr.
    result = run_cnnlab("predict", run.dir, image)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith(f"{image}\t")
    assert result.stderr.strip() == f"note: no face found in 1 image ({image}); used a centre crop"


def test_the_preprocess_option_is_a_choice(tmp_path):
    result = run_cnnlab("train", "--preprocess", "faces", "--out", tmp_path / "run")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert "'faces' is not one of 'none', 'face'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_epoch_images_are_drawn_from_seed_and_epoch_alone():
    from cnnlab.data.augment import spec_for
    from cnnlab.training.feed import augmentation, epoch_images

    x = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    spec = spec_for("signs")
    a, b = epoch_images(x, spec, 3, 1), epoch_images(x, spec, 3, 1)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert not np.array_equal(a, epoch_images(x, spec, 3, 2))  # another epoch, other draws
    assert not np.array_equal(a, epoch_images(x, spec, 4, 1))  # another seed, other draws
    cfg = training.TrainConfig(model="recommended")
    assert augmentation(cfg, (32, 32, 3)) == spec
    assert augmentation(cfg, (16, 16, 3)) is None  # too small to augment
    assert augmentation(training.TrainConfig(model="course"), (64, 64, 3)) is None
    assert (
        augmentation(training.TrainConfig(model="recommended", augment=False), (64, 64, 3)) is None
    )


def test_evaluate_shifted_reproduces_the_runs_own_shifted_metrics(tmp_path):
    # The end of training reuses the loaded split when the run has no preprocessing;
    # evaluate_shifted loads everything again: both must give the same figures.
    run = training.train(
        training.TrainConfig(
            engine="numpy", data="synthetic", image_size=(32, 32), epochs=1, out=str(tmp_path / "r")
        ),
        progress=False,
    )
    shifted = run.metrics["shifted"]
    assert set(shifted) >= {"rotate", "zoom_out", "recolor", "lowres", "mean", "ratio", "n"}
    assert "frame" not in shifted  # a face framing is for faces
    again = training.evaluate_shifted(run.dir)
    assert again.pop("in_domain") == pytest.approx(run.metrics["test"]["accuracy"])
    assert again == pytest.approx(shifted)
    # The summary by its definition: the mean over exactly the task's shifts, its ratio to
    # the in-domain accuracy, and one shift recomputed independently of shifted_metrics.
    kinds = ("rotate", "zoom_out", "recolor", "lowres")
    assert shifted["mean"] == pytest.approx(np.mean([shifted[k] for k in kinds]))
    assert shifted["ratio"] == pytest.approx(shifted["mean"] / run.metrics["test"]["accuracy"])
    ds = training.load_data(run.config)
    x = shift_images(ds.x_test, "recolor", seed=run.config.seed)  # from the unshifted split
    probs = training.load_model(run.dir).predict(scale_pixels(x))
    labels, _ = get_task("signs").labels(probs)
    assert shifted["recolor"] == pytest.approx(float(np.mean(labels == ds.y_test)))
