"""``cnnlab compare | export``: thin commands over :mod:`cnnlab.training.compare` and
:mod:`cnnlab.training.export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

# Typer lists these in --help and refuses anything else with its usage message (exit 2).
# They equal cnnlab.training.export.FORMATS (a test checks it), spelled out here so that
# `cnnlab --help` does not import TensorFlow.
Format = Literal["keras", "tf_saved_model", "onnx", "litert"]


def compare(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Two or more run directories.", metavar="RUN", show_default=False),
    ],
    out: Annotated[
        Path, typer.Option(help="Where to write the overlaid learning curves (PNG).")
    ] = Path("compare.png"),
) -> None:
    """Compare runs: their metrics side by side, their learning curves in one figure.

    Reads only history.csv, metrics.json and the run's config (no model is loaded). Runs of
    different tasks may be compared; their accuracies are then on different test sets.
    """
    from cnnlab._io import save_figure
    from cnnlab.plots import plot_compare_curves
    from cnnlab.training.compare import compare_runs, format_comparison

    if len(runs) < 2:
        raise typer.BadParameter(
            f"compare needs at least 2 runs; received {len(runs)}", param_hint="RUN..."
        )

    result = compare_runs(runs)
    print(format_comparison(result))
    for note in result["notes"]:
        print(f"note: {note}")
    histories = {e["name"]: e["history"] for e in result["runs"]}
    if any(len(v) for h in histories.values() for v in h.values()):
        save_figure(plot_compare_curves(histories), out)
        print(f"learning curves: {out}")
    else:
        print("learning curves: none (no run has finished an epoch)")


def export(
    run: Annotated[
        Path, typer.Argument(help="The run directory.", metavar="RUN", show_default=False)
    ],
    format: Annotated[
        Format,
        typer.Option(
            "--format",
            help="keras (.keras file), tf_saved_model (folder), onnx (needs the extra "
            "cnnlab\\[onnx]) or litert (.tflite).",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Output path. (default: RUN/export/FORMAT.keras|/|.onnx|.tflite)"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output.")] = False,
) -> None:
    """Export a run's model (either engine) for serving, checked against the run's model.

    The exported file is read back with its own runtime and must give the run's
    probabilities within 1e-5 before it is put in place.
    """
    from cnnlab.training import load_run
    from cnnlab.training.export import TOLERANCE, describe_io, export_run

    loaded = load_run(run)
    path = export_run(loaded, format, out, overwrite=force)
    print(f"wrote {path} ({format})")
    print(describe_io(loaded))
    print(f"checked: reproduces the run's probabilities within {TOLERANCE:g}")
