"""`cnnlab --help` starts fast: the CLI's modules import the library (and so NumPy) only when
a command runs, never to list the commands and their options."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "tensorflow", "keras", "PIL", "matplotlib", "h5py", "scipy", "sklearn")


def test_building_every_command_and_option_imports_no_numpy():
    code = (
        "import sys\n"
        "import typer.main\n"
        "from cnnlab.cli import app\n"
        "typer.main.get_command(app)\n"  # what --help builds: every command and its options
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_a_command_still_imports_what_it_needs_when_it_runs(tmp_path):
    # `cnnlab explain params` imports cnnlab.explain inside the command: it must still work
    code = (
        "import sys\n"
        "from cnnlab.cli import main\n"
        "sys.argv = ['cnnlab', 'explain', 'params', '--input', '8x8x3', '--dense', '4']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "8 * 8 * 3 = 192 input features" in done.stdout
    assert "192 * 4 weights + 4 biases = 772 parameters" in done.stdout
