"""The run pictures: real PNGs of the expected size with non-trivial content, written atomically."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnlab import plots
from cnnlab._io import save_figure
from cnnlab._text import display_name


def _png(path) -> np.ndarray:
    with open(path, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _non_trivial(img: np.ndarray) -> None:
    assert img.std() > 10  # not a blank canvas
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 50


def _no_temp_files(folder) -> None:
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_learning_curves(tmp_path):
    history = {
        "loss": [1.0, 0.6, 0.4],
        "accuracy": [0.5, 0.7, 0.9],
        "val_loss": [1.1, 0.8, 0.7],
        "val_accuracy": [0.4, 0.6, 0.8],
    }
    out = save_figure(plots.plot_learning_curves(history), tmp_path / "curves.png")
    img = _png(out)
    assert img.shape == (400, 1000, 3)
    _non_trivial(img)
    # The curves are drawn in matplotlib's first two colours (train blue, validation orange).
    blue = np.all(np.abs(img.astype(int) - (31, 119, 180)) < 30, axis=2).sum()
    orange = np.all(np.abs(img.astype(int) - (255, 127, 14)) < 30, axis=2).sum()
    assert blue > 200 and orange > 200
    _no_temp_files(tmp_path)


def test_learning_curves_rejects_empty_history(tmp_path):
    with pytest.raises(ValueError, match="at least one epoch"):
        plots.plot_learning_curves({"loss": []}, path=tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def test_confusion_matrix_counts():
    cm = plots.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 2, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    with pytest.raises(ValueError, match="labels outside 0..2"):
        plots.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="same length"):
        plots.confusion_matrix([0, 1], [0], 3)


def test_confusion_matrix_png_darkens_the_big_cells(tmp_path):
    y_true = np.repeat(np.arange(4), 25)
    y_pred = y_true.copy()
    y_pred[::10] = (y_pred[::10] + 1) % 4
    fig = plots.plot_confusion_matrix(y_true, y_pred, ["a", "b", "c", "d"])
    out = save_figure(fig, tmp_path / "cm.png")
    img = _png(out)
    assert img.shape[0] >= 400 and img.shape[1] >= 400
    _non_trivial(img)
    # Diagonal cells are the darkest blue of the colour map.
    dark_blue = np.all(np.abs(img.astype(int) - (8, 48, 107)) < 25, axis=2).sum()
    assert dark_blue > 1000


def test_filters_grid(tmp_path):
    kernel = np.random.default_rng(0).normal(size=(5, 5, 3, 12)).astype(np.float32)
    img = _png(save_figure(plots.plot_filters(kernel), tmp_path / "f.png"))
    assert img.shape[1] == 8 * 1.2 * 100  # 8 columns
    _non_trivial(img)
    with pytest.raises(ValueError, match=r"kernel must have shape \(kh, kw, c_in, c_out\)"):
        plots.plot_filters(kernel[0], path=tmp_path / "g.png")


@pytest.mark.slow
def test_feature_maps_grid_grows_with_the_layers(tmp_path):
    rng = np.random.default_rng(1)
    image = rng.random((16, 16, 3))
    kernel = rng.normal(size=(3, 3, 3, 8))
    one = [("conv2d", rng.random((16, 16, 8)))]
    two = one + [("conv2d_1", rng.random((8, 8, 40)))]
    plots.plot_feature_maps(image, one, kernel=kernel, title="t", path=tmp_path / "a.png")
    a = _png(tmp_path / "a.png")
    b = _png(save_figure(plots.plot_feature_maps(image, two, kernel=kernel), tmp_path / "b.png"))
    _non_trivial(a)
    assert b.shape[0] > a.shape[0]  # 16 more maps (capped) -> two more rows
    assert b.shape[1] == a.shape[1]
    with pytest.raises(ValueError, match="must be \\(H, W, C\\)"):
        plots.plot_feature_maps(None, [("x", rng.random((4, 4)))], path=tmp_path / "c.png")
    with pytest.raises(ValueError, match="nothing to draw"):
        plots.plot_feature_maps(None, [], path=tmp_path / "d.png")
    _no_temp_files(tmp_path)


def test_feature_maps_path_writes_the_same_picture_as_save_figure(tmp_path):
    rng = np.random.default_rng(2)
    maps = [("conv2d", rng.random((8, 8, 4)))]
    fig = plots.plot_feature_maps(None, maps, path=tmp_path / "a.png")
    np.testing.assert_array_equal(
        _png(tmp_path / "a.png"), _png(save_figure(fig, tmp_path / "b.png"))
    )


def _every_plot(ax=None, axes=None):
    """Each plot function once, on small real inputs; returns the figures."""
    rng = np.random.default_rng(3)
    history = {"loss": [1.0, 0.5], "accuracy": [0.5, 0.8]}
    y = np.array([0, 1, 1, 0, 2])
    return [
        plots.plot_learning_curves(history, axes=axes),
        plots.plot_confusion_matrix(y, y[::-1], ["a", "b", "c"], ax=ax),
        plots.plot_filters(rng.normal(size=(3, 3, 1, 4))),
        plots.plot_feature_maps(rng.random((8, 8, 1)), [("c", rng.random((6, 6, 3)))]),
    ]


def test_plots_return_figures_and_leave_pyplot_alone():
    # A plot function must not switch the caller's backend (a notebook's inline display)
    # nor register figures with pyplot (which would then show or leak them).
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    figures = _every_plot()
    assert all(type(f) is Figure for f in figures)
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == before


def test_plots_draw_into_the_given_axes():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = Figure()
    cm_ax, loss_ax, acc_ax = fig.subplots(1, 3)
    before = plt.get_fignums()
    curves, cm = _every_plot(ax=cm_ax, axes=(loss_ax, acc_ax))[:2]
    assert curves is fig and cm is fig
    assert loss_ax.get_title() == "Loss" and acc_ax.get_title() == "Accuracy"
    assert len(loss_ax.lines) == 1 and len(acc_ax.lines) == 1  # train only: no val_ keys
    assert cm_ax.get_title().startswith("Confusion matrix (test set)")
    assert len(cm_ax.images) == 1
    assert plt.get_fignums() == before
    with pytest.raises(ValueError, match="axes must be two Axes"):
        plots.plot_learning_curves({"loss": [1.0]}, axes=[loss_ax])


def test_display_name_replaces_undecodable_bytes_only():
    assert display_name("caf\udce9") == "caf\ufffd"  # b"caf\xe9" as os.fsdecode gives it
    assert display_name("a\ud800b") == "a\ufffdb"  # a lone surrogate from JSON
    assert display_name("café 😀") == "café 😀"  # valid text is unchanged
    assert display_name(3) == "3"


def test_figures_draw_non_utf8_class_and_file_names(tmp_path):
    names = ["caf\udce9", "tea\udcff"]
    y = np.array([0, 1, 1, 0])
    out = save_figure(
        plots.plot_confusion_matrix(y, y, names, title="run \udce9"), tmp_path / "cm.png"
    )
    assert _png(out).shape[0] > 100
    rng = np.random.default_rng(0)
    out = tmp_path / "maps.png"
    plots.plot_feature_maps(
        rng.random((8, 8, 3)),
        [("conv\udce9", rng.random((6, 6, 2)))],
        kernel=rng.normal(size=(3, 3, 3, 2)),
        title="\udcff.png: caf\udce9 (90%)",
        path=out,
    )
    assert _png(out).shape[0] > 100
    plots.plot_filters(rng.normal(size=(3, 3, 3, 2)), title="caf\udce9", path=tmp_path / "f.png")

    from cnnlab.data import make_synthetic
    from cnnlab.data.preview import sample_grid

    ds = make_synthetic(n_per_class=4, image_size=(8, 8), n_classes=2)
    ds = type(ds)(
        "set\udce9", names, ds.x_train, ds.y_train, ds.x_val, ds.y_val, ds.x_test, ds.y_test
    )
    assert _png(sample_grid(ds, tmp_path / "grid.png", per_class=2)).shape[0] > 50
    _no_temp_files(tmp_path)


def test_jet_is_matplotlibs_jet():
    from matplotlib import colormaps

    from cnnlab.plots import jet

    heat = np.concatenate([np.linspace(0, 1, 10_001), [1 / 256, 255 / 256, 0.5 - 1e-12]])
    np.testing.assert_allclose(jet(heat), colormaps["jet"](heat)[:, :3], atol=1e-12)
    np.testing.assert_array_equal(jet(np.array([-1.0, 2.0])), jet(np.array([0.0, 1.0])))
