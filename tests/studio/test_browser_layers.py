"""Every layer explains itself in the model explorer, and the maps' colour range can be chosen
(issue 27): the numbers the page shows are read off it and compared with the model's own,
worked out here with cnnlab; a map's pixels are viridis of its values on the chosen range."""

from __future__ import annotations

import base64
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from _browser import Studio, by_testid, open_view, screenshot, wait_for
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from cnnlab import training
from cnnlab.data.prepare import scale_pixels
from cnnlab.engines import layer_outputs
from cnnlab.studio.encode import VIRIDIS
from cnnlab.training.rundata import load_data

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("console_is_clean")]


@pytest.fixture(scope="module")
def layer_runs(
    runs_dir: Path, recommended_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The SIGNS run of the shared fixture and a 1-epoch run of the recommended model (Conv2D,
    BatchNormalization, ReLU, MaxPooling2D, AveragePooling2D, Flatten, Dropout, Dense)."""
    root = tmp_path_factory.mktemp("layer-runs")
    shutil.copytree(runs_dir / "digits-numpy", root / "digits-numpy")
    shutil.copytree(recommended_run, root / "digits-bn")
    return root


@pytest.fixture(scope="module")
def layer_studio(layer_runs: Path, browser_paths) -> str:
    server = Studio(layer_runs)
    yield server.url
    server.stop()


def _activations(run_dir: Path) -> tuple[object, dict[str, np.ndarray]]:
    """The run's model and every layer's output for test sample 0, as cnnlab computes them."""
    run = training.load_run(run_dir)
    model = training.load_model(run)
    ds = load_data(run.config, progress=False)
    x = scale_pixels(ds.x_test[:1])
    acts = {"input": x[0]} | {o.name: o.output for o in layer_outputs(model, x)}
    return model, acts


def _explore(driver, url: str, run: str):
    open_view(driver, url, "explorer")
    Select(by_testid(driver, "explore-run")).select_by_value(run)
    result = by_testid(driver, "explore-result")
    wait_for(
        lambda: (
            result.get_attribute("data-ready") == "true"
            and result.get_attribute("data-busy") == "false"
            and by_testid(driver, "network").get_attribute("data-range-ready") == "true"
        ),
        "the first sample",
    )
    return result


def _open(driver, element, layer: str, channel: int):
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()
    detail = by_testid(driver, "detail")
    wait_for(
        lambda: (
            detail.get_attribute("data-ready") == "true"
            and detail.get_attribute("data-layer") == layer
            and detail.get_attribute("data-channel") == str(channel)
        ),
        f"the explanation of {layer} {channel}",
    )
    return detail


def _map(driver, layer: str, channel: int):
    return driver.find_element(
        By.CSS_SELECTOR,
        f'[data-testid="feature-map"][data-layer="{layer}"][data-channel="{channel}"]',
    )


def _value(root, testid: str) -> float:
    return float(by_testid(root, testid).get_attribute("data-value"))


def _step(driver, detail, k: int) -> None:
    by_testid(detail, "detail-step-next").click()
    wait_for(lambda: detail.get_attribute("data-k") == str(k), f"step {k}")


def _png(url: str) -> np.ndarray:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :]))).convert("RGB"))


def test_relu_pool_dense_and_softmax_explain_themselves(driver, layer_studio, layer_runs, shots):
    model, acts = _activations(layer_runs / "digits-numpy")
    names = [layer.name for layer in model.layers]  # conv, relu, pool, conv, relu, pool, ...
    relu, pool, dense = names[1], names[2], names[-1]
    _explore(driver, layer_studio, "digits-numpy")

    # ReLU: a cell's value before -> after, and the next cell
    c = 3
    detail = _open(driver, _map(driver, relu, c), relu, c)
    assert detail.get_attribute("data-kind") == "activation"
    assert _value(detail, "layer-before") == pytest.approx(acts[names[0]][0, 0, c], abs=1e-5)
    assert _value(detail, "layer-after") == pytest.approx(acts[relu][0, 0, c], abs=1e-5)
    _step(driver, detail, 1)
    assert _value(detail, "layer-before") == pytest.approx(acts[names[0]][0, 1, c], abs=1e-5)
    assert _value(detail, "layer-after") == pytest.approx(max(acts[names[0]][0, 1, c], 0), abs=1e-5)

    # MaxPooling2D(8, 8, 'same') on 16x16: each output cell is the max of its window, marked
    detail = _open(driver, _map(driver, pool, c), pool, c)
    assert detail.get_attribute("data-kind") == "pool"
    for k, (i, j) in enumerate([(0, 0), (0, 1)]):
        if k:
            _step(driver, detail, k)
        window = acts[relu][i * 8 : i * 8 + 8, j * 8 : j * 8 + 8, c]
        picked = by_testid(detail, "pool-max")
        assert float(picked.get_attribute("data-value")) == pytest.approx(window.max(), abs=1e-5)
        r, cc = int(picked.get_attribute("data-r")), int(picked.get_attribute("data-c"))
        assert acts[relu][r, cc, c] == pytest.approx(window.max(), abs=1e-6)
        assert _value(detail, "layer-after") == pytest.approx(acts[pool][i, j, c], abs=1e-5)
    screenshot(driver, shots, "layer-pool")  # the whole page: a figure is at least 600 px a side

    # Dense + softmax: the predicted class's unit, as a sum of shares, then the probabilities
    probs = acts[dense]
    unit = int(np.argmax(probs))
    row = by_testid(driver, "layer", many=True)[-1]
    target = by_testid(row, "unit-value", many=True)[unit]
    detail = _open(driver, target, dense, unit)
    assert detail.get_attribute("data-kind") == "dense"
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in model.layers[-1].get_weights())
    x = acts[names[-2]].astype(np.float64)
    z = x @ kernel + bias
    assert _value(detail, "dense-z") == pytest.approx(z[unit], abs=1e-4)
    assert _value(detail, "dense-bias") == pytest.approx(bias[unit], abs=1e-6)
    shares = [
        float(s.get_attribute("data-value")) for s in by_testid(detail, "dense-share", many=True)
    ]
    want = np.sort(np.abs(x * kernel[:, unit]))[::-1][: len(shares)]
    np.testing.assert_allclose(np.abs(shares), want, rtol=1e-4, atol=1e-6)
    total = sum(shares) + _value(detail, "dense-rest") + _value(detail, "dense-bias")
    assert total == pytest.approx(z[unit], abs=1e-4)
    # the softmax's probabilities are the model's and the page's class probabilities
    page = {
        r.get_attribute("data-class"): float(r.get_attribute("data-p"))
        for r in by_testid(driver, "prob-row", many=True)
    }
    rows = by_testid(detail, "activation-row", many=True)
    assert len(rows) == len(probs)
    run = training.load_run(layer_runs / "digits-numpy")
    for n, r in enumerate(rows):
        assert float(r.get_attribute("data-z")) == pytest.approx(z[n], abs=1e-4)
        assert float(r.get_attribute("data-p")) == pytest.approx(probs[n], abs=1e-6)
        assert float(r.get_attribute("data-p")) == pytest.approx(page[run.class_names[n]], abs=1e-6)
    e = np.exp(z - z.max())
    assert _value(detail, "softmax-p") == pytest.approx(e[unit] / e.sum(), abs=1e-5)
    screenshot(driver, shots, "layer-dense", element=detail)
    # the softmax part is in the Dense figure: this one stays a test artefact (not docs)
    screenshot(driver, shots[:1], "layer-softmax", element=by_testid(detail, "activation-part"))
    # the units are one Tab stop; the arrow keys move among them
    units = by_testid(row, "unit-value", many=True)
    assert [u.get_attribute("tabindex") for u in units].count("0") == 1

    # Flatten: its "how?" button, one line and a value before -> after
    flatten = names[-2]
    column = driver.find_element(By.CSS_SELECTOR, f'[data-testid="layer"][data-name="{flatten}"]')
    best = int(np.argmax(acts[flatten]))
    detail = _open(driver, by_testid(column, "layer-how"), flatten, best)
    assert detail.get_attribute("data-kind") == "note"
    assert "no number changes" in by_testid(detail, "layer-what").text
    biggest = float(acts[flatten].ravel()[np.abs(acts[flatten]).argmax()])
    assert _value(detail, "layer-before") == pytest.approx(biggest, abs=1e-6)
    assert _value(detail, "layer-after") == pytest.approx(biggest, abs=1e-6)


def test_batch_normalization_shows_its_four_numbers(driver, layer_studio, layer_runs, shots):
    model, acts = _activations(layer_runs / "digits-bn")
    names = [layer.name for layer in model.layers]
    bn = next(n for n, layer in zip(names, model.layers, strict=True) if "batch" in n)
    before = names[names.index(bn) - 1]
    _explore(driver, layer_studio, "digits-bn")
    c = 2
    detail = _open(driver, _map(driver, bn, c), bn, c)
    assert detail.get_attribute("data-kind") == "batchnorm"
    gamma, beta, mean, var = (
        np.asarray(w, np.float64)[c] for w in model.get_layer(bn).get_weights()
    )
    eps = model.get_layer(bn).epsilon
    for testid, want in (
        ("bn-gamma", gamma),
        ("bn-beta", beta),
        ("bn-moving_mean", mean),
        ("bn-moving_variance", var),
        ("bn-epsilon", eps),
    ):
        assert _value(detail, testid) == pytest.approx(want, rel=1e-6, abs=1e-9), testid
    for k, (i, j) in enumerate([(0, 0), (0, 1)]):
        if k:
            _step(driver, detail, k)
        x = acts[before][i, j, c]
        assert _value(detail, "layer-before") == pytest.approx(x, abs=1e-5)
        y = gamma * (x - mean) / np.sqrt(var + eps) + beta
        assert _value(detail, "layer-after") == pytest.approx(y, abs=1e-4)
        assert _value(detail, "layer-after") == pytest.approx(acts[bn][i, j, c], abs=1e-5)
    assert "√" in by_testid(detail, "bn-formula").text


def test_the_range_choice_recolours_the_maps(driver, layer_studio, layer_runs, shots):
    model, acts = _activations(layer_runs / "digits-numpy")
    relu = model.layers[1].name
    _explore(driver, layer_studio, "digits-numpy")
    network = by_testid(driver, "network")
    stacks = [a for n, a in acts.items() if n != "input" and a.ndim == 3]
    plain = [a for a in stacks if a.min() >= 0]
    net_lo, net_hi = min(a.min() for a in plain), max(a.max() for a in plain)
    c = 1
    values = acts[relu][:, :, c].astype(np.float64)
    ranges = {
        "layer": (acts[relu].min(), acts[relu].max()),
        "map": (values.min(), values.max()),
        "network": (net_lo, net_hi),
    }
    seen = {}
    for choice in ("map", "network", "layer"):
        Select(by_testid(driver, "explore-range")).select_by_value(choice)
        wait_for(
            lambda choice=choice: (
                network.get_attribute("data-range") == choice
                and network.get_attribute("data-range-ready") == "true"
            ),
            f"the maps on the {choice} range",
        )
        img = _map(driver, relu, c)
        lo, hi = ranges[choice]
        assert float(img.get_attribute("data-range-lo")) == pytest.approx(lo, abs=1e-5)
        assert float(img.get_attribute("data-range-hi")) == pytest.approx(hi, abs=1e-5)
        rgb = _png(img.get_attribute("src"))
        level = np.rint(np.clip((values - lo) / (hi - lo), 0, 1) * 255).astype(int)
        want = VIRIDIS[level].astype(int)
        assert np.abs(rgb.astype(int) - want).max() <= 1, choice
        seen[choice] = rgb
        legend = by_testid(driver, "explore-range-legend")
        if choice == "network":
            ends = legend.find_elements(By.CSS_SELECTOR, ".legend-end")
            assert float(ends[1].text) == pytest.approx(float(f"{net_hi:.3g}"))
            screenshot(driver, shots, "range", element=by_testid(driver, "explore-result"))
        elif choice == "map":
            assert "own" in legend.text
    assert not np.array_equal(seen["map"], seen["network"])
