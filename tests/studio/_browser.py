"""The studio browser tests' harness: the real ``cnnlab studio`` in a subprocess, the
system's headless Chromium driven by Selenium, and helpers that read the page.

The fixtures (``browser_paths``, ``studio``, ``driver``, ``shots``, ``console_is_clean``) are in
conftest.py; a browser test module imports the helpers from here and marks itself
``pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("console_is_clean")]``.
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (uv sync installs the dev dependencies)"
)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

CNNLAB = Path(sys.executable).with_name("cnnlab")
WIDTH, HEIGHT = 1440, 1000
SCREENSHOTS_ENV = "CNNLAB_STUDIO_SCREENSHOTS"
# A 4xx answer the page asked for on purpose shows in the console as a failed resource load.
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Studio:
    """``cnnlab studio`` in a subprocess; its output is drained by a thread (kept for errors)."""

    def __init__(self, runs: Path, *args: str):
        """``cnnlab studio --runs RUNS [ARGS...]`` on a free port, once it answers."""
        if not CNNLAB.exists():
            pytest.fail(f"the cnnlab entry point is not installed beside {sys.executable}")
        port = _free_port()
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [str(CNNLAB), "studio", "--runs", str(runs), "--port", str(port), "--no-open", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
        )
        self.lines: list[str] = []
        found: queue.Queue[str] = queue.Queue()

        def drain() -> None:
            for line in self.proc.stdout:
                self.lines.append(line.rstrip())
                match = re.search(r"http://127\.0\.0\.1:\d+/", line)
                if match:
                    found.put(match.group(0))

        threading.Thread(target=drain, daemon=True).start()
        try:
            self.url = found.get(timeout=120)
        except queue.Empty:
            self.stop()
            pytest.fail("cnnlab studio printed no URL in 120 s:\n" + "\n".join(self.lines[-30:]))
        assert self.url == f"http://127.0.0.1:{port}/", self.url
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "api/info", timeout=5) as answer:
                    json.load(answer)
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    pytest.fail("cnnlab studio does not answer:\n" + "\n".join(self.lines[-30:]))
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start_chromium(browser_paths: tuple[str, str], profile: Path, *flags: str):
    """The system's headless Chromium (``browser_paths``: it and chromedriver) at
    ``WIDTH`` x ``HEIGHT``, its console logged, with ``flags`` added."""
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={WIDTH},{HEIGHT}",
        f"--user-data-dir={profile}",
        *flags,
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    browser.set_window_size(WIDTH, HEIGHT)
    return browser


# ---------- helpers ----------


def wait_for(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # the element is being redrawn: try again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def by_testid(root, testid: str, many: bool = False):
    selector = f'[data-testid="{testid}"]'
    return (
        root.find_elements(By.CSS_SELECTOR, selector)
        if many
        else root.find_element(By.CSS_SELECTOR, selector)
    )


def open_view(driver, url: str, view: str) -> None:
    """A fresh page (a new hash alone would not reload it) on ``view``."""
    driver.get("about:blank")
    driver.get(f"{url}#{view}")
    wait_for(
        lambda: driver.execute_script("return document.body.dataset.ready") == "true",
        "the page to be ready",
    )
    wait_for(
        lambda: driver.execute_script("return document.body.dataset.view") == view,
        f"the {view} view",
    )


def screenshot(driver, shots: list[Path], name: str, element=None) -> None:
    """A screenshot of the whole page (at most 2600 px high) or of one element, under ``shots``."""
    height = driver.execute_script(
        "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)"
    )
    metrics = {"width": WIDTH, "height": min(int(height), 2600), "deviceScaleFactor": 1}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "mobile": False})
    try:
        time.sleep(0.4)
        png = element.screenshot_as_png if element is not None else driver.get_screenshot_as_png()
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    (shots[0] / f"{name}.png").write_bytes(png)
    for folder in shots[1:]:  # for the docs: 256 colours, a third of the bytes
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB")
        image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            folder / f"studio-{name}.png", optimize=True
        )


def grid_values(driver, testid: str) -> tuple[np.ndarray, list[list[bool]]]:
    """A grid's numbers (data-value) and which cells are filled in."""
    cells = driver.execute_script(
        """const svg = document.querySelector(`[data-testid="${arguments[0]}"]`);
        return [...svg.querySelectorAll("g.cell")].map(g => [+g.dataset.r, +g.dataset.c,
            g.dataset.value, !g.classList.contains("empty"), g.textContent]);""",
        testid,
    )
    rows = max(c[0] for c in cells) + 1
    cols = max(c[1] for c in cells) + 1
    values = np.full((rows, cols), np.nan)
    filled = [[False] * cols for _ in range(rows)]
    for r, c, value, is_filled, _text in cells:
        values[r, c] = float(value) if value != "" else np.nan
        filled[r][c] = is_filled
    return values, filled


def shown_text(driver, testid: str, r: int, c: int) -> str:
    return driver.execute_script(
        """const [id, r, c] = arguments;
        const grid = document.querySelector(`[data-testid="${id}"]`);
        return grid.querySelector(`g.cell[data-r="${r}"][data-c="${c}"]`).textContent;""",
        testid,
        r,
        c,
    )


def draw(driver, canvas) -> None:
    """A 7 drawn with the mouse on a drawing pad."""
    (
        webdriver.ActionChains(driver)
        .move_to_element_with_offset(canvas, -30, -40)
        .click_and_hold()
        .move_by_offset(50, 0)
        .move_by_offset(-30, 80)
        .release()
        .perform()
    )


def type_into(element, text: str) -> None:
    element.send_keys(Keys.CONTROL, "a")
    element.send_keys(Keys.DELETE)
    element.send_keys(text)


def conv_size(driver) -> tuple[int, int]:
    el = by_testid(driver, "conv-output-size")
    return int(el.get_attribute("data-rows")), int(el.get_attribute("data-cols"))


def wait_for_new_answer(result, before: str | None, what: str) -> None:
    """Until the explorer's result shows another image than ``before``, and is not busy."""
    wait_for(
        lambda: (
            result.get_attribute("data-image-id") not in (before, None)
            and result.get_attribute("data-busy") == "false"
        ),
        what,
        timeout=30,
    )


def upload_image(driver, image: Path, timeout: float = 60.0):
    """Upload ``image`` in the explorer and wait until its answer is shown (an upload's id
    starts with "u:"); returns the result element."""
    by_testid(driver, "explore-file").send_keys(str(image))
    result = by_testid(driver, "explore-result")
    wait_for(
        lambda: (
            (result.get_attribute("data-image-id") or "").startswith("u:")
            and result.get_attribute("data-busy") == "false"
        ),
        "the upload's answer",
        timeout=timeout,
    )
    return result


def set_typed_input(driver, grid: np.ndarray, wait: bool = True) -> None:
    """Type ``grid`` as the playground's input; with ``wait``, until its grid is drawn (an
    input the convolution refuses is never drawn: the stage is cleared for the error)."""
    by_testid(driver, "source-type").click()
    box = by_testid(driver, "grid-text")
    box.clear()
    box.send_keys("\n".join(" ".join(str(int(v)) for v in row) for row in grid))
    by_testid(driver, "grid-apply").click()
    if not wait:
        return
    wait_for(
        lambda: grid_values(driver, "conv-input")[0].shape[1] >= grid.shape[1], "the typed grid"
    )


def set_kernel(driver, kernel: np.ndarray) -> None:
    Select(by_testid(driver, "kernel-size")).select_by_value(str(kernel.shape[0]))
    for r in range(kernel.shape[0]):
        for c in range(kernel.shape[1]):
            cell = driver.find_element(
                By.CSS_SELECTOR, f'[data-testid="kernel-cell"][data-r="{r}"][data-c="{c}"]'
            )
            type_into(cell, str(int(kernel[r, c])))
