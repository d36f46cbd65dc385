"""Fixtures of the studio tests: two small finished runs (one per engine) in one runs folder,
and the browser tests' server, Chromium and screenshot folders (harness in _browser.py).

Both train the course's SIGNS architecture on the built-in digits (16x16 gray, no download)
for 2 epochs, so they take seconds and need no ../shared."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cnnlab import training


def _train(out: Path, engine: str, model: str = "course", epochs: int = 2) -> Path:
    cfg = training.TrainConfig(
        task="signs",
        engine=engine,
        model=model,
        data="digits",
        epochs=epochs,
        batch_size=64,
        learning_rate=0.01,
        seed=1,
        out=str(out),
    )
    training.train(cfg, progress=False, log=lambda line: None)
    return out


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder holding ``digits-numpy`` and ``digits-keras`` (finished, 2 epochs)."""
    root = tmp_path_factory.mktemp("runs")
    _train(root / "digits-numpy", "numpy")
    _train(root / "digits-keras", "keras")
    return root


@pytest.fixture(scope="session")
def recommended_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch NumPy run of the recommended model on the digits (Conv2D,
    BatchNormalization, ReLU, MaxPooling2D, AveragePooling2D, Flatten, Dropout, Dense
    softmax): a few seconds. Copy it into a runs folder of your own to serve it."""
    return _train(tmp_path_factory.mktemp("recommended") / "run", "numpy", "recommended", 1)


@pytest.fixture(scope="module")
def client(runs_dir: Path):
    """The studio app on ``runs_dir``, through Starlette's TestClient."""
    from starlette.testclient import TestClient

    from cnnlab.studio.app import create_app

    with TestClient(create_app(runs_dir), base_url="http://127.0.0.1") as c:
        yield c


# ---------- the browser tests (Chromium through Selenium; see _browser.py) ----------


@pytest.fixture(scope="module")
def browser_paths() -> tuple[str, str]:
    from _browser import _chromium  # skips the test when selenium is not installed

    chromium, driver = _chromium(), shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    missing = " and ".join(
        n for n, p in (("chromium", chromium), ("chromedriver", driver)) if not p
    )
    reason = (
        f"{missing} not found: install the chromium and chromium-driver packages "
        "to run the browser tests"
    )
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, where they must be installed)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def studio(runs_dir: Path, browser_paths) -> str:
    from _browser import Studio

    server = Studio(runs_dir)
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def driver(browser_paths, tmp_path_factory: pytest.TempPathFactory):
    from _browser import start_chromium

    browser = start_chromium(browser_paths, tmp_path_factory.mktemp("chromium-profile"))
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Where screenshots go: the pytest temp folder, and $CNNLAB_STUDIO_SCREENSHOTS when set."""
    from _browser import SCREENSHOTS_ENV

    places = [tmp_path_factory.mktemp("screenshots")]
    if os.environ.get(SCREENSHOTS_ENV):
        extra = Path(os.environ[SCREENSHOTS_ENV])
        extra.mkdir(parents=True, exist_ok=True)
        places.append(extra)
    return places


@pytest.fixture
def console_is_clean(request, driver):
    """After each test: no error in the browser console (only the 4xx a test asked for)."""
    from _browser import FAILED_LOAD

    driver.get_log("browser")  # start from an empty log
    yield
    allowed = getattr(request.node, "allowed_failed_loads", 0)
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    expected = [e for e in errors if FAILED_LOAD.search(e["message"])][:allowed]
    unexpected = [e["message"] for e in errors if e not in expected]
    assert not unexpected, "errors in the browser console:\n" + "\n".join(unexpected)
