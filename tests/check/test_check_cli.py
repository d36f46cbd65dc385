"""``cnnlab exercise`` and ``cnnlab check`` through the real entry point, in a subprocess."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reliability.conftest import (
    assert_unchanged,
    assert_user_error,
    run_cnnlab,
    snapshot,
    temporaries,
)

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

SOLUTIONS = Path(__file__).parent / "solutions"


def test_a_correct_file_passes_with_exit_0(tmp_path):
    result = run_cnnlab("check", SOLUTIONS / "correct.py", cwd=tmp_path, timeout=120)
    assert result.code == 0, result.stdout + result.stderr
    assert "8 passed: exit code 0" in result.stdout
    assert result.stderr == ""
    assert not any(tmp_path.iterdir())


def test_a_wrong_file_fails_with_exit_1_and_names_the_mistake(tmp_path):
    result = run_cnnlab(
        "check", SOLUTIONS / "stride_ignored.py", "--function", "conv_forward", cwd=tmp_path
    )
    assert result.code == 1, result.stderr
    out = result.stdout
    assert "conv_forward" in out and "FAILED" in out
    assert "case 1 of" in out and "(course example)" in out and "stride 2" in out
    assert "Z[0, 0, 1, 0]: got" in out
    assert "diagnosis: the stride is ignored (in both directions)" in out
    assert "Traceback" not in out + result.stderr


def test_json_output_for_tools(tmp_path):
    result = run_cnnlab(
        "check", SOLUTIONS / "not_accumulated.py", "-f", "conv_backward", "-f", "zero_pad",
        "--json", cwd=tmp_path,
    )  # fmt: skip
    assert result.code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["exit_code"] == 1 and data["passed"] is False
    statuses = {f["name"]: f["status"] for f in data["functions"]}
    assert statuses == {"zero_pad": "passed", "conv_backward": "failed"}
    conv = data["functions"][1]
    assert conv["diagnosis"]["id"] == "gradients-not-accumulated"
    assert conv["failure"]["difference"]["output"] == "dW"
    assert conv["failure"]["difference"]["n_differ"] > 0


def test_a_syntax_error_is_one_line_with_the_file_and_line(tmp_path):
    bad = tmp_path / "mine.py"
    bad.write_text("import numpy as np\n\ndef zero_pad(X, pad)\n    return X\n")
    result = run_cnnlab("check", bad, cwd=tmp_path)
    assert_user_error(result, f"{bad}:3", "SyntaxError", max_lines=1)


def test_usage_errors_exit_2(tmp_path):
    result = run_cnnlab("check", tmp_path / "missing.py", cwd=tmp_path)
    assert_user_error(result, "missing.py", "no such file", max_lines=1)
    result = run_cnnlab("check", SOLUTIONS / "correct.py", "--function", "conv", cwd=tmp_path)
    assert_user_error(result, "'conv'", "zero_pad", max_lines=1)


def test_exercise_then_check_reports_not_implemented_and_refuses_to_overwrite(tmp_path):
    result = run_cnnlab("exercise", "ex", cwd=tmp_path)
    assert result.code == 0, result.stderr
    starter = tmp_path / "ex" / "conv_exercise.py"
    readme = (tmp_path / "ex" / "README.md").read_text()
    assert "cnnlab check conv_exercise.py" in readme
    assert "runs your own code" in readme
    assert (
        readme.index("`zero_pad`")
        < readme.index("`conv_forward`")
        < readme.index("`pool_backward`")
    )
    source = starter.read_text()
    assert source.count("    raise NotImplementedError(") == 8
    for name in ("def conv_forward(A_prev, W, b, hparameters):", "def pool_backward(dA, cache"):
        assert name in source

    result = run_cnnlab("check", starter, cwd=tmp_path)
    assert result.code == 1
    lines = [line for line in result.stdout.splitlines() if line.endswith("not implemented")]
    assert len(lines) == 8, result.stdout
    assert "8 not implemented: exit code 1" in result.stdout
    assert "FAILED" not in result.stdout and "diagnosis" not in result.stdout

    before = snapshot(tmp_path)
    result = run_cnnlab("exercise", "ex", cwd=tmp_path)
    assert_user_error(result, "conv_exercise.py", "--force", max_lines=1)
    assert_unchanged(tmp_path, before)

    starter.write_text("# my work\n")
    result = run_cnnlab("exercise", "ex", "--force", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert starter.read_text().count("    raise NotImplementedError(") == 8
    assert temporaries(tmp_path) == []


def test_a_file_that_raises_or_prints_gets_its_report(tmp_path):
    shutil.copy(SOLUTIONS / "correct.py", tmp_path / "correct.py")
    shutil.copy(SOLUTIONS / "raises_one.py", tmp_path / "raises_one.py")
    result = run_cnnlab("check", tmp_path / "raises_one.py", "-f", "conv_single_step", cwd=tmp_path)
    assert result.code == 1
    assert "raised ValueError: I am stuck here at line 10" in result.stdout
    result = run_cnnlab("check", SOLUTIONS / "prints_a_lot.py", "-f", "zero_pad", cwd=tmp_path)
    assert result.code == 0, result.stdout
    assert "loading my solution" not in result.stdout.splitlines()[0]
    assert result.stdout.count("padding (") <= 10


def test_the_starter_holds_signatures_docstrings_and_no_solution():
    import ast
    import inspect

    from cnnlab.check.exercise import starter_text
    from cnnlab.ops import reference

    tree = ast.parse(starter_text())
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert [d.name for d in defs] == [
        "zero_pad", "conv_single_step", "conv_forward", "pool_forward", "conv_backward",
        "create_mask_from_window", "distribute_value", "pool_backward",
    ]  # fmt: skip
    for d in defs:
        docstring, body = d.body[0], d.body[1:]
        assert isinstance(docstring, ast.Expr) and "shape" in ast.get_docstring(d)
        assert len(body) == 1 and isinstance(body[0], ast.Raise), d.name
        assert ast.unparse(body[0].exc.func) == "NotImplementedError"
        # the course's argument names and defaults
        ref_params = list(inspect.signature(getattr(reference, d.name)).parameters)
        assert [a.arg for a in d.args.args] == ref_params, d.name


def test_help_says_what_each_exit_code_means(tmp_path):
    result = run_cnnlab("check", "--help", cwd=tmp_path, env={"COLUMNS": "200"})
    assert result.code == 0, result.stderr
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "Exit codes: 0 every checked function passed" in text
    assert "1 a function failed" in text and "2 a usage error" in text
    assert "3 an internal error (a bug in cnnlab)" in text
    for option in ("--csv", "--junit", "--points", "--jobs"):
        assert option in text


def test_one_file_without_csv_keeps_its_exit_codes(tmp_path):
    """Exit 1 when a function fails (the report on stdout), and nothing written."""
    result = run_cnnlab(
        "check", SOLUTIONS / "bias_missing.py", "-f", "conv_single_step", cwd=tmp_path
    )
    assert result.code == 1, result.stderr
    assert result.stdout.startswith(f"cnnlab check {SOLUTIONS / 'bias_missing.py'} (seed 0")
    assert "submissions graded" not in result.stdout
    assert not any(tmp_path.iterdir())
