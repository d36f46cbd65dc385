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
import stat
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cnnlab._io import atomic_path, write_text
from cnnlab.data.cache import cache_dir
from cnnlab.data.images import IMAGE_SUFFIXES, ProgressBar, list_class_folders, walk_images
from cnnlab.errors import ArgumentError, DatasetError
from cnnlab.limits import (
    MAX_ARCHIVE_MEMBERS,
    MAX_COMPRESSION_RATIO,
    MAX_EXTRACT_BYTES,
    RATIO_CHECK_MIN_BYTES,
    human_bytes,
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

Opener = Callable[[str], object]


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


def _check_member(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath | None:
    """The member's safe relative path, ``None`` for folders; DatasetError if unsafe."""
    name = info.filename.replace("\\", "/")
    pure = PurePosixPath(name)
    mode = info.external_attr >> 16
    if (
        name.startswith("/")
        or (len(name) > 1 and name[1] == ":")
        or any(part == ".." for part in pure.parts)
    ):
        raise DatasetError(
            f"{archive}: member {info.filename!r} would be written outside the target folder; "
            "refusing to extract"
        )
    if stat.S_ISLNK(mode):
        raise DatasetError(
            f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract"
        )
    if info.is_dir():
        return None
    return pure


def _check_sizes(
    plan: list[tuple[zipfile.ZipInfo, PurePosixPath | None]],
    archive: Path,
    max_bytes: int,
    max_ratio: float,
) -> None:
    """Refuse a zip bomb from its declared sizes, before anything is written."""
    files = [info for info, rel in plan if rel is not None]
    if len(plan) > MAX_ARCHIVE_MEMBERS:
        raise DatasetError(
            f"{archive}: {len(plan):,} members, over the limit of {MAX_ARCHIVE_MEMBERS:,} "
            "(cnnlab.limits.MAX_ARCHIVE_MEMBERS); refusing to extract"
        )
    total = sum(info.file_size for info in files)
    if total > max_bytes:
        raise DatasetError(
            f"{archive}: expands to {human_bytes(total)}, over the limit of "
            f"{human_bytes(max_bytes)} (cnnlab.limits.MAX_EXTRACT_BYTES); "
            "refusing to extract (a zip bomb?)"
        )
    for info in files:
        if info.file_size < RATIO_CHECK_MIN_BYTES:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > max_ratio:
            raise DatasetError(
                f"{archive}: member {info.filename!r} expands {ratio:,.0f} times "
                f"({human_bytes(info.compress_size)} to {human_bytes(info.file_size)}), over "
                f"the limit of {max_ratio:g} (cnnlab.limits.MAX_COMPRESSION_RATIO); "
                "refusing to extract (a zip bomb?)"
            )


def safe_extract(
    archive: str | os.PathLike,
    target: str | os.PathLike,
    *,
    max_bytes: int = MAX_EXTRACT_BYTES,
    max_ratio: float = MAX_COMPRESSION_RATIO,
) -> None:
    """Extract a zip into ``target``, refusing any member whose path leaves it, and bombs.

    All members are checked before anything is written: absolute paths, ``..``
    components and symbolic links raise :class:`DatasetError` naming the member, and so
    does a declared total size over ``max_bytes``, more than ``MAX_ARCHIVE_MEMBERS``
    members, or a member over 1 MiB that expands more than ``max_ratio`` times. While
    extracting, the bytes actually written are counted too (headers can lie); past a
    member's declared size or ``max_bytes`` the extraction stops and everything it wrote
    is removed.

    Args:
        archive: the zip file.
        target: folder to extract into (created if missing).
        max_bytes: limit on the total expanded size (default ``MAX_EXTRACT_BYTES``, 2 GiB).
        max_ratio: limit on a member's expanded / compressed size (default 100).
    """
    archive, target = Path(archive), Path(target)
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"{archive}: not a zip archive, or truncated ({exc})") from None
    with zf:
        plan = [(info, _check_member(info, archive)) for info in zf.infolist()]
        _check_sizes(plan, archive, max_bytes, max_ratio)
        existed = target.exists()
        target.mkdir(parents=True, exist_ok=True)
        real_target = Path(os.path.realpath(target))
        created: list[Path] = []
        try:
            _extract(zf, plan, archive, real_target, max_bytes, created)
        except BaseException:
            if existed:  # remove only what this extraction wrote
                for path in created:
                    path.unlink(missing_ok=True)
            else:
                shutil.rmtree(real_target, ignore_errors=True)
            raise


def _extract(
    zf, plan, archive: Path, real_target: Path, max_bytes: int, created: list[Path]
) -> None:
    """Write the members, counting the bytes actually expanded (headers can lie)."""
    written = 0
    for info, rel in plan:
        if rel is None:
            continue
        dest = real_target.joinpath(*rel.parts)
        if not Path(os.path.realpath(dest.parent)).is_relative_to(real_target):
            raise DatasetError(f"{archive}: member {info.filename!r} leaves the target folder")
        dest.parent.mkdir(parents=True, exist_ok=True)
        member = 0
        created.append(dest)
        try:
            with zf.open(info) as src, open(dest, "wb") as out:
                while block := src.read(1 << 20):
                    member += len(block)
                    written += len(block)
                    if member > info.file_size or written > max_bytes:
                        raise DatasetError(
                            f"{archive}: member {info.filename!r} expands beyond its declared "
                            f"size ({human_bytes(info.file_size)}) or the limit of "
                            f"{human_bytes(max_bytes)}; extraction stopped and removed"
                        )
                    out.write(block)
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{archive}: member {info.filename!r} is damaged ({exc})") from None


# ------------------------------------------------------------------------ download


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    opener: Opener | None = None,
    progress: bool | None = None,
    description: str = "downloading",
    max_bytes: int = MAX_EXTRACT_BYTES,
) -> str:
    """Stream ``url`` to ``dest`` through a temporary file; return the sha256.

    Args:
        url: any URL ``urllib`` opens (``https://``, ``file://``, ...).
        dest: final file; it appears only once the download is complete.
        opener: ``opener(url)`` returns a response with ``read(n)`` (and optionally
            ``headers``); defaults to ``urllib.request.urlopen`` with a 60 s timeout.
        progress: show a rich progress bar (default: when stdout is a terminal).
        max_bytes: refuse a download larger than this (default ``MAX_EXTRACT_BYTES``,
            2 GiB), by its Content-Length or by the bytes received.

    Raises:
        DatasetError: the download failed, was cut short or is over ``max_bytes``;
            nothing is left at ``dest``.
    """
    import http.client
    import urllib.error
    import urllib.request

    if opener is None:

        def opener(u):
            return urllib.request.urlopen(u, timeout=60)  # noqa: S310

    h = hashlib.sha256()
    got = 0
    try:
        with contextlib.ExitStack() as stack:
            resp = opener(url)
            if hasattr(resp, "__exit__"):
                stack.enter_context(resp)
            headers = getattr(resp, "headers", None)
            length = headers.get("Content-Length") if headers is not None else None
            total = int(length) if length and str(length).isdigit() else None
            too_big = DatasetError(
                f"download of {url} is over the limit of {human_bytes(max_bytes)} "
                "(cnnlab.limits.MAX_EXTRACT_BYTES); stopped and removed"
            )
            if total is not None and total > max_bytes:
                raise too_big
            tmp = stack.enter_context(atomic_path(dest))
            out = stack.enter_context(open(tmp, "wb"))
            bar = stack.enter_context(ProgressBar(progress, description, total, in_bytes=True))
            while block := resp.read(1 << 16):
                out.write(block)
                h.update(block)
                got += len(block)
                if got > max_bytes:
                    raise too_big
                bar(len(block))
            if total is not None and got != total:
                raise DatasetError(f"download of {url} was cut short: got {got} of {total} bytes")
            out.flush()
    except DatasetError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DatasetError(f"could not download {url}: {reason}") from None
    return h.hexdigest()


# --------------------------------------------------------------------------- fetch


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
                (base, layout), move = _find_layout(entry, work / "unpacked"), True
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
            (base, layout), move = _find_layout(entry, work / "unpacked"), True
        staged = work / "dataset"
        staged.mkdir()
        _gather(base, layout, staged, move)
        digest, counts = listing_sha256(staged)
        manifest = {
            "name": name,
            "origin": origin,
            "archive_sha256": archive_sha,
            "files_sha256": digest,
            "counts": counts,
            "n_images": sum(counts.values()),
            "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
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
