"""Shared test fixtures: where the real data lives, and a private cache directory."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def _shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data not available: {path} is missing (it ships beside the repo in CI)")
    return path


@pytest.fixture(scope="session")
def signs_dir() -> Path:
    """../shared/data/sign-language-digits: 2,062 RGB 100x100 JPEGs in folders 0..9."""
    return _shared("sign-language-digits")


@pytest.fixture(scope="session")
def smiles_dir() -> Path:
    """../shared/data/smiles: 13,165 grayscale 64x64 JPEGs in smiling/ and not_smiling/."""
    return _shared("smiles")


@pytest.fixture(autouse=True, scope="session")
def _private_cnnlab_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep every test's cache out of the user's real cache directory."""
    os.environ["CNNLAB_HOME"] = str(tmp_path_factory.mktemp("cnnlab_home"))


@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of the test's own (``CNNLAB_HOME``), for tests that fill or break it."""
    home = tmp_path / "home"
    monkeypatch.setenv("CNNLAB_HOME", str(home))
    return home
