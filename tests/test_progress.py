"""The shared progress helper: when a bar shows, and the columns of each style."""

from __future__ import annotations

import io

import pytest

from cnnlab import _progress


def test_enabled_follows_the_argument_or_the_terminal(monkeypatch):
    assert _progress.enabled(True) and not _progress.enabled(False)
    monkeypatch.setattr("sys.stdout", io.StringIO())  # not a terminal
    assert _progress.enabled(None) is False


@pytest.mark.parametrize("style", _progress.STYLES)
def test_each_style_makes_a_working_bar(style):
    bar = _progress.rich_bar(style, transient=True)
    task = bar.add_task("work", total=4, stats="")
    bar.update(task, advance=4, stats="loss 0.5")
    assert bar.tasks[0].completed == 4 and bar.tasks[0].finished
    assert len(bar.columns) == {"steps": 5, "bytes": 4}.get(style, len(bar.get_default_columns()))
    bar.get_renderable()  # every column renders the task


def test_an_unknown_style_is_refused():
    with pytest.raises(ValueError, match="style must be one of steps, bytes, items"):
        _progress.rich_bar("dots")
