"""Named datasets: fetch from a zip, a folder or a URL into the cache, safely."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import os
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from _data_helpers import write_image

from cnnlab.data import (
    REGISTRY,
    DatasetError,
    cache_dir,
    dataset_dir,
    fetch,
    is_fetched,
    load_dataset,
    safe_extract,
    verify_fetched,
)

pytestmark = pytest.mark.usefixtures("own_cache")


def _png_bytes(color=(10, 20, 30), size=(6, 5)) -> bytes:
    buf = io.BytesIO()
    from PIL import Image

    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _signs_zip(path: Path, per_class: int = 2) -> Path:
    """The GitHub archive layout: Sign-Language-Digits-Dataset-master/Dataset/0..9."""
    top = "Sign-Language-Digits-Dataset-master"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/README.md", "readme")
        zf.writestr(f"{top}/Dataset/", "")
        for d in range(10):
            for i in range(per_class + (d == 3)):
                zf.writestr(f"{top}/Dataset/{d}/IMG_{i}.png", _png_bytes((d * 20, 0, 0)))
    return path


def _smiles_tree(root: Path, n_pos: int = 3, n_neg: int = 5) -> Path:
    """The GitHub archive layout of SMILEsmileD, unpacked."""
    base = root / "SMILEsmileD-master" / "SMILEs"
    for i in range(n_pos):
        write_image(base / "positives" / "positives7" / f"{i}.jpg", (8, 8), (200, 200, 200))
    for i in range(n_neg):
        write_image(base / "negatives" / "negatives7" / f"{i}.jpg", (8, 8), (20, 20, 20))
    (base / "README").write_text("x")
    return root


def _zip_tree(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, p.relative_to(src).as_posix())
    return dest


def test_fetch_signs_from_the_raw_github_zip(tmp_path):
    archive = _signs_zip(tmp_path / "master.zip")
    folder = fetch("signs", from_path=archive)
    assert folder == dataset_dir("signs") and is_fetched("signs")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [str(d) for d in range(10)] + ["README.md", "manifest.json"]
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert manifest["n_images"] == 21 and manifest["counts"]["3"] == 3
    ds = load_dataset("signs", image_size=(4, 4), val_fraction=0.0, test_fraction=0.0)
    assert ds.class_names == [str(d) for d in range(10)] and len(ds) == 21
    # nothing but the dataset is left in the cache's datasets folder
    assert [p.name for p in folder.parent.iterdir()] == ["signs"]


def test_fetch_smiles_from_raw_folder_zip_and_plain_folder(tmp_path):
    raw = _smiles_tree(tmp_path / "raw")
    fetch("smiles", from_path=raw)
    ds = load_dataset("smiles", image_size=None, grayscale=True, val_fraction=0, test_fraction=0)
    assert ds.class_names == ["not_smiling", "smiling"]
    assert np.bincount(ds.y_train).tolist() == [5, 3]
    assert np.all(ds.x_train[ds.y_train == 1] > 150)  # smiling = positives7

    archive = _zip_tree(_smiles_tree(tmp_path / "raw2", n_pos=2, n_neg=2), tmp_path / "s.zip")
    with pytest.raises(DatasetError, match="holds 4 images, fewer than the 8 already in"):
        fetch("smiles", from_path=archive)  # a smaller set replaces the cache only if forced
    assert verify_fetched("smiles")["counts"] == {"not_smiling": 5, "smiling": 3}
    fetch("smiles", from_path=archive, force=True)
    assert verify_fetched("smiles")["counts"] == {"not_smiling": 2, "smiling": 2}

    plain = tmp_path / "plain"
    for i in range(4):
        write_image(plain / "smiling" / f"{i}.png")
        write_image(plain / "not_smiling" / f"{i}.png", color=(30, 30, 30))  # not smiling's own
    fetch("smiles", from_path=plain)
    assert verify_fetched("smiles")["counts"] == {"not_smiling": 4, "smiling": 4}


def test_fetch_rejects_unusable_sources(tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        fetch("mnist")
    wrong = tmp_path / "wrong"
    write_image(wrong / "cats" / "a.png")
    with pytest.raises(DatasetError, match="does not look like the signs dataset"):
        fetch("signs", from_path=wrong)
    text = tmp_path / "x.zip"
    text.write_text("not a zip")
    with pytest.raises(DatasetError, match="not a zip archive or a folder"):
        fetch("signs", from_path=text)
    with pytest.raises(DatasetError, match="no such file or folder"):
        fetch("signs", from_path=tmp_path / "nope")
    assert not is_fetched("signs")
    assert list((cache_dir() / "datasets").iterdir()) == []  # no temporary leftovers


@pytest.mark.parametrize(
    ("member", "why"),
    [("../evil.png", "outside the target"), ("/abs/evil.png", "outside the target"),
     ("a/../../evil.png", "outside the target"), ("C:/evil.png", "outside the target")],
)  # fmt: skip
def test_safe_extract_refuses_members_leaving_the_target(tmp_path, member, why):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/fine.png", b"x")
        zf.writestr(member, b"evil")
    target = tmp_path / "t" / "inner"
    target.mkdir(parents=True)
    with pytest.raises(DatasetError, match=why) as info:
        safe_extract(archive, target)
    assert str(archive) in str(info.value) and "evil.png" in str(info.value)
    assert list(target.iterdir()) == []  # checked before anything was written
    assert not (tmp_path / "t" / "evil.png").exists()


def test_safe_extract_refuses_symlink_members_and_fetch_leaves_nothing(tmp_path):
    archive = _signs_zip(tmp_path / "evil.zip", per_class=1)
    with zipfile.ZipFile(archive, "a") as zf:
        info = zipfile.ZipInfo("Sign-Language-Digits-Dataset-master/Dataset/0/link.png")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DatasetError, match="symbolic link"):
        fetch("signs", from_path=archive)
    assert not is_fetched("signs")
    assert list((cache_dir() / "datasets").iterdir()) == []


def test_download_from_file_url_records_and_reuses_sha256(tmp_path):
    archive = _zip_tree(_smiles_tree(tmp_path / "raw"), tmp_path / "master.zip")
    url = archive.as_uri()
    fetch("smiles", url=url, progress=False)
    record = json.loads((cache_dir() / "downloads" / "smiles.zip.json").read_text())
    assert record == {"url": url, "sha256": hashlib.sha256(archive.read_bytes()).hexdigest()}
    assert verify_fetched("smiles")["archive_sha256"] == record["sha256"]

    calls = []

    def counting_opener(u):
        calls.append(u)
        return open(archive, "rb")

    fetch("smiles", url=url, force=True, opener=counting_opener)
    assert calls == []  # the downloaded zip matched its recorded sha256: reused
    (cache_dir() / "downloads" / "smiles.zip").write_bytes(b"damaged")
    fetch("smiles", url=url, force=True, opener=counting_opener)
    assert calls == [url]  # checksum mismatch: downloaded again
    assert verify_fetched("smiles")["counts"] == {"not_smiling": 5, "smiling": 3}


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    claim = 0

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(self.claim or len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_download_over_http_and_cut_short_download(tmp_path, http_server):
    payload = _signs_zip(tmp_path / "m.zip").read_bytes()
    url = f"http://127.0.0.1:{http_server.server_port}/master.zip"
    _Handler.payload, _Handler.claim = payload, 0
    fetch("signs", url=url, progress=True)
    assert verify_fetched("signs")["n_images"] == 21

    _Handler.claim = len(payload) + 1000  # the server promises more than it sends
    (cache_dir() / "downloads" / "signs.zip").unlink()
    with pytest.raises(DatasetError, match="cut short"):
        fetch("signs", url=url, force=True, progress=False)
    leftovers = [p.name for p in (cache_dir() / "downloads").iterdir()]
    assert "signs.zip" not in leftovers and not any(n.startswith(".") for n in leftovers)
    assert verify_fetched("signs")["n_images"] == 21  # the old copy is intact


def test_load_named_without_cache_or_network_says_how_to_fetch(tmp_path, monkeypatch):
    missing = (tmp_path / "no-such-download.zip").as_uri()
    monkeypatch.setitem(REGISTRY, "signs", dataclasses.replace(REGISTRY["signs"], url=missing))
    with pytest.raises(DatasetError) as info:
        load_dataset("signs")
    msg = str(info.value)
    assert "cnnlab data fetch signs" in msg and "--from PATH" in msg
    downloads = cache_dir() / "downloads"
    assert not downloads.exists() or not list(downloads.iterdir())
    assert not (cache_dir() / "datasets").exists() or not list((cache_dir() / "datasets").iterdir())
    with pytest.raises(DatasetError, match="not in the cache"):
        load_dataset("smiles", download=False)


def test_changed_cache_is_detected(tmp_path):
    fetch("signs", from_path=_signs_zip(tmp_path / "m.zip"))
    os.remove(dataset_dir("signs") / "0" / "IMG_0.png")
    with pytest.raises(DatasetError, match="changed since they were fetched"):
        load_dataset("signs")
