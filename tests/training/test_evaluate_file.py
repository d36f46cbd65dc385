"""``evaluate_run(run, data)`` / ``cnnlab evaluate RUN --data SRC``: the whole of a test-only
file or folder is the test set, its classes matched to the run's by name (a subset restricts the
predictions to them; ``--class-map`` renames). Tiny runs on the synthetic stripes at 12x12."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

pytest.importorskip("keras")

from _helpers import SIZE, write_class_folders  # noqa: E402
from _helpers import train_config as _config  # noqa: E402
from cnnlab import training  # noqa: E402
from cnnlab.cli import app  # noqa: E402
from cnnlab.cli._common import run_cli  # noqa: E402
from cnnlab.data import make_synthetic_arrays  # noqa: E402
from cnnlab.data.prepare import scale_pixels  # noqa: E402
from cnnlab.errors import ArgumentError, RunError  # noqa: E402
from cnnlab.tasks import get_task  # noqa: E402
from reliability.conftest import assert_user_error, run_cnnlab  # noqa: E402

RUN_CLASSES = ["class_0", "class_1", "class_2"]


def _images(n_per_class: int, n_classes: int = 3, seed: int = 7):
    """New stripes at the run's size (not the run's own images), in class order."""
    return make_synthetic_arrays(n_per_class, SIZE, n_classes, seed=seed)[:2]


def _write_h5(path, split: str, x, y, classes) -> None:
    """One file of the course's layout (``test_set_x``, ``test_set_y``, ``list_classes``)."""
    with h5py.File(path, "w") as f:
        f["list_classes"] = np.array(classes)
        f[f"{split}_set_x"] = x
        f[f"{split}_set_y"] = y


def _by_hand(run_dir, x, y_run, columns):
    """Loss and accuracy from the model's probabilities restricted to ``columns``."""
    run = training.load_run(run_dir)
    probs = np.asarray(training.load_model(run).predict(scale_pixels(x)), dtype=np.float64)
    q = probs[:, columns] / probs[:, columns].sum(axis=1, keepdims=True)
    predicted = np.asarray(columns)[q.argmax(axis=1)]
    p_true = q[np.arange(len(y_run)), [list(columns).index(k) for k in y_run]]
    return float(-np.log(np.clip(p_true, 1e-7, 1 - 1e-7)).mean()), float(
        (predicted == y_run).mean()
    )


@pytest.fixture(scope="module", params=["numpy", "keras"])
def any_run(request, tmp_path_factory):
    return training.train(_config(tmp_path_factory.mktemp(request.param) / "run", request.param))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A 3-class NumPy-engine run (classes class_0, class_1, class_2)."""
    return training.train(_config(tmp_path_factory.mktemp("signs") / "run", "numpy"))


@pytest.fixture(scope="module")
def mood_run(tmp_path_factory):
    """A binary run (one sigmoid output) on folders not_smiling/ and smiling/."""
    root = tmp_path_factory.mktemp("mood")
    x, y = _images(16, n_classes=2, seed=1)
    data = write_class_folders(root / "faces", ["not_smiling", "smiling"], images=(x, y))
    return training.train(
        _config(
            root / "run", "numpy", task="mood", data=str(data), epochs=1, seed=0, preprocess="none"
        )
    )


@pytest.mark.slow
def test_unrestricted_metrics_agree_with_the_engines_evaluate(any_run, tmp_path):
    x, y = _images(8)
    test = tmp_path / "test_stripes.h5"
    _write_h5(test, "test", x, y, [c.encode() for c in RUN_CLASSES])
    got = training.evaluate_run(any_run.dir, test)
    assert got["train"] is None and got["validation"] is None
    assert got["data"] == str(test) and got["classes"] == RUN_CLASSES
    assert got["restricted"] is False and got["test"]["n"] == len(y) == 24
    eng = training.get_engine(any_run.config.engine)
    want = eng.evaluate(
        training.load_model(any_run.dir, any_run.config.engine),
        scale_pixels(x),
        get_task("signs").targets(y),
        any_run.config.batch_size,
    )
    assert got["test"]["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert got["test"]["accuracy"] == pytest.approx(want["accuracy"])
    # The other engine runs the converted model to the same metrics.
    other = "numpy" if any_run.config.engine == "keras" else "keras"
    cross = training.evaluate_run(any_run.dir, test, engine=other)
    assert cross["test"]["loss"] == pytest.approx(got["test"]["loss"], rel=1e-4)
    assert cross["test"]["accuracy"] == pytest.approx(got["test"]["accuracy"])


def test_a_test_only_file_and_a_pair_are_evaluated_whole(run, tmp_path):
    x, y = _images(9)
    test = tmp_path / "test_stripes.h5"
    _write_h5(test, "test", x, y, [c.encode() for c in RUN_CLASSES])
    got = training.evaluate_run(run.dir, test)
    assert got["test"]["n"] == 27  # all of it, not the run's 15% test share
    loss, acc = _by_hand(run.dir, x, y, [0, 1, 2])
    assert got["test"]["loss"] == pytest.approx(loss, rel=1e-6)
    assert got["test"]["accuracy"] == pytest.approx(acc)
    # A course pair: a file named on its own is that file alone (not the one beside it);
    # the folder holding both is both.
    xt, yt = _images(5, seed=8)
    _write_h5(tmp_path / "train_stripes.h5", "train", xt, yt, [c.encode() for c in RUN_CLASSES])
    alone = training.evaluate_run(run.dir, test)
    assert alone["test"]["n"] == 27 and alone["test"]["accuracy"] == got["test"]["accuracy"]
    assert alone["test"]["loss"] == pytest.approx(got["test"]["loss"], rel=1e-6)
    assert training.evaluate_run(run.dir, tmp_path / "train_stripes.h5")["test"]["n"] == 15
    assert training.evaluate_run(run.dir, tmp_path)["test"]["n"] == 27 + 15


def test_a_subset_of_classes_is_matched_by_name_and_restricted(run, tmp_path):
    x, y = _images(10)
    keep = y > 0  # only class_1 and class_2: the folder's own indices are 0 and 1
    folder = write_class_folders(tmp_path / "two", RUN_CLASSES, images=(x[keep], y[keep]))
    assert sorted(p.name for p in folder.iterdir()) == ["class_1", "class_2"]
    got = training.evaluate_run(run.dir, folder)
    assert got["restricted"] is True and got["classes"] == ["class_1", "class_2"]
    assert got["test"]["n"] == 20
    loss, acc = _by_hand(run.dir, x[keep], y[keep], [1, 2])
    assert got["test"]["accuracy"] == pytest.approx(acc)
    assert got["test"]["loss"] == pytest.approx(loss, rel=1e-6)

    # Renamed classes with class_map give the same result.
    renamed = write_class_folders(
        tmp_path / "renamed", ["-", "one", "two"], images=(x[keep], y[keep])
    )
    mapped = training.evaluate_run(run.dir, renamed, class_map={"one": "class_1", "two": "class_2"})
    assert mapped["test"] == got["test"] and mapped["classes"] == got["classes"]


def test_classes_that_do_not_match_are_one_error_listing_both(run, tmp_path):
    x, y = _images(4)
    folder = write_class_folders(tmp_path / "odd", ["class_0", "class_1", "happy"], images=(x, y))
    with pytest.raises(RunError) as info:
        training.evaluate_run(run.dir, folder)
    message = str(info.value)
    assert message == (
        f"{folder}: class 'happy' matches none of the run's classes (class_0, class_1, "
        "class_2); the data's classes: class_0, class_1, happy; map them with --class-map "
        "happy=class_2"
    )
    assert training.evaluate_run(run.dir, folder, class_map={"happy": "class_2"})["test"]["n"] == 12
    # The hint is a whole --class-map (it replaces the one given), or the syntax when the
    # classes cannot be paired in order.
    with pytest.raises(RunError, match=r"class 'x' matches none .* --class-map happy=class_2$"):
        training.evaluate_run(run.dir, folder, class_map={"class_0": "x", "happy": "class_2"})
    with pytest.raises(
        RunError, match=r"class 'happy' matches none .* --class-map DATA=RUN,\.\.\.$"
    ):
        training.evaluate_run(run.dir, folder, class_map={"class_0": "class_1"})
    with pytest.raises(ArgumentError, match=r"class_map names 'sad', not a class of .*odd"):
        training.evaluate_run(run.dir, folder, class_map={"sad": "class_2"})
    with pytest.raises(
        RunError, match="'class_1' and 'happy' both match the run's class 'class_1'"
    ):
        training.evaluate_run(run.dir, folder, class_map={"happy": "class_1"})
    with pytest.raises(ArgumentError, match="give data with it"):
        training.evaluate_run(run.dir, class_map={"a": "b"})


def test_a_mood_run_on_the_course_layout_with_a_class_map(mood_run, tmp_path):
    x, y = _images(6, n_classes=2, seed=5)
    test = tmp_path / "test_happy.h5"
    _write_h5(test, "test", x, y, [0, 1])  # the course's happy files: classes 0 and 1
    with pytest.raises(RunError) as info:
        training.evaluate_run(mood_run.dir, test)
    assert str(info.value) == (
        f"{test}: classes '0', '1' match none of the run's classes (not_smiling, smiling); "
        "the data's classes: 0, 1; map them with --class-map 0=not_smiling,1=smiling"
    )
    got = training.evaluate_run(mood_run.dir, test, class_map={"0": "not_smiling", "1": "smiling"})
    assert got["restricted"] is False and got["test"]["n"] == 12
    want = training.get_engine("numpy").evaluate(
        training.load_model(mood_run.dir), scale_pixels(x), get_task("mood").targets(y), 16
    )
    assert got["test"]["loss"] == pytest.approx(want["loss"], rel=1e-5)
    assert got["test"]["accuracy"] == pytest.approx(want["accuracy"])
    # Both classes are needed: one output unit cannot be restricted.
    one = tmp_path / "test_one.h5"
    _write_h5(one, "test", x[y == 1], y[y == 1] * 0, [b"smiling"])
    with pytest.raises(RunError, match="a mood run .* both of its classes .* no not_smiling"):
        training.evaluate_run(mood_run.dir, one)


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = run_cli(app, [str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_whole_file_and_the_restriction(run, tmp_path, capsys):
    x, y = _images(5)
    keep = y < 2
    folder = write_class_folders(tmp_path / "pair", RUN_CLASSES, images=(x[keep], y[keep]))
    code, out, err = _cli(capsys, "evaluate", run.dir, "--data", folder)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == f"evaluated on all 10 images of {folder}"
    assert lines[1] == (
        "evaluated on 2 of the run's 3 classes: class_0, class_1 (predictions restricted to them)"
    )
    assert [line.split()[0] for line in lines[2:]] == ["split", "test"]
    assert lines[3].split()[1] == "10"
    # A course pair: the test file named alone is that file; the folder is both, and the
    # line says so.
    course = tmp_path / "course"
    course.mkdir()
    for split, seed in (("train", 1), ("test", 2)):
        xs, ys = _images(2, seed=seed)
        _write_h5(course / f"{split}_s.h5", split, xs, ys, [c.encode() for c in RUN_CLASSES])
    code, out, err = _cli(capsys, "evaluate", run.dir, "--data", course / "test_s.h5")
    assert code == 0, err
    assert out.splitlines()[0] == f"evaluated on all 6 images of {course / 'test_s.h5'}"
    code, out, err = _cli(capsys, "evaluate", run.dir, "--data", course)
    assert code == 0, err
    assert out.splitlines()[0] == f"evaluated on all 12 images of {course} (train_s.h5 + test_s.h5)"
    # without --data: the run's own splits, as before
    code, out, err = _cli(capsys, "evaluate", run.dir, "--json")
    assert code == 0, err
    assert set(json.loads(out)) == {"train", "validation", "test"}


@pytest.mark.parametrize(
    "text", ["0", "=smiling", "0=", "0=a=b", "0=a,,1=b", "0=a,0=b", "0:not_smiling"]
)
def test_bad_class_map_is_one_error_line(run, tmp_path, capsys, text):
    code, out, err = _cli(capsys, "evaluate", run.dir, "--data", tmp_path, "--class-map", text)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --class-map must be DATA=RUN pairs")
    assert f"Received: --class-map {text!r}" in lines[0]


def test_class_map_without_data_is_a_usage_error(run, capsys):
    code, _, err = _cli(capsys, "evaluate", run.dir, "--class-map", "0=a")
    assert code == 2
    assert err.strip() == "error: --class-map renames the classes of --data; give --data with it"


@pytest.mark.slow
def test_the_real_command_prints_json_and_one_error_line(mood_run, tmp_path):
    x, y = _images(4, n_classes=2, seed=6)
    test = tmp_path / "test_happy.h5"
    _write_h5(test, "test", x, y, [0, 1])
    result = run_cnnlab(
        "evaluate", mood_run.dir, "--data", test, "--class-map", "0=not_smiling,1=smiling", "--json"
    )
    assert result.code == 0, result.stderr
    got = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert set(got) == {
        "train",
        "validation",
        "test",
        "data",
        "classes",
        "restricted",
        "preprocess",
        "no_face",
    }
    assert got["preprocess"] == "none" and got["no_face"] == 0
    assert got["train"] is None and got["validation"] is None and got["data"] == str(test)
    assert got["classes"] == ["not_smiling", "smiling"] and got["restricted"] is False
    assert got["test"]["n"] == 8 and set(got["test"]) == {"loss", "accuracy", "n"}
    here = training.evaluate_run(mood_run.dir, test, class_map={"0": "not_smiling", "1": "smiling"})
    assert got["test"] == pytest.approx(here["test"], rel=1e-6)

    result = run_cnnlab("evaluate", mood_run.dir, "--data", test)
    assert_user_error(result, "test_happy.h5", "--class-map 0=not_smiling,1=smiling", max_lines=1)
    assert result.stdout == ""


def test_restricted_metrics_of_probabilities_outside_the_classes():
    from cnnlab.training.inference import metrics_from_probabilities

    probs = np.array([[0.1, 0.6, 0.3], [0.0, 1.0, 0.0], [0.5, 0.1, 0.4]], dtype=np.float32)
    got = metrics_from_probabilities(probs, np.array([2, 0, 0]), np.array([0, 2]), "signs")
    # rows renormalized over classes 0 and 2: [0.25, 0.75], [0.5, 0.5] (nothing left), [5/9, 4/9]
    want_loss = -(np.log(0.75) + np.log(0.5) + np.log(5 / 9)) / 3
    assert got["loss"] == pytest.approx(want_loss, rel=1e-6)
    assert got["accuracy"] == pytest.approx(3 / 3)  # a tie goes to the first class, as argmax


def test_classes_of_a_folder_are_matched_before_its_images_are_read(run, tmp_path, monkeypatch):
    x, y = _images(4)
    folder = write_class_folders(tmp_path / "odd", ["class_0", "class_1", "happy"], images=(x, y))
    (folder / "happy" / "broken.png").write_bytes(b"not a PNG")  # read later, if at all

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the classes were matched")

    monkeypatch.setattr("cnnlab.training.inference.load_model", no_model)
    with pytest.raises(ArgumentError, match=r"class_map names 'sad', not a class of .*odd"):
        training.evaluate_run(run.dir, folder, class_map={"sad": "class_2"})
    with pytest.raises(RunError, match=r"class 'happy' matches none .* --class-map happy=class_2"):
        training.evaluate_run(run.dir, folder)
