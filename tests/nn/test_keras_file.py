"""The ``.keras`` size check counts what Keras would allocate, from the config alone."""

from __future__ import annotations

import json
import zipfile

import pytest

from cnnlab.errors import ModelFileError
from cnnlab.nn.keras_file import check_keras_file, layer_params, load_keras_model

keras = pytest.importorskip("keras")


def test_the_count_from_the_config_is_keras_own(tmp_path):
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            layers.Conv2D(8, 3, use_bias=False),
            layers.BatchNormalization(),
            layers.DepthwiseConv2D(3, depth_multiplier=2),
            layers.SeparableConv2D(6, 3),
            layers.Conv2D(4, 1, groups=2, padding="same"),
            layers.Flatten(),
            layers.Dense(7),
        ]
    )
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    counted = sum(layer_params(layer) for layer in config["config"]["layers"])
    assert counted == model.count_params()
    check_keras_file(path)
    assert load_keras_model(path).count_params() == model.count_params()


def test_a_huge_config_or_a_non_zip_is_refused_without_keras(tmp_path):
    path = tmp_path / "m.keras"
    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
                {"class_name": "Dense", "config": {"name": "d", "units": 300_000_000}},
            ]
        },
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("config.json", json.dumps(config))
    with pytest.raises(ModelFileError, match=r"layer 'd' \(Dense\) in config.json .*MAX_PARAMS"):
        check_keras_file(path)
    path.write_text("not a zip")
    with pytest.raises(ModelFileError, match="not a Keras model archive"):
        check_keras_file(path)
