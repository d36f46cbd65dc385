"""The BLAS check: what threadpoolctl reports, when a kernel counts as older than the CPU's
best, the one warning line (with fake GEMM results), and ``cnnlab bench --blas`` through the
real entry point. No test sets OPENBLAS_* in its own environment: the fakes carry them."""

from __future__ import annotations

import os

import pytest

from cnnlab import blas
from cnnlab.blas import BlasInfo, GemmResult

AVX512 = {"sse2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq"}
AVX2 = {"sse2", "avx", "avx2", "fma"}


def pools(architecture="Haswell", numpy_path=True):
    numpy_pool = {
        "user_api": "blas",
        "internal_api": "openblas",
        "num_threads": 2,
        "filepath": "/x/numpy.libs/libscipy_openblas64_.so" if numpy_path else "/x/lib.so",
        "version": "0.3.31",
        "architecture": architecture,
    }
    other = {"user_api": "openmp", "internal_api": "openmp", "num_threads": 2}
    scipy_pool = {**numpy_pool, "filepath": "/x/scipy.libs/libopenblas.so", "version": "0.3.9"}
    return [other, scipy_pool, numpy_pool]


def test_info_takes_numpys_blas_and_the_forced_core_from_the_environment():
    info = blas._info_from(pools("SkylakeX"), {"OPENBLAS_CORETYPE": "SkylakeX"})
    assert info == BlasInfo("openblas", "0.3.31", "SkylakeX", 2, "SkylakeX")
    assert blas._info_from(pools(), {}).forced is None
    assert blas._info_from([{"user_api": "openmp"}], {}) is None


def test_blas_line_names_library_version_kernel_threads_and_a_forced_core():
    line = blas.blas_line(BlasInfo("openblas", "0.3.31", "Haswell", 2, "Haswell"))
    assert (
        line == "BLAS: openblas 0.3.31, kernel Haswell (OPENBLAS_CORETYPE=Haswell set), 2 threads"
    )
    assert "none found" in blas.blas_line(None) or blas.blas_line(None).startswith("BLAS:")


def test_the_real_blas_line_has_a_kernel():
    info = blas.blas_info()
    assert info is not None and info.library and info.threads
    assert blas.blas_line(info).startswith(f"BLAS: {info.library}")


@pytest.mark.parametrize(
    ("kernel", "forced", "flags", "expected"),
    [
        ("Haswell", "Haswell", AVX512, ("forced", "SkylakeX", "AVX2", "AVX-512")),
        ("Haswell", None, AVX512, ("detected", "SkylakeX", "AVX2", "AVX-512")),  # #6029
        ("Sandybridge", "Sandybridge", AVX2, ("forced", "Haswell", "AVX", "AVX2")),
        ("Haswell", None, AVX2, None),  # the CPU's best
        ("SkylakeX", None, AVX512, None),
        ("Zen", None, AVX2, None),
        ("SkylakeX", "SkylakeX", AVX2 | {"avx512f"}, None),  # not all of AVX-512: no verdict
        ("SomeFutureCore", None, AVX512, None),  # unknown names are never flagged
        ("Haswell", None, set(), None),  # unreadable CPU
    ],
)
def test_kernel_finding(kernel, forced, flags, expected):
    finding = blas.kernel_finding(BlasInfo("openblas", "0.3.31", kernel, 2, forced), flags)
    if expected is None:
        assert finding is None
    else:
        assert (finding.cause, finding.native, finding.kernel_words, finding.cpu_words) == expected


def test_other_blas_libraries_are_not_judged():
    assert blas.kernel_finding(BlasInfo("mkl", "2024", None, 2, None), AVX512) is None


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu AVX2 fma avx\n")
    assert blas.cpu_flags(cpuinfo) == {"fpu", "avx2", "fma", "avx"}
    assert blas.cpu_tier(blas.cpu_flags(cpuinfo)) == 2
    assert blas.cpu_flags(tmp_path / "missing") == set()


class FakeGemm:
    """Records the environments it was given; the native kernel (no OPENBLAS_CORETYPE, or the
    CPU's best forced) takes ``fast`` seconds, anything else ``slow``."""

    def __init__(self, slow=0.020, fast=0.010, native_env=None):
        self.envs, self.slow, self.fast = [], slow, fast

    def __call__(self, env):
        self.envs.append(dict(env))
        core = env.get("OPENBLAS_CORETYPE")
        if core in (None, "SkylakeX"):
            return GemmResult("SkylakeX", self.fast)
        return GemmResult(core, self.slow)


def test_a_forced_older_core_gives_one_line_with_the_measured_speedup():
    gemm = FakeGemm()
    environ = {"PATH": "/bin", "OPENBLAS_CORETYPE": "Haswell"}
    before = dict(os.environ)
    line = blas.check_kernel(
        BlasInfo("openblas", "0.3.31", "Haswell", 2, "Haswell"), AVX512, environ, gemm
    )
    assert line is not None and "\n" not in line
    assert line.startswith("warning: OPENBLAS_CORETYPE=Haswell forces")
    assert "AVX-512" in line and "20.0 ms" in line and "10.0 ms" in line
    assert "SkylakeX kernel (2.00x as fast)" in line and "unset OPENBLAS_CORETYPE" in line
    # The current environment, then the same without the forced core, alternated twice.
    assert [e.get("OPENBLAS_CORETYPE") for e in gemm.envs] == ["Haswell", None] * 2
    assert all(e["PATH"] == "/bin" for e in gemm.envs)
    assert environ == {"PATH": "/bin", "OPENBLAS_CORETYPE": "Haswell"}  # the caller's, intact
    assert dict(os.environ) == before  # and this process's


def test_an_older_core_detected_by_openblas_itself_is_compared_with_the_cpus_best():
    gemm = FakeGemm()
    line = blas.check_kernel(BlasInfo("openblas", "0.3.20", "Haswell", 2, None), AVX512, {}, gemm)
    assert "OpenBLAS 0.3.20 chose its Haswell (AVX2) kernel" in line
    assert "OPENBLAS_CORETYPE=SkylakeX" in line
    assert [e.get("OPENBLAS_CORETYPE") for e in gemm.envs] == [None, "SkylakeX"] * 2


def test_the_native_kernel_gives_no_line_and_runs_no_gemm():
    gemm = FakeGemm()
    assert (
        blas.check_kernel(BlasInfo("openblas", "0.3.31", "Haswell", 2, None), AVX2, {}, gemm)
        is None
    )
    assert gemm.envs == []


def test_a_failed_comparison_still_says_what_is_wrong():
    def failing(env):
        raise RuntimeError("boom")

    line = blas.check_kernel(
        BlasInfo("openblas", "0.3.31", "Haswell", 2, "Haswell"), AVX512, {}, failing
    )
    assert line.startswith("warning: OPENBLAS_CORETYPE=Haswell") and "boom" in line


def test_kernel_summary():
    info = BlasInfo("openblas", "0.3.31", "Haswell", 2, None)
    assert (
        blas.kernel_summary(info, AVX512) == "kernel Haswell runs AVX2; this CPU's best is AVX-512"
    )


def test_docstring_examples():
    import doctest

    result = doctest.testmod(blas, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
