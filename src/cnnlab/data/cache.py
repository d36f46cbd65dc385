"""Where cnnlab keeps downloads, fetched datasets and preprocessed arrays."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def cache_dir() -> Path:
    """The cache root: ``$CNNLAB_HOME`` if set, else the platform's user cache folder.

    Linux: ``$XDG_CACHE_HOME/cnnlab`` or ``~/.cache/cnnlab``; macOS:
    ``~/Library/Caches/cnnlab``; Windows: ``%LOCALAPPDATA%\\cnnlab\\Cache``.
    The folder is not created here.
    """
    home = os.environ.get("CNNLAB_HOME")
    if home:
        return Path(home).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "cnnlab"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "cnnlab" / "Cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnnlab"
