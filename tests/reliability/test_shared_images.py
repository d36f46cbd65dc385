"""One image in two classes (a link to a sibling class folder, a copied folder): one line.

Such an image has two labels and leaks between training and test. ``data info``,
``train`` and ``train --stream`` refuse it, naming the two classes and one pair of files;
copies within one class, and a stray few across classes in a large set, are kept.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import assert_unchanged, assert_user_error, run_cnnlab, snapshot, temporaries

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

needs_links = pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges")


def _png(path: Path, seed: int, size: int = 8) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def _dataset(root: Path) -> Path:
    for k, name in enumerate(("cats", "dogs")):
        for i in range(4):
            _png(root / name / f"{i}.png", 10 * k + i)
    return root


def _refused(tmp_path: Path, user: Path, root: Path, *words: str) -> None:
    before = snapshot(user)
    run = user / "run"
    env = {"CNNLAB_HOME": str(tmp_path / "home")}
    common = ("--epochs", "1", "--image-size", "8", "--engine", "numpy", "--out", run)
    for args in (
        ("data", "info", root, "--image-size", "8", "--no-grid"),
        ("train", "--data", root, *common),
        ("train", "--data", root, "--stream", *common),
    ):
        result = run_cnnlab(*args, cwd=user, env=env)
        assert_user_error(result, str(root), *words, max_lines=1)
        assert not run.exists()
        assert_unchanged(user, before)
        assert temporaries(user) == []


@needs_links
def test_a_class_folder_linked_to_its_sibling_is_refused(tmp_path):
    user = tmp_path / "user"
    root = _dataset(user / "pets")
    os.symlink("dogs", root / "wolves")
    _refused(
        tmp_path,
        user,
        root,
        "classes 'dogs' and 'wolves' hold the same file",
        str(root / "dogs" / "0.png"),
        str(root / "wolves" / "0.png"),
    )


@needs_links
def test_an_image_linked_into_another_class_is_refused(tmp_path):
    user = tmp_path / "user"
    root = _dataset(user / "pets")
    os.symlink(root / "cats" / "2.png", root / "dogs" / "9.png")
    _refused(tmp_path, user, root, "classes 'cats' and 'dogs' hold the same file", "9.png")


def test_a_copied_class_folder_is_refused(tmp_path):
    user = tmp_path / "user"
    root = _dataset(user / "pets")
    shutil.copytree(root / "cats", root / "kittens")
    _refused(
        tmp_path,
        user,
        root,
        "classes 'cats' and 'kittens' hold identical images",
        "have the same bytes",
        "8 of 12 images",
    )


def test_copies_within_one_class_are_kept(tmp_path):
    user = tmp_path / "user"
    root = _dataset(user / "pets")
    shutil.copy(root / "cats" / "0.png", root / "cats" / "copy.png")
    result = run_cnnlab(
        "data",
        "info",
        root,
        "--image-size",
        "8",
        "--no-grid",
        cwd=user,
        env={"CNNLAB_HOME": str(tmp_path / "home")},
    )
    assert result.code == 0, result.stderr
    assert "9 images" in result.stdout, result.stdout


def test_fetch_names_the_archive_and_keeps_the_cache(tmp_path):
    import zipfile

    user = tmp_path / "user"
    images = _dataset(user / "staging")
    archive = user / "signs.zip"
    top = "Sign-Language-Digits-Dataset-master/Dataset"
    with zipfile.ZipFile(archive, "w") as zf:
        for d in range(10):  # classes 0 and 1 hold the same images; the others their own
            for i in range(4):
                if d < 2:
                    source = images / "cats" / f"{i}.png"
                else:
                    source = user / "more" / f"{d}_{i}.png"
                    _png(source, 100 * d + i)
                zf.writestr(f"{top}/{d}/IMG_{i}.png", source.read_bytes())
    home = tmp_path / "home"
    before = snapshot(user)
    result = run_cnnlab("data", "fetch", "signs", "--from", archive, env={"CNNLAB_HOME": str(home)})
    assert_user_error(
        result, str(archive), "classes '0' and '1' hold identical images",
        "the cache of signs is unchanged", max_lines=1,
    )  # fmt: skip
    assert_unchanged(user, before)
    datasets = home / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []
