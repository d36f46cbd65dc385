"""A ``.keras`` file whose config asks for a huge layer is refused before Keras builds it.

Keras builds the model from ``config.json`` (allocating every weight) before it reads a
weight, so the parameter limit (``cnnlab.nn.saving.MAX_PARAMS``) is checked from the
config first. A real Keras run is made once; each case rewrites its ``model.keras`` with a
hand-edited config and runs every command that loads a run's model, under a 3 GB
address-space limit: one line naming the file and the layer, fast, the run unchanged.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from .conftest import (
    assert_unchanged,
    assert_user_error,
    digits_run,
    run_cnnlab,
    snapshot,
    temporaries,
)

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

ADDRESS_SPACE_KB = 3_000_000  # a Dense of 300,000,000 units needs 19 GB


@pytest.fixture(scope="module")
def keras_run(tmp_path_factory) -> tuple[Path, Path]:
    return digits_run(tmp_path_factory.mktemp("keras-files"), "keras")


def _rewrite(path: Path, edit) -> None:
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def _huge_dense(config) -> None:
    dense = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"]
    dense[-1]["config"]["units"] = 300_000_000


def _huge_conv_without_build_config(config) -> None:
    conv = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D"]
    conv[0]["config"]["filters"] = 300_000_000
    conv[0].pop("build_config", None)


@pytest.mark.parametrize(
    ("edit", "layer"),
    [(_huge_dense, "(Dense)"), (_huge_conv_without_build_config, "(Conv2D)")],
)
def test_a_huge_layer_in_a_keras_config_is_refused_before_it_is_built(
    keras_run, edit, layer, tmp_path
):
    source, image = keras_run
    run = tmp_path / "run"
    shutil.copytree(source, run)
    model = run / "model.keras"
    _rewrite(model, edit)
    before = snapshot(tmp_path)
    for args in (
        ("predict", run, image),
        ("evaluate", run),
        ("show", run, image, "--out", tmp_path / "show.png"),
        ("export", run, "--format", "keras", "--out", tmp_path / "exported.keras"),
        ("explain", "model", run),
    ):
        result = run_cnnlab(*args, cwd=tmp_path, timeout=300, memory_kb=ADDRESS_SPACE_KB)
        assert_user_error(result, str(model), layer, "cnnlab.nn.saving.MAX_PARAMS", max_lines=1)
        assert result.seconds < 30, f"{args[0]}: {result.seconds:.1f} s"
        assert_unchanged(tmp_path, before)
        assert temporaries(tmp_path) == []
