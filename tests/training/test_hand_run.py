"""The hand step in runs: the signs default for photos (not for the built-in digits), one
clear error where no hand can be, and the same pictures and probabilities from the library
and from every command of the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab import training
from cnnlab.data.images import folder_arrays_found, list_class_folders
from cnnlab.errors import ArgumentError
from cnnlab.tasks import get_task
from reliability.conftest import run_cnnlab

pytestmark = pytest.mark.slow


def test_signs_photos_default_to_the_hand_step_and_the_builtin_sets_to_none(tmp_path):
    assert get_task("signs").default_preprocess == "hand"
    assert training.TrainConfig(task="signs").resolved().preprocess == "none"  # digits
    assert training.TrainConfig(data="synthetic").resolved().preprocess == "none"
    folder = training.TrainConfig(task="signs", data=str(tmp_path)).resolved()
    assert folder.preprocess == "hand" and folder.image_size == (64, 64)
    assert training.TrainConfig(data=str(tmp_path), preprocess="none").resolved().preprocess == (
        "none"
    )
    # a recorded run keeps its step
    again = training.TrainConfig.from_json(folder.to_json()).resolved()
    assert again.preprocess == "hand"


def test_the_hand_step_on_tiny_images_is_one_clear_error(tmp_path):
    with pytest.raises(ArgumentError, match=r"preprocess 'hand' needs images of at least 32x32"):
        training.TrainConfig(task="signs", preprocess="hand").resolved()
    with pytest.raises(ArgumentError, match=r"16x16 images have none to find"):
        training.TrainConfig(data=str(tmp_path), image_size=(16, 16), preprocess="hand").resolved()
    result = run_cnnlab("train", "--preprocess", "hand", "--out", tmp_path / "run")
    assert result.code == 2 and "Traceback" not in result.stderr
    assert result.err_lines == [result.err_lines[0]]
    assert result.err_lines[0].startswith("error: preprocess 'hand' needs images of at least")
    assert "built-in 8x8 digits" in result.err_lines[0]
    assert not (tmp_path / "run").exists()


def _hands_folder(signs_dir: Path, root: Path, per_class: int = 6) -> Path:
    """Signs 0, 1 and 5: ``per_class`` real photos each (64x64 PNG), and one blank image."""
    for k in ("0", "1", "5"):
        (root / k).mkdir(parents=True)
        for src in sorted((signs_dir / k).iterdir())[:per_class]:
            image = Image.open(src).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
            image.save(root / k / f"{src.stem}.png")
    Image.new("RGB", (64, 64), (120, 110, 100)).save(root / "5" / "blank.png")
    return root


@pytest.fixture(scope="module")
def hand_run(signs_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hand_run")
    data = _hands_folder(signs_dir, tmp / "hands")
    lines: list[str] = []
    cfg = training.TrainConfig(
        task="signs",
        engine="numpy",
        model="course",
        data=str(data),
        image_size=(32, 32),
        epochs=2,
        batch_size=8,
        out=str(tmp / "run"),
        val_fraction=0.2,
        test_fraction=0.2,
    )
    return training.train(cfg, progress=False, log=lines.append), data, lines


def test_the_run_records_the_hand_step_and_counts_the_image_without_a_hand(hand_run):
    run, data, lines = hand_run
    assert json.loads((run.dir / "config.json").read_text())["preprocess"] == "hand"
    assert any(
        line.startswith("no hand found in 1 of 19 images (e.g. 5/blank.png)") for line in lines
    ), lines
    assert "hands drawn (none found in 1 of 19)" in run.metrics["validated_on"]
    x, _, _, found = folder_arrays_found(data, (32, 32), False, preprocess="hand")
    assert x.shape == (19, 32, 32, 3) and found.sum() == 18


def test_every_command_applies_the_step_as_the_library_does(hand_run, tmp_path):
    run, data, _ = hand_run
    _, files = list_class_folders(data)
    paths = [p for cls in files for (p, _, _) in cls]
    x, _, _, found = folder_arrays_found(data, (32, 32), False, preprocess="hand")
    model = training.load_model(run.dir)
    picks = [0, 7, len(paths) - 1]
    probs = np.asarray(model.predict(x[picks] / np.float32(255), verbose=0))
    labels, p = get_task("signs").labels(probs)
    want = [run.class_names[k] for k in labels]
    got = training.predict_images(run.dir, [paths[i] for i in picks], note=lambda _: None)
    assert [name for name, _ in got] == want

    # cnnlab predict: the same classes and probabilities; the blank image noted on stderr
    result = run_cnnlab("predict", run.dir, *[paths[i] for i in picks])
    assert result.code == 0, result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[1] for row in rows] == want
    np.testing.assert_allclose([float(row[2]) for row in rows], p, atol=6e-5)
    blank = paths[picks[-1]]
    assert not found[picks[-1]] and Path(blank).name == "blank.png"
    assert (
        result.stderr.strip() == f"note: no hand found in 1 image ({blank}); used a blank picture"
    )

    # cnnlab evaluate --data: the whole folder through the step, as the library evaluates it
    result = run_cnnlab("evaluate", run.dir, "--data", data, "--json")
    assert result.code == 0, result.stderr
    got = json.loads(result.stdout)
    mine = training.evaluate_run(run.dir, data, progress=False)
    assert got["preprocess"] == "hand" and got["no_face"] == 1 == mine["no_face"]
    assert got["test"]["accuracy"] == pytest.approx(mine["test"]["accuracy"])
    assert got["test"]["loss"] == pytest.approx(mine["test"]["loss"], rel=1e-5)

    # cnnlab show: the feature maps of the step's picture
    out = tmp_path / "show.png"
    result = run_cnnlab("show", run.dir, paths[0], "--out", out)
    assert result.code == 0, result.stderr
    assert out.is_file() and out.stat().st_size > 0


def test_the_hand_steps_pictures_get_their_own_augmentation():
    from cnnlab.data.augment import spec_for
    from cnnlab.training.feed import augmentation

    hand = augmentation(training.TrainConfig(preprocess="hand"), (64, 64, 3))
    assert hand == spec_for("hand") and not hand.flip and hand.fill == "constant"
    assert augmentation(training.TrainConfig(preprocess="none"), (64, 64, 3)) == spec_for("signs")
