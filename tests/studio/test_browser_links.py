"""The studio's links in a real browser (issue 27): cells that move the window when clicked (or
hovered while paused), images of the runs view that open in the explorer, the URL that holds
every view's state (a copied URL reopens it; back / forward), and runs compared.

The real ``cnnlab studio`` serves the ``runs_dir`` fixture's two digits runs; the numbers read
off the page are checked against ``cnnlab.ops``.
"""

from __future__ import annotations

import csv
import json
import shutil
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from cnnlab.ops import conv2d_forward, pool2d_forward

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (uv sync installs the dev dependencies)"
)
from _browser import (  # noqa: E402
    Studio,
    by_testid,
    conv_size,
    grid_values,
    open_view,
    screenshot,
    set_kernel,
    set_typed_input,
    type_into,
    wait_for,
)
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("console_is_clean")]

INPUT = np.array(
    [
        [0, 1, 2, 3, 4, 5, 6],
        [7, 8, 9, 8, 7, 6, 5],
        [1, 0, 3, 0, 5, 0, 7],
        [9, 9, 9, 1, 1, 1, 2],
        [2, 4, 6, 8, 6, 4, 2],
        [5, 3, 1, 0, 1, 3, 5],
    ],
    dtype=np.float64,
)
KERNEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)


# ---------- helpers ----------


def cell(driver, testid: str, r: int, c: int):
    """A grid's cell, scrolled to the middle of the window (clear of the sticky top bar)."""
    el = driver.find_element(
        By.CSS_SELECTOR, f'[data-testid="{testid}"] g.cell[data-r="{r}"][data-c="{c}"]'
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", el)
    return el


def message(driver) -> str:
    assert by_testid(driver, "message").is_displayed()
    return by_testid(driver, "message-text").text


def shown_sum(driver, testid: str) -> tuple[int, int, float]:
    el = by_testid(driver, testid)
    return (
        int(el.get_attribute("data-i")),
        int(el.get_attribute("data-j")),
        float(el.get_attribute("data-value")),
    )


def wait_sum_at(driver, testid: str, i: int, j: int) -> float:
    wait_for(lambda: shown_sum(driver, testid)[:2] == (i, j), f"{testid} at ({i}, {j})", 20)
    return shown_sum(driver, testid)[2]


def params(driver) -> tuple[str, dict[str, str]]:
    """The view and parameters of the page's URL hash."""
    fragment = urlsplit(driver.current_url).fragment
    view, _, query = fragment.partition("?")
    return view, {k: v[0] for k, v in parse_qs(query).items()}


def reopen(driver, url: str) -> None:
    """``url`` in a fresh page, until it is ready and its link applied."""
    driver.get("about:blank")
    driver.get(url)
    wait_for(
        lambda: driver.execute_script(
            "const d = document.body.dataset; return d.ready === 'true' && d.routed === 'true'"
        ),
        "the page to open the link",
    )


def explorer_ready(driver):
    result = by_testid(driver, "explore-result")
    wait_for(
        lambda: (
            result.get_attribute("data-ready") == "true"
            and result.get_attribute("data-busy") == "false"
        ),
        "the explorer's answer",
    )
    return result


def open_first_conv_detail(driver):
    """Click the first Conv2D's channel 1; returns the detail panel (ready)."""
    first = driver.find_element(
        By.CSS_SELECTOR, '[data-testid="feature-map"][data-detail="true"][data-channel="1"]'
    )
    layer = first.get_attribute("data-layer")
    first.click()
    detail = by_testid(driver, "detail")
    wait_for(
        lambda: (
            detail.get_attribute("data-ready") == "true"
            and detail.get_attribute("data-layer") == layer
        ),
        "the detail",
    )
    return detail, layer


def detail_z_expected(driver, i: int, j: int) -> float:
    """z[i, j] of the detail panel's map by cnnlab.ops, from the page's padded input, kernel
    and bias (the first Conv2D: one input channel)."""
    padded, _ = grid_values(driver, "detail-in-grid")
    kernel, _ = grid_values(driver, "detail-kernel-grid")
    bias = float(by_testid(driver, "detail-bias").get_attribute("data-value"))
    stride = [int(s) for s in by_testid(driver, "detail").text.split("stride ")[1][:5].split(" × ")]
    z = conv2d_forward(padded[None, :, :, None], kernel[:, :, None, None], stride=stride)[0]
    return float(z[0, i, j, 0]) + bias


def history(runs_dir, run: str) -> dict[str, list[float]]:
    with open(runs_dir / run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [float(r[k]) for r in rows] for k in rows[0] if k != "epoch"}


# ---------- click or hover a cell ----------


def test_clicking_cells_moves_the_convolution_and_pooling_window(driver, studio):
    open_view(driver, studio, "playground")
    set_typed_input(driver, INPUT)
    set_kernel(driver, KERNEL)
    type_into(by_testid(driver, "conv-stride"), "2")
    expected = conv2d_forward(INPUT[None, :, :, None], KERNEL[:, :, None, None], stride=2)[0][
        0, :, :, 0
    ]
    wait_for(lambda: conv_size(driver) == expected.shape, f"output size {expected.shape}")
    wait_for(lambda: np.array_equal(grid_values(driver, "calc-kernel")[0], KERNEL), "the kernel")
    assert expected.shape == (2, 3)

    # An output cell: that cell's step, its window, products and sum.
    cell(driver, "conv-output", 1, 2).click()
    assert wait_sum_at(driver, "conv-sum", 1, 2) == pytest.approx(expected[1, 2], abs=1e-4)
    window = INPUT[2:5, 4:7]
    assert np.array_equal(grid_values(driver, "calc-window")[0], window)
    assert np.allclose(grid_values(driver, "calc-products")[0], window * KERNEL)
    assert by_testid(driver, "conv-step-pos").text.startswith("cell (1, 2)")

    # An input cell: the first output (row by row) whose window covers it. Input row 3 is in
    # the window of output row 1 only (rows 2-4); column 2 in those of output columns 0 (0-2)
    # and 1 (2-4): the first is (1, 0).
    cell(driver, "conv-input", 3, 2).click()
    assert wait_sum_at(driver, "conv-sum", 1, 0) == pytest.approx(expected[1, 0], abs=1e-4)
    cell(driver, "conv-input", 0, 0).click()
    assert wait_sum_at(driver, "conv-sum", 0, 0) == pytest.approx(expected[0, 0], abs=1e-4)

    # Hovering an output cell, the step-through paused, moves the window too.
    target = cell(driver, "conv-output", 0, 1)
    webdriver.ActionChains(driver).move_to_element(target).move_by_offset(2, 1).perform()
    assert wait_sum_at(driver, "conv-sum", 0, 1) == pytest.approx(expected[0, 1], abs=1e-4)

    # Pooling (max 2 x 2, stride 2, of the convolution's output 2 x 3, padding 'same').
    Select(by_testid(driver, "pool-padding")).select_by_value("same")
    pooled = pool2d_forward(expected[None, :, :, None], 2, 2, "same", "max")[0][0, :, :, 0]
    wait_for(
        lambda: by_testid(driver, "pool-output-size").get_attribute("data-cols") == "2",
        "the pooled output",
    )
    cell(driver, "pool-output", 0, 1).click()
    assert wait_sum_at(driver, "pool-sum", 0, 1) == pytest.approx(pooled[0, 1], abs=1e-4)
    cell(driver, "pool-input", 1, 1).click()
    assert wait_sum_at(driver, "pool-sum", 0, 0) == pytest.approx(pooled[0, 0], abs=1e-4)


def test_clicking_cells_of_the_detail_panel_moves_its_window(driver, studio):
    reopen(driver, f"{studio}#explorer?run=digits-numpy&image=test:4")
    explorer_ready(driver)
    detail, _ = open_first_conv_detail(driver)
    ow = int(by_testid(detail, "detail-output").get_attribute("data-cols"))
    assert ow > 6

    def z_at(i, j):
        wait_for(lambda: detail.get_attribute("data-k") == str(i * ow + j), f"step ({i}, {j})")
        return float(by_testid(detail, "detail-z").get_attribute("data-value"))

    cell(driver, "detail-output", 5, 6).click()
    assert z_at(5, 6) == pytest.approx(detail_z_expected(driver, 5, 6), abs=1e-4)
    assert "z[5, 6]" in by_testid(detail, "detail-sum").text
    # An input cell (padded grid): the first output whose window covers it.
    kh, kw = grid_values(driver, "detail-kernel-grid")[0].shape
    r, c = 9, 7
    i, j = max(0, r - kh + 1), max(0, c - kw + 1)  # stride 1
    cell(driver, "detail-in-grid", r, c).click()
    assert z_at(i, j) == pytest.approx(detail_z_expected(driver, i, j), abs=1e-4)


# ---------- images of the runs view open in the explorer ----------


def test_top_loss_and_confusion_images_open_in_the_explorer(driver, studio):
    reopen(driver, f"{studio}#runs?run=digits-numpy")
    losses = by_testid(driver, "top-losses")
    wait_for(lambda: losses.get_attribute("data-ready") == "true", "the top losses")
    item = by_testid(driver, "top-loss", many=True)[1]
    link = by_testid(item, "top-loss-link")
    image, run, pred = (
        link.get_attribute("data-image"),
        link.get_attribute("data-run"),
        item.get_attribute("data-pred"),
    )
    assert run == "digits-numpy" and image.startswith("test:")
    link.click()
    wait_for(lambda: driver.execute_script("return document.body.dataset.view") == "explorer", "")
    result = explorer_ready(driver)
    wait_for(lambda: result.get_attribute("data-image-id") == f"s:{image}", f"image {image}")
    assert Select(by_testid(driver, "explore-run")).first_selected_option.text == run
    assert by_testid(driver, "explore-predicted").get_attribute("data-class") == pred
    assert params(driver) == ("explorer", {"run": run, "image": image})

    driver.back()  # the runs view again
    wait_for(lambda: driver.execute_script("return document.body.dataset.view") == "runs", "")
    filled = wait_for(
        lambda: [
            c
            for c in driver.find_elements(By.CSS_SELECTOR, '[data-testid="confusion-cell"]')
            if int(c.get_attribute("data-count")) > 0
        ],
        "the confusion matrix",
    )
    filled[-1].click()
    gallery = by_testid(driver, "confusion-images")
    wait_for(lambda: gallery.get_attribute("data-ready") == "true", "the cell's images")
    first = by_testid(gallery, "confusion-image")
    image = first.get_attribute("data-image")
    first.click()
    result = explorer_ready(driver)
    wait_for(lambda: result.get_attribute("data-image-id") == f"s:{image}", f"image {image}")
    assert params(driver)[1]["image"] == image


# ---------- the URL holds the state ----------


def test_an_explorer_url_reopens_the_same_detail(driver, studio, shots):
    open_view(driver, studio, "explorer")
    Select(by_testid(driver, "explore-run")).select_by_value("digits-keras")
    explorer_ready(driver)
    wait_for(lambda: params(driver)[1].get("run") == "digits-keras", "the run in the URL")
    by_testid(driver, "explore-sample", many=True)[3].click()
    result = explorer_ready(driver)
    wait_for(lambda: result.get_attribute("data-image-id") == "s:test:3", "sample 3")
    detail, layer = open_first_conv_detail(driver)
    cell(driver, "detail-output", 4, 5).click()
    ow = int(by_testid(detail, "detail-output").get_attribute("data-cols"))
    wait_for(lambda: params(driver)[1].get("cell") == "4,5", "the cell in the URL")
    z = by_testid(detail, "detail-z").get_attribute("data-value")
    view, state = params(driver)
    assert (view, state) == (
        "explorer",
        {"run": "digits-keras", "image": "test:3", "layer": layer, "channel": "1", "cell": "4,5"},
    )

    reopen(driver, driver.current_url)
    detail = by_testid(driver, "detail")
    wait_for(lambda: detail.get_attribute("data-ready") == "true", "the detail reopened")
    assert Select(by_testid(driver, "explore-run")).first_selected_option.text == "digits-keras"
    assert by_testid(driver, "explore-result").get_attribute("data-image-id") == "s:test:3"
    assert (detail.get_attribute("data-layer"), detail.get_attribute("data-channel")) == (
        layer,
        "1",
    )
    assert detail.get_attribute("data-k") == str(4 * ow + 5)
    assert by_testid(detail, "detail-z").get_attribute("data-value") == z
    assert not by_testid(driver, "message").is_displayed()
    screenshot(driver, shots, "link", element=detail)


def test_a_playground_url_reopens_the_same_settings_and_step(driver, studio):
    open_view(driver, studio, "playground")
    set_typed_input(driver, INPUT)
    set_kernel(driver, KERNEL)
    type_into(by_testid(driver, "conv-bias"), "-3")
    Select(by_testid(driver, "conv-padding")).select_by_value("same")
    Select(by_testid(driver, "pool-mode")).select_by_value("average")
    type_into(by_testid(driver, "pool-size"), "3")
    expected = (
        conv2d_forward(INPUT[None, :, :, None], KERNEL[:, :, None, None], stride=1, padding="same")[
            0
        ][0, :, :, 0]
        - 3
    )
    pooled = pool2d_forward(expected[None, :, :, None], 3, 2, "valid", "average")[0][0, :, :, 0]
    wait_for(
        lambda: (
            by_testid(driver, "pool-output-size").get_attribute("data-rows") == str(pooled.shape[0])
        ),
        "the pooling",
    )
    cell(driver, "conv-output", 4, 5).click()
    cell(driver, "pool-output", 1, 2).click()
    wait_for(
        lambda: (
            params(driver)[1].get("cell") == "4,5" and params(driver)[1].get("pool_cell") == "1,2"
        ),
        "the cells in the URL",
    )
    state = params(driver)[1]
    assert state["input"] == "numbers" and state["kernel"] == "1,0,-1;2,0,-2;1,0,-1"
    assert (state["bias"], state["padding"], state["pool"], state["pool_size"]) == (
        "-3",
        "same",
        "average",
        "3",
    )

    reopen(driver, driver.current_url)
    assert np.array_equal(grid_values(driver, "calc-kernel")[0], KERNEL)
    values, _ = grid_values(driver, "conv-input")
    assert np.array_equal(values[1:-1, 1:-1], INPUT)  # 'same': one zero on every side
    assert shown_sum(driver, "conv-sum") == (4, 5, pytest.approx(expected[4, 5], abs=1e-4))
    assert shown_sum(driver, "pool-sum") == (1, 2, pytest.approx(pooled[1, 2], abs=1e-4))
    assert by_testid(driver, "conv-padding").get_attribute("value") == "same"
    assert by_testid(driver, "pool-mode").get_attribute("value") == "average"
    assert by_testid(driver, "conv-bias").get_attribute("value") == "-3"


def test_back_and_forward_move_between_the_states_made(driver, studio):
    reopen(driver, f"{studio}#explorer?run=digits-numpy&image=test:0")
    result = explorer_ready(driver)
    assert result.get_attribute("data-image-id") == "s:test:0"
    by_testid(driver, "explore-sample", many=True)[5].click()
    wait_for(lambda: result.get_attribute("data-image-id") == "s:test:5", "sample 5")
    detail, layer = open_first_conv_detail(driver)
    wait_for(lambda: params(driver)[1].get("layer") == layer, "the layer in the URL")
    by_testid(detail, "detail-step-next").click()  # a step replaces the entry
    wait_for(lambda: params(driver)[1].get("cell") == "0,1", "the step in the URL")

    driver.back()
    wait_for(lambda: not detail.is_displayed(), "the detail closed by Back")
    assert result.get_attribute("data-image-id") == "s:test:5"
    assert params(driver)[1] == {"run": "digits-numpy", "image": "test:5"}
    driver.back()
    wait_for(lambda: result.get_attribute("data-image-id") == "s:test:0", "sample 0 by Back")
    driver.forward()
    wait_for(lambda: result.get_attribute("data-image-id") == "s:test:5", "sample 5 by Forward")
    driver.forward()
    detail = by_testid(driver, "detail")
    wait_for(
        lambda: (
            detail.get_attribute("data-ready") == "true"
            and detail.get_attribute("data-layer") == layer
            and detail.get_attribute("data-k") == "1"
        ),
        "the detail by Forward, at its step",
    )


def test_back_and_forward_in_the_playground(driver, studio):
    open_view(driver, studio, "playground")
    wait_for(lambda: params(driver)[1].get("stride") == "1", "the playground's state in the URL")
    assert params(driver)[1]["kernel"] == "vertical_edge" and conv_size(driver) == (6, 6)
    type_into(by_testid(driver, "conv-stride"), "2")
    wait_for(lambda: params(driver)[1].get("stride") == "2", "stride 2 in the URL")
    Select(by_testid(driver, "kernel-preset")).select_by_value("blur")
    wait_for(lambda: params(driver)[1].get("kernel") == "blur", "the blur kernel in the URL")

    def shown(kernel, stride, size):
        return (
            by_testid(driver, "kernel-preset").get_attribute("value") == kernel
            and by_testid(driver, "conv-stride").get_attribute("value") == stride
            and conv_size(driver) == size
        )

    driver.back()
    wait_for(lambda: shown("vertical_edge", "2", (3, 3)), "the edge kernel, stride 2, by Back")
    driver.back()
    wait_for(lambda: shown("vertical_edge", "1", (6, 6)), "stride 1 by Back")
    driver.forward()
    driver.forward()
    wait_for(lambda: shown("blur", "2", (3, 3)), "blur, stride 2, by Forward twice")


def test_bad_values_in_a_link_give_one_error_line_and_a_sane_view(request, driver, studio):
    request.node.allowed_failed_loads = 1  # the out-of-range image's 404

    reopen(driver, f"{studio}#explorer?run=no-such-run&image=test:3&layer=conv2d")
    result = explorer_ready(driver)
    text = message(driver)
    assert '"no-such-run"' in text and "no such run" in text and "\n" not in text
    shown = Select(by_testid(driver, "explore-run")).first_selected_option.text
    assert shown in ("digits-numpy", "digits-keras")
    assert params(driver)[1]["run"] == shown and result.get_attribute("data-image-id")

    reopen(driver, f"{studio}#explorer?run=digits-numpy&image=test:99999")
    result = explorer_ready(driver)
    assert "99999" in message(driver) and "\n" not in message(driver)
    assert result.get_attribute("data-image-id") == "s:test:0"

    reopen(driver, f"{studio}#explorer?run=digits-numpy&image=test:2&layer=nope&channel=1")
    result = explorer_ready(driver)
    assert '"nope"' in message(driver) and "no such layer" in message(driver)
    assert result.get_attribute("data-image-id") == "s:test:2"
    assert not by_testid(driver, "detail").is_displayed()

    reopen(driver, f"{studio}#runs?run=no-such-run")
    assert '"no-such-run"' in message(driver)
    wait_for(lambda: by_testid(driver, "run-main").get_attribute("data-run"), "a run shown")


# ---------- runs compared ----------


def test_two_runs_compared_with_a_legend_log_scale_and_best_epochs(driver, studio, runs_dir, shots):
    reopen(driver, f"{studio}#runs?run=digits-numpy")
    loss = wait_for(lambda: by_testid(driver, "curve-loss"), "the loss curves")
    assert {
        p.get_attribute("data-series") for p in loss.find_elements(By.CSS_SELECTOR, "path")
    } == {
        "train",
        "validation",
    }
    box = driver.find_element(
        By.CSS_SELECTOR, '[data-testid="compare-run"][data-name="digits-keras"]'
    )
    box.click()

    def runs_drawn(testid):
        chart = by_testid(driver, testid)
        return {p.get_attribute("data-run") for p in chart.find_elements(By.CSS_SELECTOR, "path")}

    wait_for(lambda: runs_drawn("curve-loss") == {"digits-numpy", "digits-keras"}, "two runs")
    assert runs_drawn("curve-accuracy") == {"digits-numpy", "digits-keras"}
    legend = [
        e.text
        for e in by_testid(driver, "curves-card").find_elements(
            By.CSS_SELECTOR, '[data-testid="legend-item"]'
        )
    ]
    for run in ("digits-numpy", "digits-keras"):
        assert f"{run} · train" in legend and f"{run} · validation" in legend
    colours = {
        p.get_attribute("data-run"): p.get_attribute("stroke")
        for p in by_testid(driver, "curve-loss").find_elements(By.CSS_SELECTOR, "path")
    }
    assert len(set(colours.values())) == 2
    # Each run's best epoch, labelled with its validation loss (history.csv).
    labels = sorted(
        e.text
        for e in by_testid(driver, "curve-loss").find_elements(
            By.CSS_SELECTOR, '[data-testid="best-label"]'
        )
    )
    want = []
    for run in ("digits-numpy", "digits-keras"):
        hist = history(runs_dir, run)
        best = int(np.argmin(hist["val_loss"])) + 1
        val_loss = float(f"{hist['val_loss'][best - 1]:.4g}")
        want.append(f"best: epoch {best}, val_loss {val_loss:g}")
    assert labels == sorted(want)
    # The learning rate: cnnlab's training writes it in history.csv.
    assert "learning_rate" in history(runs_dir, "digits-numpy")
    assert runs_drawn("curve-lr") == {"digits-numpy", "digits-keras"}
    assert params(driver)[1] == {"run": "digits-numpy", "compare": "digits-keras"}

    def ticks(testid):
        """The y axis's ticks: their values and heights on the chart."""
        chart = by_testid(driver, testid)
        found = [
            (float(t.get_attribute("data-value")), float(t.get_attribute("y")))
            for t in chart.find_elements(By.CSS_SELECTOR, ".tick-y")
        ]
        return np.array(found).T

    def straight(x, y) -> bool:
        fit = np.polyval(np.polyfit(x, y, 1), x)
        return bool(np.allclose(fit, y, atol=0.5))

    values, heights = ticks("curve-loss")
    assert by_testid(driver, "curve-loss").get_attribute("data-scale") == "linear"
    assert straight(values, heights)  # evenly spaced values, evenly spaced
    by_testid(driver, "curves-log").click()
    wait_for(lambda: by_testid(driver, "curve-loss").get_attribute("data-scale") == "log", "log")
    values, heights = ticks("curve-loss")
    assert len(values) >= 3 and min(values) > 0
    assert straight(np.log10(values), heights) and not straight(values, heights)
    assert by_testid(driver, "curve-lr").get_attribute("data-scale") == "log"
    assert by_testid(driver, "curve-accuracy").get_attribute("data-scale") == "linear"
    wait_for(lambda: params(driver)[1].get("log") == "1", "the log scale in the URL")
    screenshot(driver, shots, "runs-compared")  # the whole page: a figure is at least 600 px a side

    reopen(driver, driver.current_url)  # the comparison reopens from its link
    wait_for(lambda: runs_drawn("curve-loss") == {"digits-numpy", "digits-keras"}, "two runs")
    assert by_testid(driver, "curve-loss").get_attribute("data-scale") == "log"
    assert driver.find_element(
        By.CSS_SELECTOR, '[data-testid="compare-run"][data-name="digits-keras"]'
    ).is_selected()


def test_a_run_without_a_learning_rate_says_so(driver, runs_dir, tmp_path):
    """A run made before history.csv had a learning_rate column: no curve is guessed."""
    old = tmp_path / "runs" / "old-run"
    shutil.copytree(runs_dir / "digits-numpy", old)
    checkpoint = json.loads((old / "checkpoint.json").read_text())
    del checkpoint["history"]["learning_rate"]
    (old / "checkpoint.json").write_text(json.dumps(checkpoint))
    rows = list(csv.DictReader((old / "history.csv").read_text().splitlines()))
    with open(old / "history.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, [k for k in rows[0] if k != "learning_rate"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "learning_rate"} for r in rows)
    server = Studio(tmp_path / "runs")
    try:
        reopen(driver, f"{server.url}#runs?run=old-run")
        note = wait_for(lambda: by_testid(driver, "lr-none"), "the learning-rate note")
        assert note.text.startswith("no learning rate recorded")
        assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="curve-lr"]')
        assert by_testid(driver, "curve-loss").find_elements(By.CSS_SELECTOR, "path")
    finally:
        server.stop()
