"""``Sequential.summary()``'s table, as Keras prints it: each layer's name, type, output
shape and parameter count, the totals, and a compiled model's plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnlab.nn.model import Sequential


def _readable_size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} GB"  # pragma: no cover


def summary_lines(model: Sequential, line_length: int | None = None) -> list[str]:
    """The lines of ``model.summary(line_length)`` (the model must be built)."""
    rows = [("Layer (type)", "Output Shape", "Param #")]
    for layer in model._layers:
        rows.append(
            (
                f"{layer.name} ({type(layer).__name__})",
                str(tuple(layer.output_shape)),
                f"{layer.count_params():,}",
            )
        )
    widths = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
    if line_length is not None and line_length > sum(widths):
        widths[0] += line_length - sum(widths)
    line = "-" * sum(widths)
    size = model.model_dtype.itemsize
    tr = sum(w.value.size for w in model.trainable_weights)
    nt = sum(w.value.size for w in model.non_trainable_weights)
    out = [f'Model: "{model.name}"', line]
    for i, r in enumerate(rows):
        out.append(r[0].ljust(widths[0]) + r[1].ljust(widths[1]) + r[2].rjust(widths[2]))
        if i == 0:
            out.append("=" * sum(widths))
    out += [
        line,
        f" Total params: {tr + nt:,} ({_readable_size((tr + nt) * size)})",
        f" Trainable params: {tr:,} ({_readable_size(tr * size)})",
        f" Non-trainable params: {nt:,} ({_readable_size(nt * size)})",
    ]
    if model.compiled:  # how fit() runs the layers (see cnnlab.nn.plan)
        out += [line, *(f" {text}" for text in model.plan.lines())]
    return out
