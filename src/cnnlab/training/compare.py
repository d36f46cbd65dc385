"""Compare finished (or interrupted) runs side by side: their metrics as a table, their
learning curves in one figure (:func:`cnnlab.plots.plot_compare_curves`).

Only ``config.json``, ``checkpoint.json``, ``history.csv`` and ``metrics.json`` are read, no
model is loaded, so comparing is fast. Runs of different tasks or datasets may be compared;
their accuracies are then measured on different test sets, and :func:`compare_runs` says so
in ``notes``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cnnlab.errors import ArgumentError
from cnnlab.training.rundir import Run, load_run, read_history_csv

ROWS = (
    ("task", "task"),
    ("engine", "engine"),
    ("model", "model"),
    ("epochs", "epochs"),
    ("train accuracy", "train_accuracy"),
    ("validation accuracy", "validation_accuracy"),
    ("test accuracy", "test_accuracy"),
    ("train loss", "train_loss"),
    ("validation loss", "validation_loss"),
    ("test loss", "test_loss"),
    ("train seconds", "train_seconds"),
)
"""The table's rows: (label, key in each run's entry)."""


def compare_runs(run_dirs: Sequence[str | os.PathLike]) -> dict:
    """The runs' settings, final metrics and histories, ready for a table and a figure.

    Args:
        run_dirs: two or more run directories (either engine, any task).

    Returns:
        ``{"runs": [entry, ...], "rows": ROWS, "notes": [str, ...]}``; each entry holds
        ``name`` (the folder's name, or the path as given when two names clash), ``dir``,
        ``task``, ``engine``, ``model``, ``data``, ``epochs`` (done), ``epochs_planned``,
        ``finished``, ``train_accuracy`` ... ``test_loss`` (``None`` when the run has no
        metrics.json or that split is empty), ``train_seconds`` and ``history`` (history.csv,
        or the checkpoint's history when the file is missing).

    Raises:
        ArgumentError: fewer than two runs, or the same run twice.
        RunError: a path is not a run.
    """
    run_dirs = list(run_dirs)
    if len(run_dirs) < 2:
        raise ArgumentError(
            f"compare needs at least 2 runs. Received: {len(run_dirs)} run"
            + ("s" if len(run_dirs) != 1 else "")
        )
    runs = [load_run(d) for d in run_dirs]
    seen: dict[Path, str] = {}
    for given, run in zip(run_dirs, runs, strict=True):
        key = run.dir.resolve()
        if key in seen:
            raise ArgumentError(f"the same run is given twice: {seen[key]} and {given}")
        seen[key] = str(given)
    names = [r.dir.name or str(d) for r, d in zip(runs, run_dirs, strict=True)]
    if len(set(names)) < len(names):
        names = [str(d) for d in run_dirs]
    entries = [_entry(name, run) for name, run in zip(names, runs, strict=True)]
    notes = []
    tasks = sorted({e["task"] for e in entries})
    if len(tasks) > 1:
        notes.append(
            f"these runs are of different tasks ({', '.join(tasks)}): their accuracies are "
            "measured on different test sets"
        )
    else:
        data = sorted({e["data"] for e in entries})
        if len(data) > 1:
            notes.append(
                f"these runs were trained on different data ({', '.join(data)}): their "
                "accuracies are measured on different test sets"
            )
    unfinished = [e["name"] for e in entries if not e["finished"]]
    if unfinished:
        notes.append(f"not finished (no final metrics): {', '.join(unfinished)}")
    return {"runs": entries, "rows": ROWS, "notes": notes}


def _entry(name: str, run: Run) -> dict:
    cfg = run.config
    history_csv = run.dir / "history.csv"
    history = read_history_csv(history_csv) if history_csv.is_file() else dict(run.history)
    metrics = run.metrics or {}
    entry = {
        "name": name,
        "dir": str(run.dir),
        "task": cfg.task,
        "engine": cfg.engine,
        "model": cfg.model,
        "data": str(cfg.data),
        "epochs": run.epochs_done,
        "epochs_planned": cfg.epochs,
        "finished": run.finished,
    }
    for split in ("train", "validation", "test"):
        values = metrics.get(split) or {}
        for metric in ("accuracy", "loss"):
            value = values.get(metric)
            entry[f"{split}_{metric}"] = float(value) if value is not None else None
    seconds = metrics.get("train_seconds", run.train_seconds)
    entry["train_seconds"] = float(seconds) if seconds is not None else None
    entry["history"] = history
    return entry


def format_comparison(result: dict) -> str:
    """The table of :func:`compare_runs`: one row per quantity, one column per run."""

    def cell(entry: dict, key: str) -> str:
        value = entry.get(key)
        if value is None:
            return "-"
        if key == "epochs":
            planned = entry["epochs_planned"]
            return str(value) if value >= planned else f"{value}/{planned}"
        if key == "train_seconds":
            return f"{value:.2f}"
        if isinstance(value, float):
            return f"{value:.4f}"
        return str(value)

    entries = result["runs"]
    header = ["", *(e["name"] for e in entries)]
    rows = [header] + [[label, *(cell(e, key) for e in entries)] for label, key in result["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        first = r[0].ljust(widths[0])
        rest = [v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
    return "\n".join(lines)
