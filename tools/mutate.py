"""A small mutation probe: do the tests notice a deliberately wrong meaning?

Each mutant replaces one exact snippet of ``src/cnnlab`` (a flipped comparison, a dropped
term, ``+=`` turned into ``=``, an ignored argument, ...). The script copies ``src/``,
``tests/`` and ``pyproject.toml`` to a temporary folder, applies one mutant at a time
there (the working tree is never touched, so it is safe beside other work), and runs the
mutant's test files against the copy with ``pytest -x``; the copy comes first on
``PYTHONPATH``, ahead of the editable install. A mutant is *killed* when pytest fails,
*survived* when it passes, *timeout* when it runs out of time, and *missing* when its
snippet is no longer in the source (the code moved on; update the list).

Dependency-free (the standard library only); run it with the project's interpreter:

    uv run python tools/mutate.py                 # every mutant
    uv run python tools/mutate.py -k ops -k adam  # mutants whose name holds a word
    uv run python tools/mutate.py --list          # the mutants, not run
    uv run python tools/mutate.py --baseline      # first check each test set passes as is

It prints one line per mutant as it goes, then a table (mutant, file:line, result,
seconds). The exit code is 0 whether or not mutants survive; 2 when a baseline fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Test sets: the files that should notice a mutant of each part (TensorFlow-free where they can
# be: importing it costs seconds per mutant).
OPS = [
    "tests/ops/test_fast_vs_reference.py",
    "tests/ops/test_fast_gradients.py",
    "tests/ops/test_gradcheck.py",
    "tests/ops/test_reference.py",
    "tests/ops/test_ops_shapes.py",
    "tests/ops/test_conv_chunks.py",
    "tests/ops/test_pool_meaning.py",
]
OPS_TF = [*OPS, "tests/ops/test_fast_vs_tensorflow.py"]
NN = [
    "tests/nn/test_layers.py",
    "tests/nn/test_model.py",
    "tests/nn/test_losses_optimizers.py",
    "tests/nn/test_class_weight.py",
    "tests/nn/test_layer_contract.py",
    "tests/nn/test_fit_shuffle.py",
]
NN_KERAS = [*NN, "tests/nn/test_keras_fidelity.py"]
TRAIN = ["tests/training/test_meaning.py", "tests/training/test_training.py"]
DATA = [
    "tests/data/test_data_dataset.py",
    "tests/data/test_data_images.py",
    "tests/data/test_data_builtin.py",
    "tests/data/test_data_h5.py",
    "tests/data/test_resize_meaning.py",
]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # under src/cnnlab/
    old: str  # must occur exactly once in the file
    new: str
    tests: tuple[str, ...]


def M(name, path, old, new, tests) -> Mutant:  # noqa: N802 - a table row
    return Mutant(name, path, old, new, tuple(tests))


MUTANTS = [
    # ---- ops: windows, padding, convolution, pooling, the course's loops
    M(
        "ops/window-rows-ignore-stride",
        "ops/windows.py",
        "slice(i, i + sh * (oh - 1) + 1, sh)",
        "slice(i, i + sh * (oh - 1) + 1, 1)",
        OPS,
    ),
    M(
        "ops/output-size-off-by-one",
        "ops/padding.py",
        "return (padded - f) // stride + 1",
        "return (padded - f) // stride",
        OPS,
    ),
    M(
        "ops/same-padding-extra-on-top",
        "ops/padding.py",
        "return total // 2, total - total // 2",
        "return total - total // 2, total // 2",
        OPS_TF,
    ),
    M(
        "ops/conv-drops-a-kernel-row",
        "ops/conv.py",
        "for i in range(1, kh):\n                sum_ +=",
        "for i in range(2, kh):\n                sum_ +=",
        OPS,
    ),
    M(
        "ops/conv-drops-bias",
        "ops/conv.py",
        "            add_per_channel(out[a:z], bias)",
        "            pass",
        OPS,
    ),
    M(
        "ops/conv-dw-first-chunk-only",
        "ops/conv.py",
        "dw = np.add.reduce([dw for dw, _ in partial])",
        "dw = partial[0][0]",
        OPS,
    ),
    M(
        "ops/conv-db-halved",
        "ops/conv.py",
        "db = np.add.reduce([db for _, db in partial])",
        "db = np.add.reduce([db for _, db in partial]) / 2",
        OPS,
    ),
    M(
        "ops/conv-dx-scatter-assign",
        "ops/conv.py",
        "                target[index] += per_offset[k]",
        "                target[index] = per_offset[k]",
        OPS,
    ),
    M(
        "ops/conv-dx-scatter-few-assign",
        "ops/conv.py",
        "target[(slice(None), *index[:3])] += per_offset[k]",
        "target[(slice(None), *index[:3])] = per_offset[k]",
        OPS,
    ),
    M(
        "ops/conv-dx-kernel-flip-rows-only",
        "ops/conv.py",
        "w[::-1, ::-1].transpose(0, 1, 3, 2)",
        "w[::-1, :].transpose(0, 1, 3, 2)",
        OPS,
    ),
    M(
        "ops/conv-dx-path-choice-flipped",
        "ops/conv.py",
        "return kw * c_out <= kh * kw * c_in",
        "return kw * c_out > kh * kw * c_in",
        OPS,
    ),
    M(
        "ops/avgpool-divides-by-kh-squared",
        "ops/pooling.py",
        "y /= windows.kernel[0] * windows.kernel[1] if counts",
        "y /= windows.kernel[0] * windows.kernel[0] if counts",
        OPS,
    ),
    M(
        "ops/avgpool-counts-padding",
        "ops/pooling.py",
        "    if is_zero(windows.pads):\n        return None\n    ones",
        "    if True:\n        return None\n    ones",
        OPS,
    ),
    M(
        "ops/maxpool-backward-every-tied-max",
        "ops/pooling.py",
        "if np.count_nonzero(is_max) > y.size:",
        "if False:",
        OPS,
    ),
    M(
        "ops/reference-pool-backward-ignores-stride",
        "ops/reference.py",
        "vert_start = h * stride  # the stride matters here too",
        "vert_start = h  # the stride matters here too",
        OPS,
    ),
    # ---- nn: layers, losses, optimizers, the model
    M(
        "nn/dense-no-bias",
        "nn/layers/core.py",
        "            z += self.bias.value",
        "            pass",
        NN,
    ),
    M(
        "nn/dense-kernel-grad-assigned",
        "nn/layers/core.py",
        "self.kernel.grad += np.einsum(",
        "self.kernel.grad = np.einsum(",
        NN,
    ),
    M(
        "nn/conv-kernel-grad-negated",
        "nn/layers/convolutional.py",
        "        self.kernel.grad += dw",
        "        self.kernel.grad -= dw",
        NN,
    ),
    M(
        "nn/batchnorm-ddof-1",
        "ops/batchnorm.py",
        "return mean, m2 / count",
        "return mean, m2 / (count - 1)",
        NN,
    ),
    M(
        "nn/batchnorm-momentum-swapped",
        "nn/layers/normalization.py",
        "            mm += cache.mean * (1 - mom)",
        "            mm += cache.mean * mom",
        NN,
    ),
    M(
        "nn/batchnorm-inference-no-epsilon",
        "ops/batchnorm.py",
        """        variance = _per_channel(variance, "variance", c, dt)
        inv = (1.0 / np.sqrt(variance + dt.type(eps))).astype(dt)""",
        """        variance = _per_channel(variance, "variance", c, dt)
        inv = (1.0 / np.sqrt(variance)).astype(dt)""",
        NN,
    ),
    M(
        "nn/dropout-keeps-the-dropped",
        "nn/layers/core.py",
        "keep = self._rng.random(x.shape, dtype=np.float64) >= self.rate",
        "keep = self._rng.random(x.shape, dtype=np.float64) < self.rate",
        NN,
    ),
    M(
        "nn/dropout-no-rescale",
        "nn/layers/core.py",
        "x.dtype.type(1.0 / (1.0 - self.rate))",
        "x.dtype.type(1.0)",
        NN,
    ),
    M(
        "nn/adam-no-bias-correction",
        "nn/optimizers.py",
        "self._alpha = lr * np.sqrt(1 - b2 ** dtype(t)) / (1 - b1 ** dtype(t))",
        "self._alpha = lr",
        NN,
    ),
    M(
        "nn/adam-no-epsilon",
        "nn/optimizers.py",
        "        tmp += self._eps\n",
        "        pass\n",
        NN,
    ),
    M(
        "nn/sgd-nesterov-as-plain-momentum",
        "nn/optimizers.py",
        "value += mom * m - lr * grad",
        "value += m",
        NN,
    ),
    M(
        "nn/optimizer-iterations-not-counted",
        "nn/optimizers.py",
        "        self.iterations += 1\n",
        "        pass\n",
        NN,
    ),
    M(
        "nn/loss-grad-not-averaged",
        "nn/losses.py",
        "grad *= y_pred.dtype.type(1.0 / n)",
        "grad *= y_pred.dtype.type(1.0)",
        NN,
    ),
    M(
        "nn/bce-no-clip",
        "nn/losses.py",
        "pc = np.clip(p, EPSILON, 1 - EPSILON)",
        "pc = p",
        NN,
    ),
    M(
        "nn/class-weight-ignores-label",
        "nn/fitting.py",
        "        w[ids == k] = v",
        "        w[:] = float(class_weight.get(0, 1.0))",
        NN,
    ),
    M(
        "nn/grads-not-zeroed-between-steps",
        "nn/layers/base.py",
        "                w.grad.fill(0)",
        "                pass",
        NN,
    ),
    M(
        "nn/fit-never-shuffles",
        "nn/model.py",
        "return array_batches(x, y, sw, bs, rng.permutation(n))",
        "return array_batches(x, y, sw, bs, np.arange(n))",
        NN,
    ),
    # ---- the training runner
    M(
        "training/mood-labels-inverted",
        "tasks.py",
        "return np.asarray(y, dtype=np.float32).reshape(-1, 1)",
        "return 1.0 - np.asarray(y, dtype=np.float32).reshape(-1, 1)",
        TRAIN,
    ),
    M(
        "training/schedule-never-reaches-optimizer",
        "training/loop.py",
        "                engine.set_learning_rate(model, lr)\n",
        "                pass\n",
        TRAIN,
    ),
    M(
        "training/cosine-off-by-one-epoch",
        "training/config.py",
        "math.cos(math.pi * epoch / self.epochs)",
        "math.cos(math.pi * (epoch + 1) / self.epochs)",
        TRAIN,
    ),
    M(
        "training/class-weight-of-class-0",
        "training/rundata.py",
        "return {int(k): float(v) for k, v in dict(ds.class_weights()).items()}",
        "return {int(k): float(dict(ds.class_weights())[0]) for k in ds.class_weights()}",
        TRAIN,
    ),
    M(
        "training/scale-pixels-wrong-scale",
        "data/prepare.py",
        "np.float32(255.0)",
        "np.float32(127.5)",
        TRAIN,
    ),
    M(
        "training/checkpoint-epoch-off-by-one",
        "training/loop.py",
        "save_checkpoint(run, engine, model, history, epoch + 1, seconds)",
        "save_checkpoint(run, engine, model, history, epoch, seconds)",
        TRAIN,
    ),
    # Survives (known): Keras would shuffle every epoch in the same order. Runs stay
    # deterministic and resume stays exact, and Keras's shuffling happens inside its data
    # adapter, where no public callback sees the batches; the NumPy engine's order is
    # tested (nn/test_fit_shuffle.py).
    M(
        "training/same-seed-every-epoch",
        "training/engines.py",
        "keras.utils.set_random_seed(seed + epoch)",
        "keras.utils.set_random_seed(seed)",
        TRAIN,
    ),
    M(
        "training/mood-threshold-strict",
        "tasks.py",
        "labels = (p >= 0.5).astype(np.int64)",
        "labels = (p > 0.5).astype(np.int64)",
        TRAIN,
    ),
    # ---- data
    M(
        "data/split-floor-not-round",
        "data/dataset.py",
        "n = int(round(len(idx) * f))",
        "n = int(len(idx) * f)",
        DATA,
    ),
    M(
        "data/split-not-shuffled",
        "data/dataset.py",
        "out.append(merged[rng.permutation(len(merged))].astype(np.int64))",
        "out.append(merged.astype(np.int64))",
        DATA,
    ),
    M(
        "data/class-weights-unbalanced",
        "data/dataset.py",
        "float(total / (self.n_classes * n))",
        "float(total / n)",
        [*DATA, "tests/training/test_meaning.py"],
    ),
    M(
        "data/class-folders-unsorted",
        "data/images.py",
        "top = sorted(os.scandir(root), key=lambda e: e.name)",
        "top = list(os.scandir(root))",
        DATA,
    ),
    M(
        "data/resize-nearest",
        "data/images.py",
        "im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)",
        "im = im.resize((size[1], size[0]), Image.Resampling.NEAREST)",
        DATA,
    ),
    M(
        "data/array-resize-nearest",
        "data/images.py",
        "im = im.resize((ow, oh), Image.Resampling.BILINEAR)",
        "im = im.resize((ow, oh), Image.Resampling.NEAREST)",
        DATA,
    ),
    M(
        "data/digits-scale",
        "data/builtin.py",
        "bunch.images * (255.0 / 16.0)",
        "bunch.images * 16.0",
        DATA,
    ),
    M(
        "data/h5-float-images-not-rescaled",
        "data/h5.py",
        "scale = 255.0 if x.size and x.max() <= 1.0 else 1.0",
        "scale = 1.0",
        DATA,
    ),
]


def _copy_tree(dest: Path) -> None:
    for name in ("src", "tests"):
        shutil.copytree(
            ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy2(ROOT / "pyproject.toml", dest / "pyproject.toml")
    shared = ROOT.parent / "shared"  # the real data beside the repository, if any
    if shared.is_dir():
        os.symlink(shared, dest.parent / "shared")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run_tests(copy: Path, tests, timeout: float, workers: int) -> tuple[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / "src"), env.get("PYTHONPATH", "")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    if workers > 1:
        cmd += ["-n", str(workers)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [*cmd, *tests],
            cwd=copy,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
            # run in the background (nohup, &), a shell ignores Ctrl-C in its children;
            # the tests of Ctrl-C need Python's own handler
            preexec_fn=_default_sigint,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if proc.returncode == 0:
        return "survived", seconds
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode in (1, 2):  # failed tests; 2: -x stopped the xdist session
        for line in out.splitlines():
            if line.startswith(("FAILED ", "ERROR ")):
                test = line.split()[1].split(" - ")[0]
                return f"killed by {test.removeprefix('tests/')}", seconds
        if " failed" in out or " error" in out:
            return "killed", seconds
    return f"error (pytest exit {proc.returncode})", seconds


def _line_of(text: str, snippet: str) -> int:
    return text[: text.index(snippet)].count("\n") + 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", action="append", default=[], help="run mutants whose name has it")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--baseline", action="store_true", help="first run each test set as is")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers")
    args = parser.parse_args(argv)

    mutants = [m for m in MUTANTS if not args.k or any(k in m.name for k in args.k)]
    if args.list:
        for m in mutants:
            print(f"{m.name:42s} src/cnnlab/{m.path}")
        return 0

    rows = []
    with tempfile.TemporaryDirectory(prefix="cnnlab-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        _copy_tree(copy)
        if args.baseline:
            for tests in sorted({m.tests for m in mutants}):
                result, seconds = _run_tests(copy, tests, args.timeout, args.workers)
                print(f"baseline {' '.join(tests)}: {result} ({seconds:.0f} s)", flush=True)
                if result != "survived":
                    print("a test set fails without any mutant; fix that first", file=sys.stderr)
                    return 2
        for m in mutants:
            target = copy / "src" / "cnnlab" / m.path
            original = target.read_text(encoding="utf-8")
            count = original.count(m.old)
            where = f"src/cnnlab/{m.path}"
            if count != 1:
                result, seconds = ("missing" if count == 0 else f"ambiguous ({count}x)"), 0.0
            else:
                where += f":{_line_of(original, m.old)}"
                try:
                    target.write_text(original.replace(m.old, m.new), encoding="utf-8")
                    result, seconds = _run_tests(copy, m.tests, args.timeout, args.workers)
                finally:
                    target.write_text(original, encoding="utf-8")
            rows.append((m.name, where, result, seconds))
            print(f"{m.name:42s} {where:36s} {seconds:5.0f} s  {result}", flush=True)

    killed = sum(r[2].startswith("killed") for r in rows)
    print()
    print("| mutant | where | result | seconds |\n|---|---|---|---|")
    for name, where, result, seconds in rows:
        print(f"| {name} | {where} | {result} | {seconds:.0f} |")
    print(f"\n{killed} of {len(rows)} mutants killed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
