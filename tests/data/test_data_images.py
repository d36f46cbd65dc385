"""Image folders: formats, resizing, color modes, EXIF, hidden files, links, cache, bad files."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _data_helpers import make_class_folders, write_image
from PIL import Image

import cnnlab.data.images as images
from cnnlab.data import (
    DatasetError,
    cache_dir,
    decode_image,
    list_class_folders,
    load_dataset,
    load_folder_arrays,
)

pytestmark = [pytest.mark.usefixtures("own_cache"), pytest.mark.slow]  # uv run pytest -m slow


def test_folder_with_jpeg_png_bmp_resized_rgb(tmp_path):
    root = tmp_path / "pets"
    write_image(root / "cat" / "a.jpg", (30, 20), (250, 0, 0), quality=95)
    write_image(root / "cat" / "b.PNG", (10, 10), (250, 0, 0), fmt="PNG")
    write_image(root / "dog" / "c.bmp", (64, 64), (0, 250, 0))
    write_image(root / "dog" / "sub" / "d.jpeg", (8, 12), (0, 250, 0))
    (root / "dog" / "notes.txt").write_text("not an image")
    x, y, names = load_folder_arrays(root, (16, 16))
    assert names == ["cat", "dog"]
    assert x.shape == (4, 16, 16, 3) and x.dtype == np.uint8
    assert y.tolist() == [0, 0, 1, 1]
    assert np.all(x[y == 0, 8, 8, 0] > 200) and np.all(x[y == 0, 8, 8, 1] < 40)
    assert np.all(x[y == 1, 8, 8, 1] > 200) and np.all(x[y == 1, 8, 8, 0] < 40)
    gray, _, _ = load_folder_arrays(root, 16, grayscale=True)
    assert gray.shape == (4, 16, 16, 1)
    expected = np.rint(250 * 587 / 1000)  # Pillow's luminance of pure green (dog's bmp)
    assert abs(int(gray[2, 8, 0, 0]) - expected) <= 3


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rot.jpg"
    arr = np.zeros((10, 20, 3), dtype=np.uint8)
    arr[:, :10] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(arr).save(path, exif=exif, quality=95)
    out = decode_image(path, None)
    assert out.shape == (20, 10, 3)  # height and width swapped
    assert out[2, 5].mean() > 200 and out[17, 5].mean() < 50  # white half now on top


def test_palette_and_alpha_images_become_rgb(tmp_path):
    p = tmp_path / "a.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 255)).save(p)
    q = tmp_path / "b.png"
    Image.new("P", (4, 4), 3).save(q)
    assert decode_image(p, None).shape == (4, 4, 3)
    assert decode_image(p, None)[0, 0].tolist() == [255, 0, 0]
    assert decode_image(q, (2, 2), grayscale=True).shape == (2, 2, 1)


def test_hidden_files_and_folders_are_skipped(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 2})
    write_image(root / "a" / ".hidden.png")
    write_image(root / ".cache" / "x.png")
    write_image(root / "b" / ".thumbs" / "y.png")
    names, files = list_class_folders(root)
    assert names == ["a", "b"]
    assert [len(f) for f in files] == [2, 2]


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_links_inside_and_outside_the_root_are_followed(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 1})
    outside = tmp_path / "outside"
    for i in range(3):
        write_image(outside / "c" / f"00{i}.png", color=(240, 17 + 40 * i, 5))  # red: its own
    for i in range(2):
        write_image(outside / "d" / f"00{i}.png", color=(0, 60 * i, 0))
    write_image(outside / "pool" / "000.png", color=(90, 90, 90))
    write_image(root / ".e" / "000.png", color=(10, 200, 10))  # hidden: not a class itself
    os.symlink(outside / "pool" / "000.png", root / "a" / "escape.png")  # an image outside
    os.symlink(outside / "c", root / "c")  # a class folder outside the root
    os.symlink(outside / "d", root / "b" / "more")  # a subfolder outside the root
    os.symlink(root / "a" / "000.png", root / "a" / "inside.png")  # an image inside
    os.symlink(".e", root / "e")  # a class folder linking inside the root (relative)
    names, files = list_class_folders(root)
    assert names == ["a", "b", "c", "e"]  # no class is dropped
    assert sorted(os.path.basename(p) for p, _, _ in files[0]) == [
        "000.png",
        "001.png",
        "escape.png",
        "inside.png",
    ]
    assert [len(f) for f in files] == [4, 3, 3, 1]
    x, y, _ = load_folder_arrays(root, (8, 8))
    assert np.bincount(y).tolist() == [4, 3, 3, 1]
    assert np.all(x[y == 2, 4, 4, 0] > 200)  # class c: the red images outside, via the link


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_an_image_in_two_classes_is_refused_and_a_few_copies_in_a_large_set_kept(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 1})
    os.symlink("a", root / "e")  # a sibling class, under a second name
    with pytest.raises(DatasetError, match="classes 'a' and 'e' hold the same file"):
        list_class_folders(root)
    (root / "e").unlink()
    os.symlink(root / "a" / "000.png", root / "b" / "a.png")  # one image, linked
    with pytest.raises(DatasetError, match="classes 'a' and 'b' hold the same file"):
        list_class_folders(root)
    (root / "b" / "a.png").unlink()
    write_image(root / "b" / "copy.png", color=(1, 2, 3))
    write_image(root / "a" / "copy.png", color=(1, 2, 3))  # the same bytes, another file
    with pytest.raises(DatasetError, match=r"hold identical images .* 2 of 5 images"):
        list_class_folders(root)
    for i in range(2000):  # 2 copies in 2,005 images: at most 1 in 1,000, kept
        write_image(root / "a" / f"n{i}.png", size=(4, 4), color=(i % 250, i // 250, 0))
    names, files = list_class_folders(root)
    assert [len(f) for f in files] == [2003, 2]


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need privileges on Windows")
def test_broken_and_looping_links_are_refused_not_dropped(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 1})
    os.symlink(tmp_path / "gone", root / "c")
    with pytest.raises(DatasetError, match="broken symbolic link") as info:
        list_class_folders(root)
    assert str(root / "c") in str(info.value)
    (root / "c").unlink()
    os.symlink(tmp_path / "gone.png", root / "a" / "x.png")
    with pytest.raises(DatasetError, match="broken symbolic link") as info:
        list_class_folders(root)
    assert str(root / "a" / "x.png") in str(info.value)
    (root / "a" / "x.png").unlink()
    os.symlink(root, root / "b" / "up")  # would pull class a's images into b
    with pytest.raises(DatasetError, match="mix the classes") as info:
        list_class_folders(root)
    assert str(root / "b" / "up") in str(info.value)
    (root / "b" / "up").unlink()
    os.symlink(root / "b", root / "b" / "self")  # a loop: visited once
    assert [len(f) for f in list_class_folders(root)[1]] == [2, 1]


def test_second_load_comes_from_the_cache(tmp_path, monkeypatch):
    root = make_class_folders(tmp_path / "r", {"a": 3, "b": 2})
    x1, y1, _ = load_folder_arrays(root, (8, 8))
    entries = list((cache_dir() / "arrays").glob("*.npz"))
    assert len(entries) == 1
    with np.load(entries[0], allow_pickle=False) as z:  # no pickle needed to read it
        assert set(z.files) == {"x", "y", "class_names", "found"}

    def boom(*a, **k):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(images, "_decode", boom)
    x2, y2, _ = load_folder_arrays(root, (8, 8))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    with pytest.raises(AssertionError, match="decoded again"):
        load_folder_arrays(root, (4, 4))  # another size is another cache entry


def test_cache_is_rebuilt_when_a_file_changes(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 2})
    x1, _, _ = load_folder_arrays(root, (8, 8))
    target = root / "a" / "000.png"
    write_image(target, (12, 10), (0, 0, 0))
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    x2, _, _ = load_folder_arrays(root, (8, 8))
    assert not np.array_equal(x1, x2)
    write_image(root / "b" / "new.png")
    x3, y3, _ = load_folder_arrays(root, (8, 8))
    assert len(y3) == 5
    assert len(list((cache_dir() / "arrays").glob("*.npz"))) == 1  # stale entries removed


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 2})
    x1, _, _ = load_folder_arrays(root, (8, 8))
    (entry,) = (cache_dir() / "arrays").glob("*.npz")
    entry.write_bytes(b"garbage")
    x2, _, _ = load_folder_arrays(root, (8, 8))
    np.testing.assert_array_equal(x1, x2)


def test_load_dataset_on_a_folder(tmp_path):
    root = make_class_folders(tmp_path / "shapes", {"a": 10, "b": 10, "c": 10})
    ds = load_dataset(root, image_size=(8, 8), seed=0)
    assert ds.name == "shapes" and ds.class_names == ["a", "b", "c"]
    assert ds.class_counts()["test"] == {"a": 2, "b": 2, "c": 2}
    native = load_dataset(root, image_size=None)
    assert native.image_shape == (10, 12, 3)


def test_mixed_sizes_need_an_image_size(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 1, "b": 1})
    write_image(root / "b" / "big.png", (20, 20))
    with pytest.raises(DatasetError, match="pass image_size"):
        load_dataset(root, image_size=None)


def test_empty_class_folder(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2})
    (root / "empty").mkdir()
    (root / "empty" / "README.txt").write_text("no images")
    with pytest.raises(DatasetError, match="empty class folder 'empty'") as info:
        load_dataset(root)
    assert str(root / "empty") in str(info.value)


def test_folder_without_class_subfolders(tmp_path):
    write_image(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match="no class subfolders"):
        load_dataset(tmp_path / "flat")
    with pytest.raises(DatasetError, match="no such dataset"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(DatasetError, match="unsupported file"):
        load_dataset(tmp_path / "x.csv")


def test_corrupt_image_names_the_file(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 2})
    bad = root / "b" / "zz.jpg"
    bad.write_bytes(b"definitely not an image")
    with pytest.raises(DatasetError, match="not an image .unknown format; supported: JPEG") as info:
        load_dataset(root)
    assert str(bad) in str(info.value)
    bad.write_bytes(b"\xff\xd8\xff\xe0 a jpeg header and then garbage")
    with pytest.raises(DatasetError, match="corrupt or truncated image") as info:
        load_dataset(root)
    assert str(bad) in str(info.value)


def test_truncated_image_names_the_file(tmp_path):
    root = make_class_folders(tmp_path / "r", {"a": 2, "b": 2})
    good = write_image(tmp_path / "full.jpg", (64, 64), quality=95)
    data = good.read_bytes()
    bad = root / "a" / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated") as info:
        load_dataset(root, image_size=(8, 8))
    assert str(bad) in str(info.value)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    import PIL.Image

    path = write_image(tmp_path / "bomb.png", (40, 40))
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DatasetError, match="decompression-bomb limit") as info:
        decode_image(path, (8, 8))
    assert str(path) in str(info.value)
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 500)  # Pillow's own error at 2x
    with pytest.raises(DatasetError, match="decompression-bomb"):
        decode_image(path, (8, 8))


def test_decoding_threads_follow_the_ops_thread_setting(tmp_path, monkeypatch):
    """One thread-pool policy: ``set_num_threads(1)`` decodes in the calling thread."""
    import threading

    from cnnlab.ops import parallel

    paths = [
        str(write_image(tmp_path / f"{i}.png", (6, 5), (i % 256, 0, 0), fmt="PNG"))
        for i in range(300)
    ]
    seen: set[int] = set()
    real = images._decode

    def spy(*args, **kwargs):
        seen.add(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "_decode", spy)
    before = parallel.get_num_threads()
    try:
        parallel.set_num_threads(1)
        one = images.decode_many(paths, None, progress=False)
        assert seen == {threading.get_ident()}
        parallel.set_num_threads(2)
        two = images.decode_many(paths, None, progress=False)
    finally:
        parallel.set_num_threads(before)
    assert one.shape == (300, 5, 6, 3)
    np.testing.assert_array_equal(one, two)
    assert one[:, 0, 0, 0].tolist() == [i % 256 for i in range(300)]
    with pytest.raises(ValueError, match="`workers` must be a positive int"):
        images.decode_many(paths, None, workers=0)
