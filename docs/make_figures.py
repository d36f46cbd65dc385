"""Regenerate the concept guide's figures in docs/figures/ with the cnnlab library.

Every picture in the guide is made here by the same functions ``cnnlab explain``
uses, so the docs always show what the library computes. Run from the repository
root::

    uv run python docs/make_figures.py          # all figures
    uv run python docs/make_figures.py --no-models   # skip the two Keras model charts
    uv run python docs/make_figures.py --no-interpret   # skip training the digits run
    uv run python docs/make_figures.py --no-shift   # skip the dataset-shift figure (it needs
                                                    # ../shared/data; --mood-run RUN reuses a run)

Each PNG is kept under 150 KB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cnnlab import explain

FIGURES = Path(__file__).resolve().parent / "figures"
MAX_BYTES = 150_000

CONV = {
    # the course's 6x6 image and 3x3 vertical-edge filter: a 4x4 output
    "conv-valid.png": dict(input_shape="6x6", kernel_size=3, strides=1, padding="valid"),
    # 'same' with f = 3, s = 1 pads p = (f - 1) / 2 = 1 on every side
    "padding-same.png": dict(input_shape="5x5", kernel_size=3, strides=1, padding="same"),
    # 'same' with s = 2 on an even size pads 0 before and 1 after
    "padding-asymmetric.png": dict(input_shape="6x6", kernel_size=3, strides=2, padding="same"),
    # the course's stride example: 7x7, f = 3, s = 2 -> 3x3
    "stride-2.png": dict(input_shape="7x7", kernel_size=3, strides=2, padding="valid"),
}
POOL = {
    "pool-max-average.png": dict(input_shape="4x4", pool_size=2, mode="both"),
    "pool-overlap-same.png": dict(
        input_shape="5x5", pool_size=3, strides=1, padding="same", mode="both"
    ),
}


INTERPRET = "gradcam-digits.png"


def interpret_figure(path: Path) -> Path:
    """Grad-CAM and saliency of a NumPy-engine run on the built-in digits (8 epochs of the
    recommended model, seed 0; about a minute on a laptop)."""
    import tempfile

    from cnnlab import interpret, plots, training
    from cnnlab.data.prepare import scale_pixels

    with tempfile.TemporaryDirectory() as tmp:
        cfg = training.TrainConfig(
            task="signs", engine="numpy", model="recommended", data="digits",
            epochs=8, seed=0, out=str(Path(tmp) / "run"),
        )  # fmt: skip
        run = training.train(cfg, progress=False)
        it = interpret.Interpretation.from_run(run.dir, "test")
        worst, _ = it.top_losses(2)
        idx = list(range(4)) + [int(i) for i in worst]
        x = scale_pixels(it.images[idx])
        titles = [
            f"true {it.class_names[it.targets[i]]}, pred {it.class_names[it.preds[i]]}" for i in idx
        ]
        fig = plots.plot_grad_cam(
            x,
            interpret.grad_cam(it.model, x, it.preds[idx]),
            titles=titles,
            saliency=interpret.saliency(it.model, x, it.preds[idx]),
            title="Grad-CAM and saliency of the predicted digit (last two: the worst losses)",
        )
        fig.set_size_inches(9.6, 4.8)
        fig.set_dpi(100)
        fig.tight_layout()
        return plots.save_figure(fig, path)


SHIFT = "shift-mood.png"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shift_figure(path: Path, run_dir: Path | None = None) -> Path:
    """P(smiling) by the mood default on its own test split and on the 40 photos from
    elsewhere (../shared/data/elsewhere/happy, only evaluated). Without ``run_dir`` it trains
    the default mood run on ../shared/data/smiles (seed 0; about 5 minutes on 2 cores)."""
    import tempfile

    import matplotlib.pyplot as plt
    import numpy as np

    from cnnlab import plots, training
    from cnnlab.data.prepare import scale_pixels
    from cnnlab.training.inference import read_images
    from cnnlab.training.rundata import load_data
    from cnnlab.training.rundir import load_model

    elsewhere = SHARED / "elsewhere" / "happy"
    if not (SHARED / "smiles").is_dir() or not elsewhere.is_dir():
        raise SystemExit(f"{SHIFT} needs {SHARED}/smiles and {elsewhere} (the shared data)")
    with tempfile.TemporaryDirectory() as tmp:
        if run_dir is None:
            cfg = training.TrainConfig(
                task="mood", data=str(SHARED / "smiles"), seed=0, out=str(Path(tmp) / "run")
            )
            run_dir = training.train(cfg, progress=False).dir
        run = training.load_run(run_dir)
        model = load_model(run)
        ds = load_data(run.config, None, progress=False)
        own = np.asarray(model.predict(scale_pixels(ds.x_test))).ravel()
        files = [sorted((elsewhere / c).iterdir()) for c in run.class_names]
        there = np.asarray(model.predict(read_images(run, [f for fs in files for f in fs]))).ravel()
    there_y = np.repeat([0, 1], [len(fs) for fs in files])
    colours = ("#7f7f7f", "#e0803a")  # not smiling, smiling
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 4.8), dpi=100)
    bins = np.linspace(0, 1, 21)
    for k, name in enumerate(("not smiling", "smiling")):
        share = np.full((ds.y_test == k).sum(), 1 / (ds.y_test == k).sum())
        left.hist(own[ds.y_test == k], bins, weights=share, alpha=0.7, color=colours[k],
                  label=f"{name} ({(ds.y_test == k).sum()})")  # fmt: skip
    left.set(xlabel="P(smiling)", ylabel="share of the class",
             title=f"own test split: {((own > 0.5) == ds.y_test).mean():.1%} right")  # fmt: skip
    left.legend(loc="upper center")
    rng = np.random.default_rng(0)
    wrong = (there > 0.5) != there_y
    for k in (0, 1):
        for miss, marker in ((False, "o"), (True, "X")):
            at = (there_y == k) & (wrong == miss)
            right.scatter(there[at], k + rng.uniform(-0.18, 0.18, at.sum()), s=70 if miss else 45,
                          marker=marker, color=colours[k], edgecolor="#c0392b" if miss else "none",
                          linewidth=1.5)  # fmt: skip
    title = f"{len(there)} photos from elsewhere: {1 - wrong.mean():.1%} right"
    right.set(yticks=[0, 1], yticklabels=["not smiling", "smiling"], ylim=(-0.6, 1.6),
              xlim=(0, 1), xlabel="P(smiling)", title=title)  # fmt: skip
    right.text(0.02, -0.52, f"X: wrong ({(wrong & (there_y == 1)).sum()} smiling, "
               f"{(wrong & (there_y == 0)).sum()} not smiling)", fontsize=9)  # fmt: skip
    for ax in (left, right):
        ax.axvline(0.5, color="black", linestyle="--", linewidth=1)
    fig.suptitle("Mood's default model: P(smiling) of each image; the dashed line is the decision")
    fig.tight_layout()
    return plots.save_figure(fig, path)


def make(
    models: bool = True, interpret: bool = True, shift: bool = True, mood_run: Path | None = None
) -> list[Path]:
    """Write every figure; return their paths."""
    written = []
    for name, kwargs in CONV.items():
        written.append(explain.conv_figure(explain.explain_conv(**kwargs), FIGURES / name))
    for name, kwargs in POOL.items():
        written.append(explain.pool_figure(explain.explain_pool(**kwargs), FIGURES / name))
    comparisons = [explain.explain_params("1000x1000x3"), explain.explain_params("64x64x3")]
    written.append(explain.params_figure(comparisons, FIGURES / "params.png"))
    if models:
        for name in ("happy", "signs"):
            e = explain.explain_model(name)
            written.append(explain.model_figure(e, FIGURES / f"model-{name}.png"))
    if interpret:
        written.append(interpret_figure(FIGURES / INTERPRET))
    if shift:
        written.append(shift_figure(FIGURES / SHIFT, mood_run))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-models", action="store_true", help="skip the Keras model charts")
    parser.add_argument(
        "--no-interpret", action="store_true", help="skip the Grad-CAM figure (trains a run)"
    )
    parser.add_argument(
        "--no-shift", action="store_true", help="skip the dataset-shift figure (shared data)"
    )
    parser.add_argument(
        "--mood-run", type=Path, help="the shift figure's mood run (default: train one)"
    )
    args = parser.parse_args(argv)
    too_big = []
    made = make(
        models=not args.no_models,
        interpret=not args.no_interpret,
        shift=not args.no_shift,
        mood_run=args.mood_run,
    )
    for path in made:
        size = path.stat().st_size
        print(f"{path.relative_to(FIGURES.parent.parent)}  {size / 1000:.0f} kB")
        if size > MAX_BYTES:
            too_big.append(path.name)
    if too_big:
        print(f"over {MAX_BYTES // 1000} kB: {', '.join(too_big)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
