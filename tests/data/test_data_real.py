"""The real datasets in ../shared/data load with the right counts per class."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlab.data import fetch, load_dataset, verify_fetched

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

SIGNS_COUNTS = [205, 206, 206, 206, 207, 207, 207, 206, 208, 204]


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNLAB_HOME", str(tmp_path / "home"))


def test_signs_folder_loads_all_2062_images(signs_dir, own_cache):
    ds = load_dataset(signs_dir, image_size=(32, 32), seed=0)
    assert len(ds) == 2062
    assert ds.class_names == [str(d) for d in range(10)]
    counts = ds.class_counts()
    totals = [sum(counts[s][c] for s in counts) for c in ds.class_names]
    assert totals == SIGNS_COUNTS
    assert ds.image_shape == (32, 32, 3)
    # real photographs: colorful, not gray, not constant
    assert ds.x_train.std() > 20
    assert np.abs(ds.x_train[..., 0].astype(int) - ds.x_train[..., 2]).mean() > 5


def test_fetch_signs_from_the_shared_folder(signs_dir, own_cache):
    folder = fetch("signs", from_path=signs_dir)
    manifest = verify_fetched("signs")
    assert manifest["n_images"] == 2062
    assert list(manifest["counts"].values()) == SIGNS_COUNTS
    assert (folder / "LICENSE").is_file()  # the license travels with the images


def test_smiles_folder_loads_all_13165_images(smiles_dir, own_cache):
    ds = load_dataset(smiles_dir, image_size=(64, 64), grayscale=True, seed=0)
    assert len(ds) == 13165
    assert ds.class_names == ["not_smiling", "smiling"]
    counts = ds.class_counts()
    assert sum(counts[s]["smiling"] for s in counts) == 3690
    assert sum(counts[s]["not_smiling"] for s in counts) == 9475
    assert counts["test"] == {"not_smiling": 1421, "smiling": 554}  # stratified 15 %
    assert ds.image_shape == (64, 64, 1)
    w = ds.class_weights()
    assert w[1] > 1.7 and w[0] < 0.7  # 28 % smiling: the rare class weighs more
    again = load_dataset(smiles_dir, image_size=(64, 64), grayscale=True, seed=0)  # cached
    np.testing.assert_array_equal(again.x_test, ds.x_test)
