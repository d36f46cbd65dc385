"""The BLAS NumPy runs on, the kernel it chose, and whether that kernel is the CPU's best.

Every speed figure of cnnlab rests on one BLAS library (OpenBLAS in NumPy's wheels), and
OpenBLAS picks its kernels (its "core type": Haswell for AVX2, SkylakeX for AVX-512, ...)
when it loads. Two things can make it pick an older kernel than the CPU supports, and
each can halve the speed without a word:

- the environment variable ``OPENBLAS_CORETYPE``, which forces a core type (some machines
  pin it to an older core);
- an OpenBLAS older than the CPU, which does not recognise it (OpenBLAS issue #6029: AMD
  Zen 5 taken for an older core, fixed in PR #6033).

:func:`blas_info` reads the library, version, kernel and threads through threadpoolctl;
:func:`kernel_finding` says whether the kernel is older than the CPU's best
(:func:`cpu_tier` from ``/proc/cpuinfo``); :func:`check_kernel` then measures one GEMM
under both kernels, each in a subprocess with its own environment, and returns one line
saying how much faster the native kernel is on this machine. Nothing here changes the
calling process's environment: only the subprocesses' copies differ.

Example:
    >>> info = BlasInfo("openblas", "0.3.31", "Haswell", 2, None)
    >>> kernel_finding(info, cpu_flags={"avx", "avx2", "fma"}) is None  # the CPU's best
    True
    >>> forced = BlasInfo("openblas", "0.3.31", "Haswell", 2, "Haswell")
    >>> kernel_finding(forced, cpu_flags={"avx2", "fma", "avx512f", "avx512bw",
    ...                                   "avx512vl", "avx512dq"}).native
    'SkylakeX'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BlasInfo",
    "GemmResult",
    "KernelFinding",
    "blas_info",
    "blas_line",
    "check_kernel",
    "cpu_tier",
    "cpu_flags",
    "kernel_finding",
    "kernel_summary",
    "kernel_tier",
    "measure_gemm",
]

# OpenBLAS core types by the widest vector instructions their kernels use:
# 0 SSE, 1 AVX, 2 AVX2 (+FMA), 3 AVX-512. Names as OpenBLAS reports them (any case).
_TIERS: dict[str, int] = {
    **dict.fromkeys(
        (
            "prescott",
            "core2",
            "penryn",
            "dunnington",
            "nehalem",
            "atom",
            "opteron",
            "opteron_sse3",
            "barcelona",
            "bobcat",
            "katmai",
            "coppermine",
            "northwood",
        ),
        0,
    ),  # fmt: skip
    **dict.fromkeys(("sandybridge", "bulldozer", "piledriver", "steamroller"), 1),
    **dict.fromkeys(("haswell", "zen", "excavator", "skylake", "atomgoldmont"), 2),
    **dict.fromkeys(("skylakex", "cooperlake", "sapphirerapids"), 3),
}
# The core type OpenBLAS runs best at each tier (what a native choice would give).
_TIER_CORE = {0: "Nehalem", 1: "Sandybridge", 2: "Haswell", 3: "SkylakeX"}
_TIER_WORDS = {0: "SSE", 1: "AVX", 2: "AVX2", 3: "AVX-512"}
# OpenBLAS's SkylakeX kernels need all four.
_AVX512 = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}


@dataclass(frozen=True)
class BlasInfo:
    """The BLAS NumPy loaded, as threadpoolctl reports it.

    Attributes:
        library: ``"openblas"``, ``"mkl"``, ``"blis"``, ... (threadpoolctl's internal_api).
        version: the library's version, or None.
        kernel: the core type the kernels were chosen for (OpenBLAS's "architecture"), or None.
        threads: the BLAS threads.
        forced: ``OPENBLAS_CORETYPE`` when it is set in this process's environment, else None.
    """

    library: str
    version: str | None
    kernel: str | None
    threads: int | None
    forced: str | None


def blas_info(environ: Mapping[str, str] | None = None) -> BlasInfo | None:
    """NumPy's BLAS, through threadpoolctl (None if threadpoolctl sees none).

    ``environ`` is where ``OPENBLAS_CORETYPE`` is read (default: this process's environment).
    """
    import numpy as np  # noqa: F401  (loads NumPy's BLAS so threadpoolctl can see it)
    from threadpoolctl import threadpool_info

    return _info_from(threadpool_info(), os.environ if environ is None else environ)


def _info_from(pools: list[dict], environ: Mapping[str, str]) -> BlasInfo | None:
    """The :class:`BlasInfo` of NumPy's BLAS among threadpoolctl's ``threadpool_info()``."""
    blas = [pool for pool in pools if pool.get("user_api") == "blas"]
    if not blas:
        return None
    # NumPy's own (another library, SciPy say, may have loaded a BLAS of its own first)
    info = next((pool for pool in blas if "numpy" in str(pool.get("filepath", ""))), blas[0])
    return BlasInfo(
        library=str(info.get("internal_api", "unknown")),
        version=info.get("version"),
        kernel=info.get("architecture"),
        threads=info.get("num_threads"),
        forced=environ.get("OPENBLAS_CORETYPE") or None,
    )


def blas_line(info: BlasInfo | None = None) -> str:
    """One line: ``BLAS: openblas 0.3.31, kernel Haswell, 2 threads`` (plus the forced core)."""
    info = blas_info() if info is None else info
    if info is None:
        return "BLAS: none found by threadpoolctl"
    note = f" (OPENBLAS_CORETYPE={info.forced} set)" if info.forced else ""
    return (
        f"BLAS: {info.library} {info.version or '(version unknown)'}, kernel "
        f"{info.kernel or 'unknown'}{note}, {info.threads} threads"
    )


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (lower case) from ``/proc/cpuinfo``; empty where it is absent."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].lower().split())
    return set()


def cpu_tier(flags: set[str]) -> int | None:
    """The widest vector tier the CPU supports (0 SSE ... 3 AVX-512); None if unknown."""
    if not flags:
        return None
    if _AVX512 <= flags:
        return 3
    if {"avx2", "fma"} <= flags:
        return 2
    if "avx" in flags:
        return 1
    return 0


def kernel_tier(kernel: str | None) -> int | None:
    """The tier of an OpenBLAS core type's kernels (None for a name this module doesn't know)."""
    return None if kernel is None else _TIERS.get(kernel.strip().lower())


@dataclass(frozen=True)
class KernelFinding:
    """A BLAS kernel older than the CPU's best.

    Attributes:
        kernel: the kernel in use.
        native: the core type to compare with: what OpenBLAS picks with ``OPENBLAS_CORETYPE``
            unset (when it was forced), else the CPU's best tier's core type.
        cause: ``"forced"`` (``OPENBLAS_CORETYPE``) or ``"detected"`` (OpenBLAS's own choice).
        cpu_words: the CPU's best tier in words ("AVX-512").
        kernel_words: the kernel's tier in words ("AVX2").
    """

    kernel: str
    native: str
    cause: str
    cpu_words: str
    kernel_words: str


def kernel_finding(info: BlasInfo | None, cpu_flags: set[str]) -> KernelFinding | None:
    """Whether OpenBLAS runs a kernel older than the CPU supports (None when it doesn't, or
    when it can't be told: another BLAS, an unknown core name, an unreadable CPU)."""
    if info is None or info.library != "openblas":
        return None
    kernel = info.kernel or info.forced
    have, used = cpu_tier(cpu_flags), kernel_tier(kernel)
    if have is None or used is None or used >= have:
        return None
    cause = "forced" if info.forced else "detected"
    return KernelFinding(
        kernel=str(kernel),
        native=_TIER_CORE[have],
        cause=cause,
        cpu_words=_TIER_WORDS[have],
        kernel_words=_TIER_WORDS[used],
    )


@dataclass(frozen=True)
class GemmResult:
    """One subprocess's GEMM: its kernel and best seconds per product."""

    kernel: str | None
    seconds: float


# Run in a subprocess: one float32 GEMM, best of a few, on NumPy's BLAS as that process's
# environment makes it load; prints {"kernel": ..., "seconds": ...}.
_GEMM_SCRIPT = """
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_info
n, repeats = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
a @ b
best = float("inf")
for _ in range(repeats):
    t = time.perf_counter(); a @ b; best = min(best, time.perf_counter() - t)
blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
info = next((i for i in blas if "numpy" in str(i.get("filepath", ""))), blas[0] if blas else {})
print(json.dumps({"kernel": info.get("architecture"), "seconds": best}))
"""


def measure_gemm(
    environ: Mapping[str, str], size: int = 1024, repeats: int = 5, timeout: float = 60
) -> GemmResult:
    """Time a ``size`` x ``size`` float32 GEMM in a subprocess run with ``environ``.

    Raises:
        RuntimeError: the subprocess failed or printed no result.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _GEMM_SCRIPT, str(size), str(repeats)],
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the GEMM subprocess failed: {proc.stderr.strip()[-300:]}")
    result = json.loads(lines[-1])
    return GemmResult(result.get("kernel"), float(result["seconds"]))


def _comparison_environments(
    finding: KernelFinding, environ: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """(the environment as it is, the same with the native kernel): ``OPENBLAS_CORETYPE``
    removed when it forced the kernel, set to the CPU's best core type when OpenBLAS
    detected an older one itself."""
    current = dict(environ)
    native = dict(environ)
    if finding.cause == "forced":
        native.pop("OPENBLAS_CORETYPE", None)
    else:
        native["OPENBLAS_CORETYPE"] = finding.native
    return current, native


def check_kernel(
    info: BlasInfo | None = None,
    flags: set[str] | None = None,
    environ: Mapping[str, str] | None = None,
    gemm: Callable[[Mapping[str, str]], GemmResult] = measure_gemm,
) -> str | None:
    """One line when OpenBLAS runs a kernel older than the CPU supports, with how much faster
    the native kernel measured on this machine; None when the kernel is the CPU's best.

    Args:
        info: the BLAS in use (default: :func:`blas_info`).
        flags: the CPU's flags (default: :func:`cpu_flags`).
        environ: the environment to compare from (default: this process's; never changed).
        gemm: runs one GEMM under an environment (default: :func:`measure_gemm`, a
            subprocess); tests pass a fake.
    """
    environ = dict(os.environ if environ is None else environ)
    info = blas_info(environ) if info is None else info
    finding = kernel_finding(info, cpu_flags() if flags is None else flags)
    if finding is None:
        return None
    current_env, native_env = _comparison_environments(finding, environ)
    if finding.cause == "forced":
        why = (
            f"OPENBLAS_CORETYPE={info.forced} forces OpenBLAS's {finding.kernel} "
            f"({finding.kernel_words}) kernel on a CPU with {finding.cpu_words}"
        )
        fix = "unset OPENBLAS_CORETYPE"
    else:
        why = (
            f"OpenBLAS {info.version} chose its {finding.kernel} ({finding.kernel_words}) "
            f"kernel on a CPU with {finding.cpu_words}"
        )
        fix = f"upgrade NumPy/OpenBLAS or set OPENBLAS_CORETYPE={finding.native}"
    try:
        # Alternate the two subprocesses and keep each one's best: a busy spell of a shared
        # machine then slows neither kernel alone.
        runs = [(gemm(current_env), gemm(native_env)) for _ in range(2)]
        slow = min((pair[0] for pair in runs), key=lambda r: r.seconds)
        fast = min((pair[1] for pair in runs), key=lambda r: r.seconds)
    except (RuntimeError, OSError, ValueError, subprocess.TimeoutExpired) as err:
        return f"warning: {why}; the comparison GEMM failed ({err}); {fix}"
    native = fast.kernel or finding.native
    if fast.seconds <= 0 or slow.seconds <= 0:
        return f"warning: {why}; {fix}"
    speedup = slow.seconds / fast.seconds
    return (
        f"warning: {why}: a 1024x1024 float32 GEMM took {slow.seconds * 1e3:.1f} ms, "
        f"{fast.seconds * 1e3:.1f} ms with the {native} kernel ({speedup:.2f}x as fast); {fix}"
    )


def kernel_summary(info: BlasInfo | None = None, flags: set[str] | None = None) -> str:
    """One line comparing the kernel's tier with the CPU's best, whatever the verdict:
    ``kernel Haswell runs AVX2; this CPU's best is AVX2``."""
    info = blas_info() if info is None else info
    flags = cpu_flags() if flags is None else flags
    if info is None:
        return "no BLAS found by threadpoolctl"
    have, used = cpu_tier(flags), kernel_tier(info.kernel or info.forced)
    kernel = info.kernel or "unknown"
    uses = f"runs {_TIER_WORDS[used]}" if used is not None else "is a core type cnnlab doesn't rank"
    best = f"this CPU's best is {_TIER_WORDS[have]}" if have is not None else "the CPU is unknown"
    return f"kernel {kernel} {uses}; {best}"
