"""``cnnlab explain``: shapes, parameters and pictures of convolution and pooling.

Thin commands over :mod:`cnnlab.explain`: parse, call the library, print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab import _validate
from cnnlab.errors import ArgumentError

app = typer.Typer(
    help="Explain shapes, parameters and operations: conv, pool, params, model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

InputOpt = Annotated[
    str, typer.Option("--input", "-i", help="Input size HxWxC, HxW or N (e.g. 6x6x3).")
]
PaddingOpt = Annotated[
    str, typer.Option(help="'valid', 'same' (TensorFlow's rule), or N zeros on every side.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Where to write the PNG (default: conv.png or pool.png here); the GIF goes beside it.",
    ),
]
AnimateOpt = Annotated[
    bool, typer.Option("--animate", help="Also write an animated GIF beside the PNG.")
]
NoFigureOpt = Annotated[bool, typer.Option("--no-figure", help="Print only; write no picture.")]
SeedOpt = Annotated[int, typer.Option(help="Seed of the example numbers in the picture.")]


def _png_path(kind: str, out: Path | None) -> Path:
    png = Path(out) if out is not None else Path(f"{kind}.png")
    if png.suffix.lower() != ".png":
        raise ArgumentError(f"--out must name a .png file. Received: --out={str(png)!r}")
    return png


def _write_figures(kind: str, e, png: Path, animate: bool, seed: int) -> None:

    from cnnlab import explain

    draw = explain.conv_figure if kind == "conv" else explain.pool_figure
    animation = explain.conv_animation if kind == "conv" else explain.pool_animation
    typer.echo("")
    typer.echo(f"wrote {draw(e, png, seed=seed)}")
    padded = [n + sum(p) for n, p in zip(e.input_shape[:2], e.pads, strict=True)]
    if max(padded) > explain.NUMBERS_UP_TO:
        typer.echo(
            f"  (numbers appear in the cells when the padded input is at most "
            f"{explain.NUMBERS_UP_TO}x{explain.NUMBERS_UP_TO}, e.g. --input 6x6)"
        )
    if animate:
        typer.echo(f"wrote {animation(e, png.with_suffix('.gif'), seed=seed)}")


@app.command()
def conv(
    input: InputOpt = "6x6x3",
    filters: Annotated[int, typer.Option(help="Number of filters n_C.")] = 8,
    kernel: Annotated[str, typer.Option(help="Filter size f or fHxfW.")] = "3",
    stride: Annotated[str, typer.Option(help="Stride s or sHxsW.")] = "1",
    padding: PaddingOpt = "valid",
    out: OutOpt = None,
    animate: AnimateOpt = False,
    no_figure: NoFigureOpt = False,
    seed: SeedOpt = 0,
) -> None:
    """Output shape, parameters and multiply-adds of a convolution, with a picture.

    Example: cnnlab explain conv --input 6x6x3 --filters 8 --kernel 3 --stride 2 --padding same
    """
    from cnnlab import explain

    png = _png_path("conv", out)
    e = explain.explain_conv(
        _validate.shape(input, "input"),
        filters,
        _validate.shape(kernel, "kernel", ndim=2),
        _validate.shape(stride, "stride", ndim=2),
        _validate.padding_spec(padding),
    )
    typer.echo(str(e))
    if not no_figure:
        _write_figures("conv", e, png, animate, seed)


@app.command()
def pool(
    input: InputOpt = "4x4x1",
    size: Annotated[str, typer.Option("--size", "-f", help="Window size f or fHxfW.")] = "2",
    stride: Annotated[
        str | None, typer.Option(help="Stride s or sHxsW (default: the window size).")
    ] = None,
    padding: PaddingOpt = "valid",
    mode: Annotated[
        Literal["max", "average", "avg", "mean", "both"],
        typer.Option(
            case_sensitive=False,
            help="Which pooling to show ('avg' and 'mean' are names of 'average').",
        ),
    ] = "both",
    out: OutOpt = None,
    animate: AnimateOpt = False,
    no_figure: NoFigureOpt = False,
    seed: SeedOpt = 0,
) -> None:
    """Output shape of max and average pooling, with a picture of the numbers in the cells.

    Example: cnnlab explain pool --input 4x4 --size 2 --mode both --animate
    """
    from cnnlab import explain

    png = _png_path("pool", out)
    e = explain.explain_pool(
        _validate.shape(input, "input"),
        _validate.shape(size, "size", ndim=2),
        None if stride is None else _validate.shape(stride, "stride", ndim=2),
        _validate.padding_spec(padding),
        _validate.one_of(mode, "--mode", explain.POOL_MODES, aliases=_validate.POOL_MODE_ALIASES),
    )
    typer.echo(str(e))
    if not no_figure:
        _write_figures("pool", e, png, animate, seed)


@app.command()
def params(
    input: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="Image size HxWxC; repeat for several."),
    ] = None,
    dense: Annotated[int, typer.Option(help="Hidden units of the dense layer.")] = 1000,
    filters: Annotated[int, typer.Option(help="Filters of the convolution.")] = 10,
    kernel: Annotated[str, typer.Option(help="Filter size of the convolution.")] = "3",
    small: Annotated[
        bool, typer.Option("--small/--no-small", help="Also show a 64x64x3 image.")
    ] = True,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write a bar chart PNG here.")
    ] = None,
) -> None:
    """A dense layer on a flattened image next to a convolution: the parameter explosion.

    Example: cnnlab explain params --input 1000x1000x3 --dense 1000
    """
    from cnnlab import explain

    sizes = [_validate.shape(s, "input") for s in (input or ["1000x1000x3"])]
    if small and (64, 64, 3) not in sizes:
        sizes.append((64, 64, 3))
    k = _validate.shape(kernel, "kernel", ndim=2)
    comparisons = [explain.explain_params(s, dense, filters, k) for s in sizes]
    typer.echo("\n\n".join(str(c) for c in comparisons))
    if out is not None:
        if out.suffix.lower() != ".png":
            raise ArgumentError(f"--out must name a .png file. Received: --out={str(out)!r}")
        typer.echo("")
        typer.echo(f"wrote {explain.params_figure(comparisons, out)}")


@app.command()
def model(
    target: Annotated[str, typer.Argument(help="'happy', 'signs', or a run directory.")],
    input: Annotated[
        str | None, typer.Option("--input", "-i", help="Input size for happy/signs (64x64x3).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also write a PNG of values and parameters per layer."),
    ] = None,
) -> None:
    """Layer by layer output shapes and parameters, computed by the calculator.

    Example: cnnlab explain model signs
    """
    from cnnlab import explain

    shape = None if input is None else _validate.shape(input, "input")
    if out is not None and out.suffix.lower() != ".png":
        raise ArgumentError(f"--out must name a .png file. Received: --out={str(out)!r}")
    e = explain.explain_model(target, input_shape=shape)
    typer.echo(str(e))
    if out is not None:
        typer.echo("")
        typer.echo(f"wrote {explain.model_figure(e, out)}")
