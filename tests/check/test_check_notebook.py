"""Notebooks: which cells are checked, where a failure is reported, and bad notebooks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab.check import CheckError, check_module
from cnnlab.check.notebook import joined_source, notebook_source
from reliability.conftest import assert_user_error, run_cnnlab

NOTEBOOKS = Path(__file__).parent / "notebooks"
SOLUTIONS = Path(__file__).parent / "solutions"


def _notebook(path: Path, *cells: str) -> Path:
    """A notebook of code cells (a markdown cell first, so code cells start at cell 2)."""
    nb = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# work"]}]
        + [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": c.splitlines(keepends=True),
            }
            for c in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb), encoding="utf-8")
    return path


def test_definitions_are_kept_and_running_plotting_and_magic_cells_are_not(tmp_path):
    nb = _notebook(
        tmp_path / "w.ipynb",
        "%matplotlib inline\nimport numpy as np\nimport matplotlib.pyplot as plt\n"
        "from public_tests import *\nnp.random.seed(1)\nPAD = 2\nDTYPE = np.float64\n"
        "SHAPE = x.shape",
        "def zero_pad(X, pad=PAD):\n    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))"
        "\n\nprint(zero_pad(np.ones((1, 1, 1, 1))).shape)\nzero_pad_test(zero_pad)",
        "!pip install numpy\nfig, ax = plt.subplots()\ndisplay(fig)",
        "%%time\ndef conv_forward(A_prev, W, b, hparameters):\n    return 0",
        "x = np.ones(3)\nfor i in range(3):\n    print(i)",
        "np.pad?\nfiles = !ls\ndef distribute_value(dz, shape):\n    return np.full(shape, dz)",
    )
    source = notebook_source(nb)
    text = source.text
    assert "import numpy as np" in text and "PAD = 2" in text and "DTYPE = np.float64" in text
    assert "def zero_pad(X, pad=PAD):" in text
    for gone in ("matplotlib", "public_tests", "seed", "print", "pip", "plt", "x.shape", "%"):
        assert gone not in text, gone
    assert "conv_forward" not in text  # a %%time cell only runs
    assert "ls" not in text and "?" not in text
    assert source.defines == {"zero_pad": ["cell 3"], "distribute_value": ["cell 7"]}
    report = check_module(nb, n_random=1)
    assert [f.name for f in report.functions if f.counted] == ["zero_pad", "distribute_value"]
    assert report["zero_pad"].status == "passed", str(report)
    assert report["distribute_value"].status == "failed"  # dz, not dz / n: it ran


def test_a_failure_names_the_cell_and_its_line():
    report = check_module(NOTEBOOKS / "raises.ipynb", functions=["conv_single_step"])
    message = report["conv_single_step"].failure.message
    assert message.startswith("raised ValueError: stuck here, Z = ")
    assert message.endswith(' at cell 3, line 3: raise ValueError(f"stuck here, Z = {Z:.0f}")')


def test_a_syntax_error_names_the_notebook_and_the_cell(tmp_path):
    nb = _notebook(
        tmp_path / "w.ipynb",
        "import numpy as np",
        "def zero_pad(X, pad)\n    return X",
        "this is not python, and defines nothing",
    )
    with pytest.raises(CheckError, match=r"^.*w\.ipynb: cell 3, line 1: SyntaxError: "):
        check_module(nb)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"cells": [{"cell_type": "code", "source": "def', "not valid JSON"),
        ("[1, 2]", "no list of cells"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
def test_a_file_that_is_not_a_notebook_is_one_error_naming_it(tmp_path, text, why):
    path = tmp_path / "work.ipynb"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CheckError, match=rf"work\.ipynb: not a Jupyter notebook \({why}"):
        check_module(path)


def test_a_notebook_without_the_course_functions_says_so(tmp_path):
    nb = _notebook(tmp_path / "w.ipynb", "import numpy as np\nprint(np.ones(3))")
    with pytest.raises(CheckError, match=r"w\.ipynb: a notebook with no code cell defining"):
        check_module(nb)


def test_files_joined_keep_their_names_in_the_report(tmp_path):
    shutil.copy(SOLUTIONS / "correct.py", tmp_path / "a.py")
    nb = _notebook(tmp_path / "b.ipynb", "def conv_single_step(a, W, b):\n    x = 1\n    1 / 0")
    source = joined_source([tmp_path / "a.py", nb])
    assert source.defines["conv_single_step"] == ["a.py", "b.ipynb"]
    assert source.defines["zero_pad"] == ["a.py"]
    line = source.text.split("\n").index("    1 / 0") + 1
    assert source.locate(line) == "b.ipynb, cell 2, line 3"
    assert source.locate(5) == "a.py, line 4"


def test_check_module_of_a_notebook_main_module_still_works(tmp_path):
    """check_module(__main__) in a notebook: the functions' source, read by inspect."""
    script = (
        "import __main__, linecache\n"
        f"source = open({str(SOLUTIONS / 'correct.py')!r}).read()\n"
        "linecache.cache['<cell-1>'] = (len(source), None, source.splitlines(True), '<cell-1>')\n"
        "exec(compile(source, '<cell-1>', 'exec'), __main__.__dict__)\n"
        "from cnnlab.check import check_module\n"
        "report = check_module(__main__, functions=['zero_pad', 'pool_forward'], n_random=1)\n"
        "print(report.file, report.passed)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "__main__ True"


@pytest.mark.slow
def test_the_command_checks_a_notebook_with_running_and_plotting_cells(tmp_path):
    result = run_cnnlab("check", NOTEBOOKS / "work.ipynb", cwd=tmp_path, timeout=120)
    assert result.code == 0, result.stdout + result.stderr
    assert "8 passed: exit code 0" in result.stdout
    assert result.stderr == ""
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_the_command_refuses_a_broken_notebook_with_one_line(tmp_path):
    broken = tmp_path / "broken.ipynb"  # cut off half-way, as an interrupted upload
    broken.write_text((NOTEBOOKS / "work.ipynb").read_text(encoding="utf-8")[:500])
    result = run_cnnlab("check", broken, cwd=tmp_path)
    assert_user_error(result, "broken.ipynb", "not a Jupyter notebook", max_lines=1)


@pytest.mark.slow
def test_check_module_inside_a_running_notebook(tmp_path):
    """In a real kernel: check_module(__main__) checks the cells' functions, and
    check_module("work.ipynb") the notebook file."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    shutil.copy(NOTEBOOKS / "work.ipynb", tmp_path / "work.ipynb")
    correct = (SOLUTIONS / "correct.py").read_text(encoding="utf-8")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(correct),
        nbformat.v4.new_code_cell(
            "import __main__\nfrom cnnlab.check import check_module\n"
            "r = check_module(__main__, functions=['zero_pad', 'conv_forward'], n_random=1)\n"
            "print('main', r.passed, [f.status for f in r.functions])\n"
            "r = check_module('work.ipynb', functions=['pool_backward'], n_random=1)\n"
            "print('file', r.passed)"
        ),
    ]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    out = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.output_type == "stream")
    assert "main True ['passed', 'passed']" in out, nb.cells[1].outputs
    assert "file True" in out
