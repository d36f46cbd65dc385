"""How cnnlab's convolution scales with the work, against TensorFlow, in one run.

Forward+backward (the output and the gradients with respect to the input, the kernel and the
bias, as in ``benchmarks/ops.py``) of two families of float32 convolutions:

- the SIGNS model's first convolution (64x64x3 images, 8 filters of 4x4, 'same') at batch
  sizes 1, 8, 64 and 256;
- the 3x3 'same' convolution with 64 channels in and out at image sizes 32, 64, 128 and 224
  (batch ``--image-batch``, default 8).

Every size is timed in interleaved rounds (cnnlab, TensorFlow, cnnlab, ...; the best round
counts), so the ratio is fair on a busy machine. Prints the ratio cnnlab / TensorFlow for each
size, and writes a log-log PNG of time against work (multiply-adds of the three products) for
both libraries; on a log-log plot a slope of 1 is time proportional to work.

Run:
    uv run python benchmarks/scaling.py                      # writes scaling.png here
    uv run python benchmarks/scaling.py --out /tmp/s.png --repeats 5
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BATCHES = (1, 8, 64, 256)
IMAGE_SIZES = (32, 64, 128, 224)
FLAG_ABOVE = 1.2  # the issue asks to name every size whose ratio rises above this


@dataclass(frozen=True)
class Case:
    family: str
    label: str
    x_shape: tuple[int, int, int, int]
    kernel: int
    filters: int

    @property
    def macs(self) -> int:
        """Multiply-adds of the forward product; the backward does two more of the same size
        ('same' padding, stride 1: the output has the input's height and width)."""
        n, h, w, c = self.x_shape
        return 3 * n * h * w * self.kernel * self.kernel * c * self.filters


def cases(image_batch: int, quick: bool) -> list[Case]:
    batches = BATCHES[:3] if quick else BATCHES
    sizes = IMAGE_SIZES[:3] if quick else IMAGE_SIZES
    out = [Case("batch (SIGNS 4x4x3->8)", f"N={n}", (n, 64, 64, 3), 4, 8) for n in batches]
    out += [Case("image (3x3x64->64)", f"{s}x{s}", (image_batch, s, s, 64), 3, 64) for s in sizes]
    return out


def _calls(case: Case, tf):
    import numpy as np

    from cnnlab.ops import conv2d_backward, conv2d_forward

    rng = np.random.default_rng(0)
    c = case.x_shape[3]
    x = rng.standard_normal(case.x_shape).astype(np.float32)
    k = (rng.standard_normal((case.kernel, case.kernel, c, case.filters)) * 0.1).astype(np.float32)
    b = rng.standard_normal(case.filters).astype(np.float32)
    y, _ = conv2d_forward(x, k, b, padding="same")
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def cnnlab_fwd_bwd():
        _, cache = conv2d_forward(x, k, b, padding="same")
        return conv2d_backward(dy, cache)

    tx, tk, tb, tdy = (tf.constant(a) for a in (x, k, b, dy))

    @tf.function
    def tf_fwd_bwd(x, k, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, k, b])
            out = tf.nn.conv2d(x, k, strides=1, padding="SAME") + b
        return out, tape.gradient(out, [x, k, b], output_gradients=dy)  # out too: see ops.py

    return {"cnnlab": cnnlab_fwd_bwd, "tf": lambda: tf_fwd_bwd(tx, tk, tb, tdy)}


def _repeats_for(case: Case, repeats: int) -> int:
    """Fewer rounds for the largest cases (seconds each), at least 3."""
    return max(3, min(repeats, int(repeats * 2e9 / max(case.macs, 1))))


def plot(results: list[tuple[Case, float, float]], path: Path) -> None:
    """A small log-log PNG: seconds against multiply-adds, one line per library and family."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    families = list(dict.fromkeys(case.family for case, _, _ in results))
    for family, marker in zip(families, "os", strict=False):
        rows = [(case, c, t) for case, c, t in results if case.family == family]
        work = [case.macs for case, _, _ in rows]
        ax.plot(work, [c for _, c, _ in rows], f"-{marker}", color="C0", label=f"cnnlab, {family}")
        ax.plot(work, [t for _, _, t in rows], f"--{marker}", color="C1", label=f"TF, {family}")
        for case, c, _ in rows:
            ax.annotate(
                case.label, (case.macs, c), fontsize=7, xytext=(3, -9), textcoords="offset points"
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("work: multiply-adds, forward + backward")
    ax.set_ylabel("seconds (best round)")
    ax.set_title("Convolution forward+backward: time against work", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="rounds for the small sizes")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls first")
    parser.add_argument("--image-batch", type=int, default=8, help="batch of the image sweep")
    parser.add_argument("--out", type=Path, default=Path("scaling.png"), help="the PNG written")
    parser.add_argument("--quick", action="store_true", help="the three smaller sizes of each")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.image_batch < 1:
        parser.error("--repeats and --image-batch must be at least 1")

    import tensorflow as tf

    from _timing import format_ms, machine_line, print_table, time_calls

    print(f"Machine: {machine_line()}")
    print(
        f"TensorFlow {tf.__version__} (tf.function); float32 convolution forward+backward, "
        f"'same', stride 1; best of up to {args.repeats} interleaved rounds; times in ms"
    )
    print()
    results, rows, flagged = [], [], []
    for case in cases(args.image_batch, args.quick):
        timings = time_calls(_calls(case, tf), _repeats_for(case, args.repeats), args.warmup)
        c, t = timings["cnnlab"].best, timings["tf"].best
        results.append((case, c, t))
        ratio = c / t
        if ratio > FLAG_ABOVE:
            flagged.append(f"{case.family} {case.label} ({ratio:.2f})")
        rows.append(
            [
                case.family,
                case.label,
                str(case.x_shape),
                f"{case.macs / 1e9:.2f}",
                format_ms(c),
                format_ms(t),
                f"{ratio:.2f}",
            ]
        )
    print_table(["sweep", "size", "x shape", "GMAC", "cnnlab", "TF", "cnnlab/TF"], rows)
    print()
    print(f"ratio above {FLAG_ABOVE}: " + (", ".join(flagged) if flagged else "none"))
    plot(results, args.out)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
