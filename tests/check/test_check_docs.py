"""docs/checking-your-work.md: its sample report is what the command prints, every
diagnosis has a section, and the rich table shows the same details."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from rich.console import Console

from cnnlab.check import check_module
from cnnlab.check.diagnoses import MISTAKES
from cnnlab.check.report import rich_report
from reliability.conftest import run_cnnlab

SOLUTIONS = Path(__file__).parent / "solutions"
PAGE = Path(__file__).resolve().parents[2] / "docs" / "checking-your-work.md"
TRANSCRIPT = re.compile(r"```console\n\$ (cnnlab check [^\n]*)\n(.*?)```", re.S)


def test_the_sample_report_matches_the_command(tmp_path):
    (match,) = TRANSCRIPT.findall(PAGE.read_text(encoding="utf-8"))
    command, expected = match
    shutil.copy(SOLUTIONS / "stride_ignored.py", tmp_path / "conv_exercise.py")
    shutil.copy(SOLUTIONS / "correct.py", tmp_path / "correct.py")
    result = run_cnnlab(*shlex.split(command)[1:], cwd=tmp_path)
    assert result.code == 1, result.stderr
    out = result.stdout
    if out.startswith("warning: no sandbox here"):  # a machine without bubblewrap
        out = out.split("\n", 1)[1]
    assert out.rstrip() == expected.rstrip(), "the docs' sample report is out of date"


def test_every_mistake_has_a_section_on_the_page():
    text = PAGE.read_text(encoding="utf-8")
    for mistake in MISTAKES:
        assert f"`{mistake}`" in text, mistake


def test_the_rich_table_shows_the_case_the_difference_and_the_diagnosis():
    report = check_module(SOLUTIONS / "average_wrong_count.py", functions=["pool_forward"])
    console = Console(record=True, width=200, force_terminal=False)
    rich_report(report, console)
    out = console.export_text()
    assert "pool_forward" in out and "failed" in out
    assert "average" in out and "got" in out and "expected" in out
    assert "diagnosis: the average divides by the wrong count" in out
    assert "1 failed: exit code 1" in out
