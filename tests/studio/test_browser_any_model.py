"""The studio on models cnnlab did not train, through the real entry points: ``cnnlab studio
--model FILE.keras --data DIR`` in Chromium (the model in the explorer and the runs view, an
upload's probabilities against the model's own Keras ``predict``, a layer the NumPy engine
lacks), the one-line errors of a missing or foreign file, and ``cnnlab.studio.show()`` in a
Python subprocess (the way a notebook calls it)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (uv sync installs the dev dependencies)"
)
from _browser import (  # noqa: E402
    CNNLAB,
    Studio,  # noqa: E402
    by_testid,
    open_view,
    screenshot,
    upload_image,
    wait_for,
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("console_is_clean")]

CLASSES = ["dots", "stripes", "waves"]
SIZE = 32
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def _pictures(root: Path, per_class: int = 4) -> Path:
    """Three classes of 40x40 pictures: dots, horizontal stripes, diagonal waves."""
    yy, xx = np.mgrid[0:40, 0:40]
    for k, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            if k == 0:
                gray = ((xx + i) % 8 < 3) & ((yy + 2 * i) % 8 < 3)
            elif k == 1:
                gray = (yy + i) % (6 + i) < 3
            else:
                gray = np.sin((xx + yy) / (2.0 + i)) > 0
            rgb = np.stack([gray * 230, gray * (120 + 30 * i), 255 - gray * 200], axis=-1)
            Image.fromarray(rgb.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def _keras_models(folder: Path) -> tuple[Path, Path]:
    """``residual.keras`` (Conv2D, BatchNormalization, an Add branch: the NumPy engine runs it)
    and ``sequence.keras`` (a Reshape to a sequence: Keras runs it, with a note)."""
    import keras

    keras.utils.set_random_seed(4)
    inp = keras.Input((SIZE, SIZE, 3), name="image")
    stem = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    branch = keras.layers.Conv2D(8, 3, padding="same", name="branch")(stem)
    branch = keras.layers.BatchNormalization(name="norm")(branch)
    added = keras.layers.Add(name="add")([stem, branch])
    pooled = keras.layers.MaxPooling2D(name="pool")(keras.layers.ReLU(name="relu")(added))
    conv = keras.layers.Conv2D(12, 3, activation="relu", name="conv")(pooled)
    gap = keras.layers.GlobalAveragePooling2D(name="gap")(conv)
    out = keras.layers.Dense(3, activation="softmax", name="classes")(gap)
    residual = folder / "residual.keras"
    keras.Model(inp, out, name="residual").save(residual)

    seq_in = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 4, strides=4, name="patches")(seq_in)
    x = keras.layers.Reshape((64, 4), name="as_sequence")(x)
    x = keras.layers.GlobalAveragePooling1D(name="mean")(x)
    seq_out = keras.layers.Dense(3, activation="softmax", name="classes")(x)
    sequence = folder / "sequence.keras"
    keras.Model(seq_in, seq_out, name="sequence").save(sequence)
    return residual, sequence


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("any-model")
    residual, sequence = _keras_models(root)
    return {"residual": residual, "sequence": sequence, "data": _pictures(root / "pictures")}


@pytest.fixture(scope="module")
def model_studio(files, tmp_path_factory) -> Studio:
    runs = tmp_path_factory.mktemp("no-runs")
    server = Studio(
        runs,
        "--model",
        str(files["residual"]),
        "--model",
        str(files["sequence"]),
        "--data",
        str(files["data"]),
    )
    yield server
    server.stop()


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)


def test_a_keras_file_in_the_explorer_gets_its_own_predicts_probabilities(
    driver, model_studio, files, tmp_path, shots
):
    import keras

    from cnnlab.data.prepare import decode_prepared, scale_pixels

    # the note says which file Keras runs, in one line; nothing for the one NumPy runs
    notes = [line for line in model_studio.lines if line.startswith("note:")]
    assert len(notes) == 1 and "sequence.keras" in notes[0] and "Keras" in notes[0], notes

    open_view(driver, model_studio.url, "explorer")
    select = Select(by_testid(driver, "explore-run"))
    assert [o.get_attribute("value") for o in select.options] == [
        "residual.keras",
        "sequence.keras",
    ]
    info = driver.find_element(By.ID, "explore-run-info").text
    assert "numpy engine" in info and "model file" in info and f"{SIZE}×{SIZE}×3" in info
    samples = wait_for(lambda: by_testid(driver, "explore-sample", many=True), "the samples")
    assert sorted(s.text for s in samples) == sorted(CLASSES * 4)  # --data's images
    wait_for(
        lambda: by_testid(driver, "explore-result").get_attribute("data-ready") == "true",
        "the first sample explored",
    )
    layers = by_testid(driver, "layer", many=True)
    kinds = [la.get_attribute("data-type") for la in layers]
    assert kinds[:4] == ["Conv2D", "Conv2D", "BatchNormalization", "Add"]
    add = layers[3]
    assert len(add.find_elements(By.CSS_SELECTOR, '[data-testid="feature-map"]')) == 8

    upload = tmp_path / "waves.png"
    picture = np.asarray(Image.open(files["data"] / "waves" / "2.png"))
    Image.fromarray(picture[::-1]).save(upload)  # flipped: an image the model has not seen
    upload_image(driver, upload, timeout=120)
    rows = by_testid(driver, "prob-row", many=True)
    shown = {r.get_attribute("data-class"): float(r.get_attribute("data-p")) for r in rows}
    model = keras.models.load_model(files["residual"])
    x, _ = decode_prepared(upload, (SIZE, SIZE), False)
    probs = np.asarray(model.predict(scale_pixels(x[None]), verbose=0))[0]
    assert shown == pytest.approx(dict(zip(CLASSES, probs.tolist(), strict=True)), abs=1e-4)
    assert (
        by_testid(driver, "explore-predicted").get_attribute("data-class")
        == CLASSES[int(probs.argmax())]
    )
    screenshot(driver, shots, "any-model")

    # the model Keras runs: its sequence layer is said in one line in its column
    select.select_by_value("sequence.keras")
    wait_for(
        lambda: "keras engine" in driver.find_element(By.ID, "explore-run-info").text,
        "the second model",
    )
    note = wait_for(lambda: by_testid(driver, "layer-note"), "the sequence layer's note", 120)
    column = note.find_element(By.XPATH, "./ancestor::*[@data-testid='layer']")
    assert column.get_attribute("data-name") == "as_sequence"
    assert note.text == "a 64 × 4 output: not drawn as maps"


def test_a_model_file_in_the_runs_view_has_no_history_but_its_data_confusion(driver, model_studio):
    open_view(driver, model_studio.url, "runs")
    items = wait_for(lambda: by_testid(driver, "run-item", many=True), "the list")
    assert [i.get_attribute("data-name") for i in items] == ["residual.keras", "sequence.keras"]
    assert "model file" in items[0].text
    summary = wait_for(lambda: by_testid(driver, "run-summary"), "the summary")
    wait_for(lambda: "no training history" in summary.text, "the model file's summary")
    wait_for(lambda: by_testid(driver, "no-history"), "the hint in place of the curves")
    assert not by_testid(driver, "curve-loss", many=True)
    assert not by_testid(driver, "stat-epochs", many=True)  # no epochs to count
    cells = wait_for(lambda: by_testid(driver, "confusion-cell", many=True), "the confusion")
    assert sum(int(c.get_attribute("data-count")) for c in cells) == 12  # --data's images
    note = driver.find_element(By.ID, "confusion-note").text
    assert note.startswith("— the model file, on the images of --data, accuracy"), note
    wait_for(lambda: by_testid(driver, "top-loss", many=True), "the top losses")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("missing.keras", None, "no such model file"),
        ("not-a-model.txt", "hello", "not a model file"),
        ("broken.keras", "PK not really a zip", "broken.keras"),
    ],
)
def test_a_file_the_studio_cannot_open_exits_2_in_one_line(tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    done = subprocess.run(
        [str(CNNLAB), "studio", "--no-open", "--port", "0", "--model", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"error: {path}: ") and words in lines[0], lines


SHOW_SCRIPT = """
import json, sys
import numpy as np
import keras
from cnnlab.studio import show

keras.utils.set_random_seed(1)
model = keras.Sequential(
    [
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(3, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(2, activation="softmax"),
    ],
    name="notebook_model",
)
images = np.random.default_rng(0).integers(0, 256, (4, 12, 12, 3), dtype=np.uint8)
handle = show(model, images, ["no", "yes"])
probs = model.predict(images.astype("float32") / 255, verbose=0)
print(json.dumps({"url": handle.url, "temp": str(handle._temp), "probs": probs.tolist()}))
sys.stdout.flush()
sys.stdin.readline()  # the test says when
handle.stop()
print("stopped", flush=True)
"""


def test_show_in_a_python_process_serves_a_live_keras_model_and_stop_frees_it(driver, tmp_path):
    script = tmp_path / "notebook.py"
    script.write_text(textwrap.dedent(SHOW_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        said = [proc.stdout.readline() for _ in range(2)]
        assert said[0].startswith("cnnlab studio: http://127.0.0.1:"), said + [proc.stderr.read()]
        shown = json.loads(said[1])
        url = shown["url"]
        info = _get(url + "api/info")
        assert info["models"] == ["notebook_model.keras"] and info["n_runs"] == 0
        got = _post(url + "api/runs/notebook_model.keras/explore", {"sample": 3})
        assert [p["class"] for p in got["probabilities"]] == ["no", "yes"]
        np.testing.assert_allclose(
            [p["p"] for p in got["probabilities"]], shown["probs"][3], atol=1e-5
        )
        assert Path(shown["temp"], "notebook_model.keras").is_file()
        # in the page: the images given as samples; no labels, so nothing to measure them on
        open_view(driver, url, "explorer")
        samples = wait_for(lambda: by_testid(driver, "explore-sample", many=True), "samples")
        assert len(samples) == 4
        open_view(driver, url, "runs")
        hints = wait_for(lambda: by_testid(driver, "no-labels", many=True), "the no-labels hint")
        assert len(hints) == 2 and "--data" in hints[0].text
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "stopped"
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        assert not Path(shown["temp"]).exists()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_a_legacy_h5_file_is_explored_by_the_numpy_engine(files, tmp_path):
    import keras
    from starlette.testclient import TestClient

    from cnnlab.data.prepare import decode_prepared, scale_pixels
    from cnnlab.studio import ModelFile, create_app

    model = keras.models.load_model(files["residual"])
    path = tmp_path / "legacy.h5"
    model.save(path)  # Keras 2's HDF5 format
    source = ModelFile(path, classes=CLASSES)
    assert source.config.engine == "numpy"
    client = TestClient(create_app(tmp_path / "runs", models=[source]), base_url="http://127.0.0.1")
    picture = files["data"] / "dots" / "1.png"
    answer = client.post("/api/runs/legacy.h5/upload", content=picture.read_bytes())
    assert answer.status_code == 200, answer.text
    x, _ = decode_prepared(picture, (SIZE, SIZE), False)
    probs = np.asarray(model.predict(scale_pixels(x[None]), verbose=0))[0]
    got = [p["p"] for p in answer.json()["probabilities"]]
    np.testing.assert_allclose(got, probs, atol=1e-5)
