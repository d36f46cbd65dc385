"""Archives and downloads, taken safely: a zip is checked before anything is extracted
(member paths stay inside the target, links are refused, zip bombs are refused by their
declared total size, member count and compression ratio, limits in :mod:`cnnlab.limits`),
the bytes actually expanded are counted as well, and a download goes to a temporary file
with its size bounded and its sha256 computed as it streams."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from cnnlab._io import atomic_path
from cnnlab.data.images import ProgressBar
from cnnlab.errors import DatasetError
from cnnlab.limits import (
    MAX_ARCHIVE_MEMBERS,
    MAX_COMPRESSION_RATIO,
    MAX_EXTRACT_BYTES,
    RATIO_CHECK_MIN_BYTES,
    human_bytes,
)

__all__ = ["Opener", "download", "safe_extract"]

Opener = Callable[[str], object]
"""Opens a URL for reading (``urllib.request.urlopen`` by default; tests pass a fake)."""


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
