"""Regenerate the concept guide's figures in docs/figures/ with the cnnlab library.

Every picture in the guide is made here by the same functions ``cnnlab explain``
uses, so the docs always show what the library computes. Run from the repository
root::

    uv run python docs/make_figures.py          # all figures
    uv run python docs/make_figures.py --no-models   # skip the two Keras model charts
    uv run python docs/make_figures.py --no-interpret   # skip training the digits run

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


def make(models: bool = True, interpret: bool = True) -> list[Path]:
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
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-models", action="store_true", help="skip the Keras model charts")
    parser.add_argument(
        "--no-interpret", action="store_true", help="skip the Grad-CAM figure (trains a run)"
    )
    args = parser.parse_args(argv)
    too_big = []
    for path in make(models=not args.no_models, interpret=not args.no_interpret):
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
