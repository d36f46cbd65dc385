"""``cnnlab bench``: the speed ladder of one convolution on this machine, and the BLAS kernel
it runs on (``--blas``: only that)."""

from __future__ import annotations

import os
import platform

import typer


def bench(
    batch: int = typer.Option(16, help="Images in the batch."),
    size: int = typer.Option(64, help="Height and width of each image."),
    channels: int = typer.Option(3, help="Input channels."),
    filters: int = typer.Option(32, help="Output channels (number of filters)."),
    kernel: int = typer.Option(7, help="Filter height and width."),
    pad: int = typer.Option(3, help="Zero padding on every side."),
    stride: int = typer.Option(1, help="Step of the filter."),
    repeats: int = typer.Option(5, help="Timed calls of the fast rungs (median reported)."),
    loop_images: int = typer.Option(
        1, help="Images given to the slow course loops; their time is scaled to the batch."
    ),
    tensorflow: bool = typer.Option(True, help="Include TensorFlow (tf.nn.conv2d)."),
    blas: bool = typer.Option(
        False,
        "--blas",
        help="Only check the BLAS: library, version, kernel, and whether OPENBLAS_CORETYPE "
        "or an old OpenBLAS forces an older kernel than the CPU supports (then a GEMM under "
        "both kernels, in subprocesses, says how much faster the native one is).",
    ),
) -> None:
    """Time one convolution with the course loops, cnnlab's fast NumPy ops and TensorFlow.

    The default is the Happy model's convolution: 16 images of 64x64x3 padded by 3,
    with 32 filters of 7x7. Every run first names the BLAS library, version and kernel.
    """
    from rich.console import Console
    from rich.table import Table

    from cnnlab.ops.ladder import speed_ladder

    console = Console(highlight=False)
    if blas:
        _print_blas(console, summary=True)
        return
    with console.status("timing (the course loops take a while)..."):
        rows = speed_ladder(
            batch=batch,
            size=size,
            channels=channels,
            filters=filters,
            kernel=kernel,
            pad=pad,
            stride=stride,
            repeats=repeats,
            loop_images=loop_images,
            include_tensorflow=tensorflow,
        )

    _print_blas(console, summary=False)  # after the ladder checked the options
    out = (size + 2 * pad - kernel) // stride + 1
    console.print(
        f"Convolution x ({batch}, {size}, {size}, {channels}) * w ({kernel}, {kernel}, "
        f"{channels}, {filters}), pad {pad}, stride {stride} -> ({batch}, {out}, {out}, "
        f"{filters}), float32, forward only"
    )
    console.print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU core(s), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )
    slowest = rows[0].seconds
    has_tensorflow = any(row.name == "TensorFlow" for row in rows)
    table = Table(
        title="Speed ladder",
        caption=f"loops: {rows[0].measured_images} image(s) timed, scaled to the batch; "
        f"others: median of {repeats} calls"
        + ("; TensorFlow inside tf.function" if has_tensorflow else ""),
    )
    table.add_column("implementation")
    table.add_column("batch", justify="right")
    table.add_column("per image", justify="right")
    table.add_column("speed-up vs loops", justify="right")
    table.add_column("max |diff|", justify="right")
    for row in rows:
        table.add_row(
            row.name,
            _format_seconds(row.seconds),
            _format_seconds(row.seconds_per_image),
            f"{slowest / row.seconds:,.0f}x",
            f"{row.max_abs_diff:.1e}",
        )
    console.print(table)
    if tensorflow and not has_tensorflow:
        console.print("TensorFlow: not installed, rung skipped.")


def _print_blas(console, summary: bool) -> None:
    """The BLAS line, and one warning line when its kernel is older than the CPU's best."""
    from cnnlab import blas

    info = blas.blas_info()
    console.print(blas.blas_line(info), markup=False, soft_wrap=True)
    if summary:
        console.print(blas.kernel_summary(info), markup=False, soft_wrap=True)
    with console.status("comparing BLAS kernels..."):
        warning = blas.check_kernel(info)
    if warning is not None:
        console.print(warning, markup=False, style="yellow", soft_wrap=True)
    elif summary:
        console.print("ok: the kernel is the best this CPU supports", markup=False)


def _format_seconds(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"
