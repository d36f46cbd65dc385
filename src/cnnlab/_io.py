"""Atomic file writes: write to a temporary name beside the target, then rename.

A crash or Ctrl-C therefore never leaves a half-written file under the final
name; the user's previous file, if any, stays intact until the new one is
complete.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cnnlab.errors import ArgumentError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it to ``path`` on success.

    The temporary file is removed if the block raises. ``suffix`` defaults to the
    target's own suffix, so libraries that look at the extension (``np.savez``,
    Keras, Pillow) behave as for the final name.

    Example:
        >>> with atomic_path("weights.npz") as tmp:   # doctest: +SKIP
        ...     np.savez(tmp, w=w)
    """
    path = Path(path)
    with _naming(path):
        _make_folder(path.parent)
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent,
            prefix=f"{TEMP_PREFIX}{path.name}.",
            suffix=(path.suffix if suffix is None else suffix),
        )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _naming(path):
            yield tmp
            # mkstemp creates the file private (0600); give it the usual permissions.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


TEMP_PREFIX = "."
"""Temporaries are hidden files named ``.<target name>.<random><suffix>`` beside the target."""


def stale_temporaries(folder: str | os.PathLike, name: str) -> list[Path]:
    """The temporaries that an interrupted :func:`atomic_path` for ``folder/name`` left behind."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{TEMP_PREFIX}{glob.escape(name)}.*") if p.is_file())


def _make_folder(folder: Path) -> None:
    """``mkdir -p``; a regular file in the way is named as "Not a directory"."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.is_file()), folder)
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(blocking)) from None


def check_folder_possible(path: str | os.PathLike) -> None:
    """Refuse, before any work, a ``path`` whose folder could not be made: a regular file
    stands where a folder above it must be (named as "Not a directory", as a write would).
    Nothing is created."""
    path = Path(path)
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(parent))
            return


@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """An ``OSError`` about the temporary, or naming no file (a full disk, a size limit), is
    re-raised naming ``path``: the user is told which of their files could not be written."""
    try:
        yield
    except OSError as exc:
        name = exc.filename
        ours = name is None or Path(os.fsdecode(name)).name.startswith(f"{TEMP_PREFIX}{path.name}.")
        if ours and exc.errno is not None:
            raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
        raise


def png_path(path: str | os.PathLike, name: str = "out", what: str = "a PNG") -> Path:
    """``path`` as a Path, if it names a PNG file.

    Raises:
        ArgumentError: the name does not end in ``.png`` (a ``.jpg`` would get PNG bytes).
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ArgumentError(f"{name} must end in .png ({what}). Received: {name}={path}")
    return path


def save_figure(fig, path: str | os.PathLike, **savefig_kwargs) -> Path:
    """Write a Matplotlib figure to ``path`` as PNG, atomically; returns the path.

    Raises:
        ArgumentError: ``path`` does not end in ``.png``.
    """
    path = png_path(path, "path")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", **savefig_kwargs)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))
