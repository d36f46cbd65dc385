"""Named public datasets: download (or take a local copy), unpack safely, cache.

The cache (see :func:`cnnlab.data.cache.cache_dir`) holds

- ``downloads/<name>.zip``: the downloaded archive, with its sha256 in
  ``downloads/<name>.zip.json``; it is checked before reuse and fetched again if it
  does not match.
- ``datasets/<name>/``: one folder of images per class and ``manifest.json``
  (sha256 of the archive when there was one, and a sha256 of the image listing,
  checked on every load).

Everything is built under a temporary name in the cache and renamed into place, so a
failed download or extraction leaves nothing half-written. Zips are checked before
anything is extracted: member paths must stay inside the target, links are refused, and
zip bombs are refused by their declared total size, member count and compression ratio
(limits in :mod:`cnnlab.limits`); the bytes actually expanded are counted as well.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from cnnlab._io import write_text
from cnnlab.data.archives import Opener, download, safe_extract
from cnnlab.data.cache import cache_dir
from cnnlab.data.images import IMAGE_SUFFIXES, decode_image, list_class_folders, walk_images
from cnnlab.errors import ArgumentError, DatasetError
from cnnlab.limits import (
    MAX_EXTRACT_BYTES,
)


@dataclass(frozen=True)
class NamedDataset:
    """A public dataset that :func:`fetch` knows how to get.

    ``classes`` maps each class name to the folders (relative to the archive's top
    folder) that may hold its images: the raw archive layout first, then the plain
    class-folder layout.
    """

    name: str
    title: str
    url: str
    license: str
    n_images: int
    image_info: str
    classes: dict[str, tuple[str, ...]]
    sha256: str | None = None  # None: upstream is a moving branch; recorded on first fetch


REGISTRY: dict[str, NamedDataset] = {
    "signs": NamedDataset(
        name="signs",
        title="Sign Language Digits Dataset (hands showing 0-9)",
        url="https://github.com/ardamavi/Sign-Language-Digits-Dataset/archive/refs/heads/master.zip",
        license="Apache-2.0",
        n_images=2062,
        image_info="RGB 100x100",
        classes={str(d): (f"Dataset/{d}", str(d)) for d in range(10)},
    ),
    "smiles": NamedDataset(
        name="smiles",
        title="SMILEsmileD faces (smiling or not; 28% smiling)",
        url="https://github.com/hromi/SMILEsmileD/archive/refs/heads/master.zip",
        license="none stated (open source project); do not redistribute",
        n_images=13165,
        image_info="grayscale 64x64",
        classes={
            "not_smiling": ("SMILEs/negatives/negatives7", "not_smiling"),
            "smiling": ("SMILEs/positives/positives7", "smiling"),
        },
    ),
}


def get_named(name: str) -> NamedDataset:
    """The registry entry for ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ArgumentError(
            f"name must be one of {sorted(REGISTRY)}. Received: name={name!r}"
        ) from None


def dataset_dir(name: str) -> Path:
    """Where the fetched dataset ``name`` lives (or would live) in the cache."""
    return cache_dir() / "datasets" / name


def is_fetched(name: str) -> bool:
    """Whether ``name`` has a complete copy in the cache (its manifest exists)."""
    return (dataset_dir(name) / "manifest.json").is_file()


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def listing_sha256(root: str | os.PathLike) -> tuple[str, dict[str, int]]:
    """sha256 over the sorted ``class/relative-path\\tsize`` lines of a class-folder root.

    Returns:
        ``(hexdigest, {class: number of images})``.
    """
    names, files = list_class_folders(root)
    h = hashlib.sha256()
    counts = {}
    for name, cls in zip(names, files, strict=True):
        counts[name] = len(cls)
        for path, size, _ in cls:
            rel = Path(path).relative_to(root).as_posix()
            h.update(f"{rel}\t{size}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest(), counts


# ----------------------------------------------------------------------------- zip


def _find_layout(entry: NamedDataset, folder: Path) -> tuple[Path, dict[str, Path]]:
    """The dataset's top folder inside ``folder`` and each class's folder (raw or plain)."""
    bases = [folder]
    with contextlib.suppress(OSError):
        bases += sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    for base in bases:
        found = {}
        for cls, candidates in entry.classes.items():
            for rel in candidates:
                if (base / rel).is_dir():
                    found[cls] = base / rel
                    break
        if len(found) == len(entry.classes):
            return base, found
    expected = " or ".join(
        "{" + ", ".join(c[i] for c in entry.classes.values()) + "}"
        for i in range(len(next(iter(entry.classes.values()))))
    )
    raise DatasetError(
        f"{folder}: does not look like the {entry.name} dataset; expected class folders "
        f"{expected} (possibly under one top folder)"
    )


def _gather(base: Path, layout: dict[str, Path], dest: Path, move: bool) -> int:
    """Copy (or move) the images of each class folder into ``dest/<class>/``.

    License and readme files at the top of ``base`` are kept beside the class folders.
    """
    n = 0
    with contextlib.suppress(OSError):
        for p in base.iterdir():
            if (
                p.name.upper().startswith(("LICENSE", "LICENCE", "README"))
                and p.is_file()
                and not p.is_symlink()
                and not (dest / p.name).exists()
            ):
                shutil.copyfile(p, dest / p.name)
    for cls, src in layout.items():
        real_src = Path(os.path.realpath(src))
        files = walk_images(src, real_src)
        if not files:
            raise DatasetError(f"{src}: empty class folder '{cls}' (no images)")
        for path, _, _ in files:
            rel = Path(path).relative_to(src)
            target = dest / cls / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(path, target)
            else:
                shutil.copyfile(path, target)
            n += 1
    return n


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _obtain_archive(
    entry: NamedDataset, url: str, opener: Opener | None, progress: bool | None, max_bytes: int
) -> tuple[Path, str]:
    """The downloaded zip in the cache (reused when its recorded sha256 matches)."""
    downloads = cache_dir() / "downloads"
    archive = downloads / f"{entry.name}.zip"
    record = downloads / f"{entry.name}.zip.json"
    expected = entry.sha256
    info = _read_json(record)
    if archive.is_file() and info and info.get("url") == url:
        digest = sha256_file(archive)
        if digest == info.get("sha256") and expected in (None, digest):
            return archive, digest
        archive.unlink(missing_ok=True)  # damaged or changed: fetch it again
    digest = download(
        url, archive, opener=opener, progress=progress, description=entry.name, max_bytes=max_bytes
    )
    if expected is not None and digest != expected:
        archive.unlink(missing_ok=True)
        raise DatasetError(
            f"{url}: sha256 {digest} does not match the expected {expected}; download removed"
        )
    write_text(record, json.dumps({"url": url, "sha256": digest}, indent=2) + "\n")
    return archive, digest


def fetch(
    name: str,
    from_path: str | os.PathLike | None = None,
    *,
    force: bool = False,
    url: str | None = None,
    opener: Opener | None = None,
    progress: bool | None = None,
    max_bytes: int = MAX_EXTRACT_BYTES,
) -> Path:
    """Put the named dataset into the cache and return its folder.

    Args:
        name: ``"signs"`` or ``"smiles"`` (see ``REGISTRY``).
        from_path: a local folder or zip to take the images from instead of
            downloading (works offline). Both the raw archive layout (for example
            ``Sign-Language-Digits-Dataset-master/Dataset/0..9``) and the plain class
            folder layout (``0..9``, ``smiling``/``not_smiling``) are understood.
        force: fetch again even if the cache already holds the dataset.
        url: download from this URL instead of the registry's (a mirror, ``file://``).
        opener: custom ``opener(url)`` for the download (see :func:`download`).
        progress: show progress bars (default: when stdout is a terminal).
        max_bytes: refuse a zip that expands to more (default ``MAX_EXTRACT_BYTES``,
            2 GiB; see :func:`safe_extract` for the other zip-bomb checks).

    Returns:
        The cached dataset folder, ``<cache>/datasets/<name>``, one subfolder per class.

    Raises:
        DatasetError: the download, the archive or the folder is unusable; a failed
            download says how to fetch offline with ``--from PATH``.

    Example:
        >>> fetch("signs", from_path="Sign-Language-Digits-Dataset-master.zip")  # doctest: +SKIP
        PosixPath('/home/me/.cache/cnnlab/datasets/signs')
    """
    entry = get_named(name)
    final = dataset_dir(name)
    if from_path is None and not force and is_fetched(name):
        verify_fetched(name)
        return final
    parent = final.parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.tmp-"))
    try:
        archive_sha = None
        origin = url or entry.url
        if from_path is not None:
            src = Path(from_path)
            origin = str(src.resolve())
            if src.is_dir():
                (base, layout), move = _find_layout(entry, src), False
            elif src.is_file():
                if not zipfile.is_zipfile(src):
                    raise DatasetError(f"{src}: not a zip archive or a folder")
                archive_sha = sha256_file(src)
                safe_extract(src, work / "unpacked", max_bytes=max_bytes)
                (base, layout), move = _unpacked_layout(entry, work, src), True
            else:
                raise DatasetError(f"{src}: no such file or folder")
        else:
            try:
                archive, archive_sha = _obtain_archive(entry, origin, opener, progress, max_bytes)
            except DatasetError as exc:
                raise DatasetError(
                    f"{exc}; without network, download {origin} elsewhere and run "
                    f"`cnnlab data fetch {name} --from PATH` with the zip or its folder"
                ) from None
            safe_extract(archive, work / "unpacked", max_bytes=max_bytes)
            (base, layout), move = _unpacked_layout(entry, work, archive), True
        staged = work / "dataset"
        staged.mkdir()
        _gather(base, layout, staged, move)
        try:
            digest, counts = listing_sha256(staged)
        except DatasetError as exc:  # e.g. one image in two classes: named in the source
            n_files = sum(p.suffix.lower() in IMAGE_SUFFIXES for p in staged.rglob("*"))
            _check_decodable(name, staged, origin, n_files)  # an unreadable image first
            raise DatasetError(
                f"{str(exc).replace(str(staged), origin)}; the cache of {name} is unchanged"
            ) from None
        manifest = {
            "name": name,
            "origin": origin,
            "archive_sha256": archive_sha,
            "files_sha256": digest,
            "counts": counts,
            "n_images": sum(counts.values()),
            "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _check_replacement(name, staged, origin, manifest["n_images"], force)
        write_text(staged / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        old = None
        if final.exists():
            old = parent / f".{name}.old-{os.getpid()}-{time.time_ns()}"
            os.replace(final, old)
        os.replace(staged, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _unpacked_layout(entry: NamedDataset, work: Path, archive: Path):
    """:func:`_find_layout` of an archive unpacked in ``work``, its errors naming the archive
    (not the temporary folder)."""
    try:
        return _find_layout(entry, work / "unpacked")
    except DatasetError as exc:
        raise DatasetError(str(exc).replace(str(work / "unpacked"), str(archive))) from None


def _check_replacement(name: str, staged: Path, origin: str, n_new: int, force: bool) -> None:
    """Refuse to put a broken set in the cache, or a smaller one over a good one.

    Every staged image must decode (a junk ``.jpg`` in a zip is caught here, before the
    rename); a complete cached copy is replaced by one with fewer images only with
    ``force``.

    Raises:
        DatasetError: naming the source, and saying the cache is unchanged.
    """
    _check_decodable(name, staged, origin, n_new)
    if is_fetched(name) and not force:
        try:
            old = json.loads((dataset_dir(name) / "manifest.json").read_text())
            n_old = int(old.get("n_images", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return  # a damaged cache is replaced
        if n_new < n_old:
            raise DatasetError(
                f"{origin}: holds {n_new} images, fewer than the {n_old} already in the cache "
                f"of {name}; the cache is unchanged (pass --force to replace it)"
            )


def _check_decodable(name: str, staged: Path, origin: str, n_new: int) -> None:
    """Every staged image must decode; the first that does not is named as in the source."""
    bad = []
    for path in sorted(staged.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            try:
                decode_image(path, None)
            except DatasetError as exc:  # named as in the source, not the staging folder
                bad.append(str(exc).replace(f"{staged}{os.sep}", ""))
    if bad:
        raise DatasetError(
            f"{origin}: {len(bad)} of {n_new} images cannot be read (the first: {bad[0]}); "
            f"the cache of {name} is unchanged"
        )


def verify_fetched(name: str) -> dict:
    """Check the cached copy of ``name`` against its manifest; return the manifest.

    Raises:
        DatasetError: not fetched, or the files changed since the fetch.
    """
    folder = dataset_dir(name)
    manifest = _read_json(folder / "manifest.json")
    if manifest is None:
        raise DatasetError(
            f"{name} is not in the cache ({folder}); run `cnnlab data fetch {name}` "
            f"(or `cnnlab data fetch {name} --from PATH` with a downloaded zip or folder)"
        )
    digest, _ = listing_sha256(folder)
    if digest != manifest.get("files_sha256"):
        raise DatasetError(
            f"{folder}: the cached {name} files changed since they were fetched "
            f"(sha256 of the listing differs); run `cnnlab data fetch {name} --force`"
        )
    return manifest


def ensure_fetched(
    name: str,
    *,
    opener: Opener | None = None,
    progress: bool | None = None,
    download: bool = True,
) -> Path:
    """The cached folder of ``name``, checked against its manifest, downloading it first if
    needed (``download=False``: never; a dataset not in the cache is refused).

    Raises:
        DatasetError: not cached and the download failed (the message says how to fetch it
            offline) or was not allowed, or the cached copy does not match its manifest.
    """
    get_named(name)
    if is_fetched(name) or not download:
        verify_fetched(name)
        return dataset_dir(name)
    try:
        return fetch(name, opener=opener, progress=progress)
    except DatasetError as exc:
        hint = (
            ""
            if "--from PATH" in str(exc)
            else (f"; run `cnnlab data fetch {name} --from PATH` with a downloaded zip or folder")
        )
        raise DatasetError(
            f"{name} is not in the cache ({dataset_dir(name)}) and fetching it failed: {exc}{hint}"
        ) from None


__all__ = [
    "IMAGE_SUFFIXES",
    "REGISTRY",
    "NamedDataset",
    "dataset_dir",
    "download",
    "ensure_fetched",
    "fetch",
    "get_named",
    "is_fetched",
    "safe_extract",
    "sha256_file",
    "verify_fetched",
]
