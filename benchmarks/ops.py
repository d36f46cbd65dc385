"""Speed of cnnlab's fast NumPy convolution and max pooling against TensorFlow (and PyTorch).

Everything is float32 and timed in one run on the same machine, in interleaved rounds
(each round calls every library's function once), so the ratios are comparable even on a
busy machine (the absolute times are not). Each cell reports the best of ``--repeats``
rounds by default (interference from other processes only ever adds time);
``--stat median`` reports the median instead. TensorFlow runs inside
``tf.function`` (a compiled graph, as Keras trains), which is its fast path; its
eager mode adds Python dispatch per op and would flatter cnnlab. PyTorch (NCHW,
its native layout) runs eagerly, which is how it is normally used.

Forward+backward means: the forward pass, then the gradients with respect to the
input, the kernel and the bias for an upstream gradient ``dy`` drawn once. Every
library returns the forward output as well as the gradients, as training needs
both; a TensorFlow graph that returned only the gradients would skip the forward
convolution altogether (they don't depend on it), and time the backward alone.

Shapes (the issue's): the Happy model's convolution, the SIGNS model's first
convolution, a 3x3 convolution with 64 channels, and the SIGNS model's 8x8 max pool;
then training-mode batch normalization of a (64, 32, 32, 16) activation (TensorFlow:
``tf.nn.moments`` + ``tf.nn.batch_normalization``).
Target: geometric mean of the forward+backward ratios cnnlab / TensorFlow <= 1.0
(over the convolutions), and forward alone <= 1.0.

Parallel efficiency: unless ``--threads`` is given, the same cells are first timed in a
subprocess with one thread for every library (``--threads 1``; TensorFlow fixes its thread
count when it starts, hence the subprocess), and the table shows the 1-thread and the
default-thread times side by side, with each library's speed-up from its extra threads.
``--no-single`` skips that subprocess.

Run:
    uv run python benchmarks/ops.py              # best of 10 rounds per cell
    uv run python benchmarks/ops.py --quick      # quarter batches, 3 rounds: a smoke test
    uv run python benchmarks/ops.py --threads 1  # one thread for every library
    uv run --with torch python benchmarks/ops.py # PyTorch too (not a project dependency)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# PyTorch's OpenMP threads spin for a while after each op; in interleaved rounds they would
# take the cores from whichever library runs next (cnnlab's forward measured 1.3x slower).
# Passive threads sleep at once, which also made PyTorch's own figures faster here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# NumPy, TensorFlow and cnnlab are imported in main(), after --threads has set the
# thread-count variables that BLAS reads when it loads.

TARGET = 1.0


@dataclass(frozen=True)
class ConvCase:
    name: str
    x_shape: tuple[int, int, int, int]
    kernel: int
    filters: int
    padding: str


CONV_CASES = [
    ConvCase("happy 7x7 valid", (16, 70, 70, 3), 7, 32, "valid"),
    ConvCase("signs 4x4 same", (64, 64, 64, 3), 4, 8, "same"),
    ConvCase("3x3x64 same", (32, 32, 32, 64), 3, 64, "same"),
]
POOL_SHAPE, POOL_SIZE = (64, 64, 64, 8), 8
BATCHNORM_SHAPE = (64, 32, 32, 16)  # training-mode batch normalization after a convolution


def _import_torch():
    try:
        import torch
    except ImportError:
        return None
    import warnings

    # F.conv2d(padding="same") with an even kernel pads a copy of the input, and says so.
    warnings.filterwarnings("ignore", message="Using padding='same' with even kernel")
    return torch


def _conv_calls(case: ConvCase, tf, torch, batch_div: int) -> tuple[dict, dict[str, Callable]]:
    """``({"shape", "max_diff"}, {cell name: function to time})`` for one convolution."""
    import numpy as np

    from cnnlab.ops import conv2d_backward, conv2d_forward

    n, h, w, c = case.x_shape
    shape = (max(1, n // batch_div), h, w, c)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    k = (rng.standard_normal((case.kernel, case.kernel, c, case.filters)) * 0.1).astype(np.float32)
    b = rng.standard_normal(case.filters).astype(np.float32)
    y, _ = conv2d_forward(x, k, b, padding=case.padding)
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def fast_fwd():
        return conv2d_forward(x, k, b, padding=case.padding)

    def fast_fwd_bwd():
        out, cache = conv2d_forward(x, k, b, padding=case.padding)
        return conv2d_backward(dy, cache)

    fns = {"fast_fwd": fast_fwd, "fast_fwd_bwd": fast_fwd_bwd}

    tx, tk, tb, tdy = (tf.constant(a) for a in (x, k, b, dy))
    pad = case.padding.upper()

    @tf.function
    def tf_fwd(x, k, b):
        return tf.nn.conv2d(x, k, strides=1, padding=pad) + b

    @tf.function
    def tf_fwd_bwd(x, k, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, k, b])
            out = tf.nn.conv2d(x, k, strides=1, padding=pad) + b
        # Return `out` too: a graph whose forward output is unused lets TensorFlow
        # prune the forward convolution (the gradients of a linear op don't need it).
        return out, tape.gradient(out, [x, k, b], output_gradients=dy)

    info = {"shape": shape, "max_diff": float(np.max(np.abs(tf_fwd(tx, tk, tb).numpy() - y)))}
    fns["tf_fwd"] = lambda: tf_fwd(tx, tk, tb)
    fns["tf_fwd_bwd"] = lambda: tf_fwd_bwd(tx, tk, tb, tdy)

    if torch is not None:
        import torch.nn.functional as F

        px = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        pk = torch.from_numpy(k.transpose(3, 2, 0, 1).copy()).requires_grad_(True)
        pb = torch.from_numpy(b.copy()).requires_grad_(True)
        pdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())

        def torch_fwd():
            with torch.no_grad():
                return F.conv2d(px, pk, pb, padding=case.padding)

        def torch_fwd_bwd():
            px.grad = pk.grad = pb.grad = None
            F.conv2d(px, pk, pb, padding=case.padding).backward(pdy)

        fns["torch_fwd"] = torch_fwd
        fns["torch_fwd_bwd"] = torch_fwd_bwd
    return info, fns


def _pool_calls(tf, torch, batch_div: int) -> tuple[dict, dict[str, Callable]]:
    """``({"shape", "max_diff"}, {cell name: function to time})`` for the max pooling."""
    import numpy as np

    from cnnlab.ops import pool2d_backward, pool2d_forward

    n, h, w, c = POOL_SHAPE
    shape = (max(1, n // batch_div), h, w, c)
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    y, _ = pool2d_forward(x, POOL_SIZE, padding="same")
    dy = rng.standard_normal(y.shape).astype(np.float32)

    def fast_fwd():
        return pool2d_forward(x, POOL_SIZE, padding="same")

    def fast_fwd_bwd():
        out, cache = pool2d_forward(x, POOL_SIZE, padding="same")
        return pool2d_backward(dy, cache)

    tx, tdy = tf.constant(x), tf.constant(dy)

    @tf.function
    def tf_fwd(x):
        return tf.nn.max_pool2d(x, POOL_SIZE, POOL_SIZE, "SAME")

    @tf.function
    def tf_fwd_bwd(x, dy):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = tf.nn.max_pool2d(x, POOL_SIZE, POOL_SIZE, "SAME")
        return out, tape.gradient(out, x, output_gradients=dy)

    info = {"shape": shape, "max_diff": float(np.max(np.abs(tf_fwd(tx).numpy() - y)))}
    fns = {
        "fast_fwd": fast_fwd,
        "fast_fwd_bwd": fast_fwd_bwd,
        "tf_fwd": lambda: tf_fwd(tx),
        "tf_fwd_bwd": lambda: tf_fwd_bwd(tx, tdy),
    }
    if torch is not None:
        import torch.nn.functional as F

        px = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        pdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())

        def torch_fwd():
            with torch.no_grad():
                return F.max_pool2d(px, POOL_SIZE)

        def torch_fwd_bwd():
            px.grad = None
            F.max_pool2d(px, POOL_SIZE).backward(pdy)

        fns["torch_fwd"] = torch_fwd
        fns["torch_fwd_bwd"] = torch_fwd_bwd
    return info, fns


def _batchnorm_calls(tf, torch, batch_div: int) -> tuple[dict, dict[str, Callable]]:
    """``({"shape", "max_diff"}, {cell name: function to time})`` for batch normalization."""
    import numpy as np

    from cnnlab.ops import batchnorm_backward, batchnorm_forward

    n, h, w, c = BATCHNORM_SHAPE
    shape = (max(1, n // batch_div), h, w, c)
    rng = np.random.default_rng(2)
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    gamma = rng.uniform(0.5, 2, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    eps = 1e-3
    y, _ = batchnorm_forward(x, gamma, beta, eps)

    def fast_fwd():
        return batchnorm_forward(x, gamma, beta, eps)

    def fast_fwd_bwd():
        out, cache = batchnorm_forward(x, gamma, beta, eps)
        return batchnorm_backward(dy, cache)

    tx, tg, tb, tdy = (tf.constant(a) for a in (x, gamma, beta, dy))

    def tf_bn(x, g, b):
        mean, var = tf.nn.moments(x, axes=[0, 1, 2])
        return tf.nn.batch_normalization(x, mean, var, b, g, eps)

    tf_fwd = tf.function(tf_bn)

    @tf.function
    def tf_fwd_bwd(x, g, b, dy):
        with tf.GradientTape() as tape:
            tape.watch([x, g, b])
            out = tf_bn(x, g, b)
        return out, tape.gradient(out, [x, g, b], output_gradients=dy)

    info = {"shape": shape, "max_diff": float(np.max(np.abs(tf_fwd(tx, tg, tb).numpy() - y)))}
    fns = {
        "fast_fwd": fast_fwd,
        "fast_fwd_bwd": fast_fwd_bwd,
        "tf_fwd": lambda: tf_fwd(tx, tg, tb),
        "tf_fwd_bwd": lambda: tf_fwd_bwd(tx, tg, tb, tdy),
    }
    if torch is not None:
        import torch.nn.functional as F

        px = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).requires_grad_(True)
        pg = torch.from_numpy(gamma.copy()).requires_grad_(True)
        pb = torch.from_numpy(beta.copy()).requires_grad_(True)
        pdy = torch.from_numpy(dy.transpose(0, 3, 1, 2).copy())

        def torch_fwd():
            with torch.no_grad():
                return F.batch_norm(px, None, None, pg, pb, training=True, eps=eps)

        def torch_fwd_bwd():
            px.grad = pg.grad = pb.grad = None
            F.batch_norm(px, None, None, pg, pb, training=True, eps=eps).backward(pdy)

        fns["torch_fwd"] = torch_fwd
        fns["torch_fwd_bwd"] = torch_fwd_bwd
    return info, fns


def _single_thread_results(args) -> list | None:
    """The same cells timed with one thread for every library, in a subprocess (this
    script with ``--threads 1``); None if it fails (the table then has no 1-thread columns)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "single.json")
        command = [sys.executable, os.path.abspath(__file__), "--threads", "1", "--json", out]
        command += ["--repeats", str(args.repeats), "--warmup", str(args.warmup)]
        command += ["--stat", args.stat] + (["--quick"] if args.quick else [])
        print("timing the 1-thread columns in a subprocess (--threads 1)...", flush=True)
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            print(f"the 1-thread subprocess failed: {proc.stderr.strip()[-300:]}")
            return None
        with open(out) as f:
            return json.load(f)


def _print_results(results, single, threads, format_ms, geomean, print_table) -> None:
    """The table (with 1-thread columns when ``single`` has them) and the geometric means."""
    one = {name: r for name, r in single} if single else None
    headers = ["case", "x shape", "part", "cnnlab", "TF", "cnnlab/TF"]
    if one is not None:
        headers += ["cnnlab 1t", "TF 1t", "1t ratio", "cnnlab x", "TF x"]
    headers += ["torch", "max|diff|"]
    rows, fwd_ratios, fwd_bwd_ratios, single_ratios = [], [], [], {"fwd": [], "fwd_bwd": []}
    for index, (name, r) in enumerate(results):
        is_conv = index < len(CONV_CASES)
        for part, key in (("fwd", "fwd"), ("fwd+bwd", "fwd_bwd")):
            ratio = r[f"fast_{key}"] / r[f"tf_{key}"]
            if is_conv:
                (fwd_ratios if key == "fwd" else fwd_bwd_ratios).append(ratio)
            row = [
                name if part == "fwd" else "",
                str(tuple(r["shape"])) if part == "fwd" else "",
                part,
                format_ms(r[f"fast_{key}"]),
                format_ms(r[f"tf_{key}"]),
                f"{ratio:.2f}",
            ]
            if one is not None:
                s = one.get(name, {})
                c1, t1 = s.get(f"fast_{key}"), s.get(f"tf_{key}")
                if c1 and t1:
                    if is_conv:
                        single_ratios[key].append(c1 / t1)
                    row += [
                        format_ms(c1),
                        format_ms(t1),
                        f"{c1 / t1:.2f}",
                        f"{c1 / r[f'fast_{key}']:.2f}",
                        f"{t1 / r[f'tf_{key}']:.2f}",
                    ]
                else:
                    row += ["-"] * 5
            row += [
                format_ms(r.get(f"torch_{key}")),
                f"{r['max_diff']:.1e}" if part == "fwd" else "",
            ]
            rows.append(row)
    print_table(headers, rows)
    if one is not None:
        print(
            f"1t: one thread for every library (a subprocess with --threads 1); "
            f"cnnlab x, TF x: speed-up from 1 thread to this run's threads ({threads})"
        )
    print()
    gm_fwd, gm = geomean(fwd_ratios), geomean(fwd_bwd_ratios)
    verdict = "meets" if gm <= TARGET and gm_fwd <= TARGET else "misses"
    print(
        f"conv geometric mean cnnlab/TF: forward {gm_fwd:.2f}, forward+backward {gm:.2f} "
        f"({verdict} the target <= {TARGET} for both)"
    )
    if one is not None and len(single_ratios["fwd_bwd"]) == len(CONV_CASES):
        print(
            f"  with 1 thread: forward {geomean(single_ratios['fwd']):.2f}, "
            f"forward+backward {geomean(single_ratios['fwd_bwd']):.2f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per cell")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first")
    parser.add_argument(
        "--quick", action="store_true", help="quarter batches and 3 repeats (a smoke test)"
    )
    parser.add_argument(
        "--stat",
        choices=["best", "median"],
        default="best",
        help="figure reported per cell: the best call (robust on a shared machine) or the median",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for BLAS (NumPy), TensorFlow and PyTorch alike (default: each library's own)",
    )
    parser.add_argument(
        "--no-single",
        action="store_true",
        help="skip the 1-thread subprocess (no side-by-side thread columns)",
    )
    parser.add_argument("--json", default=None, help=argparse.SUPPRESS)  # for that subprocess
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1. Received: {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1. Received: {args.threads}")
    if args.threads is not None:
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(args.threads)
    repeats = 3 if args.quick else args.repeats
    batch_div = 4 if args.quick else 1

    import tensorflow as tf

    from _timing import format_ms, geomean, machine_line, print_table, time_calls
    from cnnlab.ops import parallel

    if args.threads is not None:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        # cnnlab's own op threads too: the BLAS variables above don't reach its pool, and
        # without this a "1-thread" run timed cnnlab on every core (BLAS alone on one).
        parallel.set_num_threads(args.threads)

    def measure(calls: tuple[dict, dict[str, Callable]]) -> dict:
        """Time one case's functions in interleaved rounds (cnnlab, TF, ... in turn), so a
        slow spell of the machine slows them alike and their ratios hold."""
        info, fns = calls
        timings = time_calls(fns, repeats, args.warmup)
        return {**info, **{key: getattr(t, args.stat) for key, t in timings.items()}}

    single = None
    if args.threads is None and not args.no_single and args.json is None:
        single = _single_thread_results(args)

    torch = _import_torch()
    if torch is not None and args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"Machine: {machine_line()}")
    print(
        f"TensorFlow {tf.__version__} (tf.function); PyTorch "
        f"{torch.__version__ + ' (eager, NCHW)' if torch else 'not installed'}"
    )
    threads = "library defaults" if args.threads is None else str(args.threads)
    threads += f" (cnnlab's op threads: {parallel.get_num_threads()})"
    print(
        f"float32, {args.stat} of {repeats} interleaved rounds after {args.warmup} warmup calls, "
        f"times in ms, "
        f"threads: {threads}"
    )
    if args.quick:
        print("--quick: batches divided by 4; figures are a smoke test, not the benchmark")
    print()

    results = [(case.name, measure(_conv_calls(case, tf, torch, batch_div))) for case in CONV_CASES]
    results.append(
        (f"maxpool {POOL_SIZE}x{POOL_SIZE} same", measure(_pool_calls(tf, torch, batch_div)))
    )
    results.append(("batchnorm (training)", measure(_batchnorm_calls(tf, torch, batch_div))))
    if args.json is not None:
        with open(args.json, "w") as f:
            json.dump([[name, {**r, "shape": list(r["shape"])}] for name, r in results], f)
    _print_results(results, single, threads, format_ms, geomean, print_table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
