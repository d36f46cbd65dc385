"""Bad data through the real ``cnnlab`` entry point: one clear line, exit 2, nothing changed.

Each case builds its input in a temporary folder (small files; bombs are built with
highly compressible zeros or lying headers, never gigabytes) and runs ``cnnlab`` in a
subprocess with a private ``CNNLAB_HOME``. Checked: the exit code, that stderr is one
line (two with a hint) naming the file or option without a traceback, that the user's
files are byte-identical afterwards, and that no temporary file is left (cache included).
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from _helpers import write_class_folders

from .conftest import assert_unchanged, assert_user_error, run_cnnlab, snapshot, temporaries

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

needs_bytes_names = pytest.mark.skipif(
    sys.platform in ("win32", "darwin"), reason="needs non-UTF-8 bytes file names (POSIX)"
)


@pytest.fixture
def user(tmp_path) -> Path:
    folder = tmp_path / "user"
    folder.mkdir()
    return folder


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def _run(home: Path, *args, cwd: Path, **env):
    return run_cnnlab(*args, cwd=cwd, env={"CNNLAB_HOME": str(home), **env})


def _png(path: Path, value: int = 100, size: int = 12) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def _classes(root: Path, names=("a", "b"), n: int = 3) -> Path:
    """``root/<name>/<i>.png``: ``n`` 12x12 noise images a class (image i of class k as
    ``_png(path, 10 * k + i)`` draws it)."""

    def pixels(rng, k, i, size):
        return np.random.default_rng(10 * k + i).integers(0, 255, (*size, 3), dtype=np.uint8)

    return write_class_folders(root, dict.fromkeys(names, n), (12, 12), pixels=pixels, name="{i}")


def _clean(home: Path, user: Path, before: dict) -> None:
    assert_unchanged(user, before)
    for folder in (home, user):
        if folder.exists():
            assert temporaries(folder) == [], temporaries(folder)
    datasets = home / "datasets"
    assert not datasets.exists() or list(datasets.iterdir()) == []


def test_bad_image_files_in_a_class_folder(user, home):
    root = _classes(user / "pets")
    (root / "b" / "notes.png").write_text("I am text, not a picture\n")
    before = snapshot(user)
    result = _run(home, "data", "info", root, "--no-grid", cwd=user)
    assert_user_error(result, str(root / "b" / "notes.png"), "not an image", "supported: JPEG")
    (root / "b" / "notes.png").unlink()
    (root / "b" / "cut.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    before = snapshot(user)
    result = _run(home, "data", "info", root, "--no-grid", cwd=user)
    assert_user_error(result, str(root / "b" / "cut.png"), "corrupt or truncated PNG")
    _clean(home, user, before)


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_linked_class_folders_are_kept_and_broken_links_named(user, home):
    pool = user / "pool"
    for i in range(3):
        _png(pool / "c" / f"{i}.png", 100 + i)  # images of their own, not copies of a or b
    os.symlink("0.png", pool / "c" / "3.png")  # one image twice in one class: kept
    root = _classes(user / "set")
    _png(root / ".e" / "0.png", 200)  # hidden: not a class itself
    os.symlink(pool / "c", root / "c")  # outside the root: followed
    os.symlink(".e", root / "e")  # inside the root: followed
    result = _run(home, "data", "info", root, "--no-grid", "--image-size", "8", cwd=user)
    assert result.code == 0, result.stderr
    assert "4 classes" in result.stdout or "11 images" in result.stdout, result.stdout
    for name in ("a", "b", "c", "e"):
        assert f"\n  {name} " in result.stdout, result.stdout
    # a link to a sibling class folder is refused: test_shared_images.py
    os.symlink(user / "gone", root / "f")
    before = snapshot(user)
    result = _run(home, "data", "info", root, "--no-grid", cwd=user)
    assert_user_error(result, str(root / "f"), "broken symbolic link")
    assert_unchanged(user, before)


def _bomb(path: Path, mib: int) -> Path:
    top = "Sign-Language-Digits-Dataset-master/Dataset"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for d in range(10):
            zf.writestr(f"{top}/{d}/IMG_0.png", b"\x89PNG not really")
        zf.writestr(f"{top}/0/zeros.png", bytes(mib << 20))
    return path


def _declare(path: Path, member: str, size: int) -> None:
    """Rewrite the central directory's expanded size of ``member`` (a lying header)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        n = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + n] == member.encode():
            data[at + 24 : at + 28] = size.to_bytes(4, "little")
            path.write_bytes(bytes(data))
            return
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(member)


def test_zip_bombs_are_refused_before_anything_is_written(user, home):
    ratio = _bomb(user / "bomb.zip", mib=16)  # 16 MiB of zeros in about 16 KiB
    declared = _bomb(user / "declared.zip", mib=1)
    _declare(declared, "Sign-Language-Digits-Dataset-master/Dataset/0/zeros.png", 3 << 30)
    liar = _bomb(user / "liar.zip", mib=1)
    _declare(liar, "Sign-Language-Digits-Dataset-master/Dataset/0/zeros.png", 1000)
    before = snapshot(user)
    for archive, words in (
        (ratio, ("expands", "times", "MAX_COMPRESSION_RATIO")),
        (declared, ("expands to 3.0 GiB", "limit of 2.0 GiB")),
        (liar, ("zeros.png",)),
    ):
        result = _run(home, "data", "fetch", "signs", "--from", archive, cwd=user)
        assert_user_error(result, str(archive), *words)
        _clean(home, user, before)


def test_fetch_offline_suggests_from_path(user, home):
    dead_proxy = "http://127.0.0.1:9"  # nothing listens there: the download fails at once
    env = {"https_proxy": dead_proxy, "HTTPS_PROXY": dead_proxy, "no_proxy": "", "NO_PROXY": ""}
    before = snapshot(user)
    result = _run(home, "data", "fetch", "smiles", cwd=user, **env)
    assert_user_error(result, "could not download", "cnnlab data fetch smiles --from PATH")
    _clean(home, user, before)
    downloads = home / "downloads"
    assert not downloads.exists() or list(downloads.iterdir()) == []


def _h5(path: Path, x, n: int | None = None, **kw) -> Path:
    with h5py.File(path, "w") as f:
        f["list_classes"] = np.array([0, 1])
        if isinstance(x, tuple):
            f.create_dataset("train_set_x", shape=x, dtype=np.uint8, **kw)
        else:
            f["train_set_x"] = x
        f["train_set_y"] = np.arange(x[0] if isinstance(x, tuple) else len(x)) % 2
    return path


def test_bad_h5_files_are_refused_naming_the_file(user, home):
    nan = np.full((6, 8, 8, 3), 0.5, dtype=np.float32)
    nan[3, 2, 2, 1] = np.nan
    cases = {
        _h5(user / "train_big.h5", (200000, 256, 256, 3), chunks=(1, 256, 256, 3)): (
            "train_set_x declares 200000x256x256x3",
            "MAX_DATASET_BYTES",
        ),
        _h5(user / "train_empty.h5", np.zeros((0, 8, 8, 3), np.uint8)): ("holds no images",),
        _h5(user / "train_nan.h5", nan): ("train_set_x holds 1 NaN or inf values",),
    }
    assert (user / "train_big.h5").stat().st_size < 3_000_000
    before = snapshot(user)
    for path, words in cases.items():
        out = user / f"run_{path.stem}"
        result = _run(home, "train", "--data", path, "--epochs", "1", "--out", out, cwd=user)
        assert_user_error(result, str(path), *words)
        assert not out.exists()
    _clean(home, user, before)


def test_image_size_over_the_limit(user, home):
    before = snapshot(user)
    result = _run(home, "train", "--image-size", "100000", "--out", user / "run", cwd=user)
    assert_user_error(result, "--image-size", "1024")
    result = _run(home, "data", "info", "digits", "--image-size", "5000", cwd=user)
    assert_user_error(result, "--image-size", "1024")
    _clean(home, user, before)


@needs_bytes_names
def test_non_utf8_names_train_show_and_predict(user, home):
    """A class folder and a file named with bytes that are not UTF-8: the run is kept."""
    root = user / "data"
    for name in (b"caf\xe9", b"tea"):
        folder = os.path.join(os.fsencode(root), name)
        for i in range(5):
            _png(user / "tmp.png", i + 10 * len(name))  # each class its own images
            os.renames(user / "tmp.png", os.path.join(folder, b"%d\xff.png" % i))
    run = user / "run"
    args = ("--epochs", "1", "--engine", "numpy", "--model", "course", "--image-size", "16")
    args += ("--preprocess", "none")  # noise images, not hands
    result = _run(home, "train", "--data", root, *args, "--out", run, cwd=user)
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    assert (run / "confusion_matrix.png").is_file()
    assert json.loads((run / "class_names.json").read_text()) == ["caf\udce9", "tea"]
    image = os.path.join(os.fsencode(root), b"caf\xe9", b"0\xff.png")
    result = _run(home, "show", run, os.fsdecode(image), "--out", user / "show.png", cwd=user)
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    assert (user / "show.png").is_file()
    (user / "text.png").write_text("not an image")
    before = snapshot(user)
    result = _run(home, "predict", run, user / "text.png", cwd=user)
    assert_user_error(result, str(user / "text.png"), "not an image")
    assert_unchanged(user, before)
    assert temporaries(user) == []


def _signs_zip(path: Path, per_class: int, junk: bytes | None = None, n_junk: int = 1) -> Path:
    """A signs archive in GitHub's layout; ``junk``: ``n_junk`` undecodable .jpg members
    spread over the classes."""
    import zipfile

    top = "Sign-Language-Digits-Dataset-master/Dataset"
    with zipfile.ZipFile(path, "w") as zf:
        for d in range(10):
            for i in range(per_class):
                image = _png(path.parent / "staging" / f"{d}_{i}.png", value=d * 100 + i)
                zf.write(image, f"{top}/{d}/IMG_{i}.png")
        for i in range(n_junk if junk is not None else 0):
            zf.writestr(f"{top}/{(i + 3) % 10}/junk{i}.jpg", junk)
    return path


def test_fetch_never_replaces_a_good_cache_with_junk_or_less(user, home):
    good = _signs_zip(user / "good.zip", per_class=3)
    first = _run(home, "data", "fetch", "signs", "--from", good, cwd=user)
    assert first.code == 0, first.stderr
    cache = home / "datasets" / "signs"
    before = snapshot(cache)
    junk = _signs_zip(user / "junk.zip", per_class=3, junk=b"not an image")
    zeros = _signs_zip(user / "zeros.zip", per_class=0, junk=bytes(300), n_junk=300)
    small = _signs_zip(user / "small.zip", per_class=1)
    for archive, words in (
        (junk, ("junk0.jpg", "1 of 31 images cannot be read", "cache of signs is unchanged")),
        (zeros, ("300 of 300 images cannot be read", "cache of signs is unchanged")),
        (small, ("holds 10 images, fewer than the 30", "--force")),
    ):
        result = _run(home, "data", "fetch", "signs", "--from", archive, cwd=user)
        assert_user_error(result, str(archive), *words, max_lines=1)
        assert_unchanged(cache, before)
        assert temporaries(home) == []
    forced = _run(home, "data", "fetch", "signs", "--from", small, "--force", cwd=user)
    assert forced.code == 0, forced.stderr
    assert "signs: 10 images" in forced.stdout


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("group", "train_set_x is a group, expected an array"),
        ("scalar", "train_set_x must have shape (N, H, W, 3) or (N, H, W, 1)"),
        ("selflink", "too many links"),
    ],
)
def test_a_course_file_whose_images_are_not_an_array_is_one_line(kind, words, user):
    path = user / f"train_{kind}.h5"
    with h5py.File(path, "w") as f:
        f["list_classes"] = np.array([0, 1])
        f["train_set_y"] = np.array([0, 1])
        if kind == "group":
            f.create_group("train_set_x")
        elif kind == "scalar":
            f["train_set_x"] = np.uint8(3)
        else:
            f["train_set_x"] = h5py.SoftLink("/train_set_x")
    before = snapshot(user)
    for args in (
        ("train", "--data", path, "--epochs", "1", "--out", user / "run"),
        ("train", "--data", path, "--epochs", "1", "--stream", "--out", user / "run"),
        ("data", "info", path),
    ):
        result = run_cnnlab(*args, cwd=user)
        assert_user_error(result, str(path), words, max_lines=1)
        assert_unchanged(user, before)  # no run folder, nothing else


def test_the_face_step_refuses_images_too_small_to_hold_a_face(user):
    # 8x8 digits once "held" 1,445 faces in 1,797 images.
    result = run_cnnlab(
        "train", "--preprocess", "face", "--epochs", "1", "--out", user / "run", cwd=user
    )
    assert_user_error(result, "digits", "8x8", "too small for --preprocess face", max_lines=1)
    assert list(user.iterdir()) == []
