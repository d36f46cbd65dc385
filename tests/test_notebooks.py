"""The notebooks are stored without outputs and run from top to bottom on small data."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the slow tier: uv run pytest -m slow

nbformat = pytest.importorskip("nbformat")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_convolution_step_by_step.ipynb", "02_mood_and_signs.ipynb"]
BUDGET_S = 180


def _kernel_available() -> str | None:
    """None when the 'python3' kernel can be started, else the reason it cannot."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        KernelSpecManager().get_kernel_spec("python3")
    except ImportError as exc:  # pragma: no cover - nbclient depends on jupyter_client
        return f"jupyter_client is not installed ({exc})"
    except NoSuchKernel:
        return "no 'python3' Jupyter kernel (install ipykernel in this environment)"
    return None


def _outputs(nb) -> str:
    """All text the executed notebook printed or returned."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif "data" in out:
                parts.append(out["data"].get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 5
    for cell in code:
        assert cell.outputs == [], f"{name}: a cell is stored with outputs"
        assert cell.execution_count is None, f"{name}: a cell is stored with an execution count"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            NAMES[0],
            [
                "Z.shape = (2, 3, 4, 8)",
                "3,000,001,000 parameters",
                "cnnlab fast",
                # the vertical-edge filter on a 10 | 0 image: 30 exactly on the edge, 0 away
                "[[ 0. 30. 30.  0.]\n [ 0. 30. 30.  0.]\n [ 0. 30. 30.  0.]\n [ 0. 30. 30.  0.]]",
            ],
        ),
        (
            NAMES[1],
            [
                "Model happy_model",
                "Total params: 37,633",
                "largest difference between the two APIs: 0.0",
                "confusion matrix",
                "predicted: ",
                "(run ",
                "precision    recall  f1-score   support",  # section 6: the per-class report
                "most confused (true, predicted, count):",
            ],
        ),
    ],
)
def test_notebook_runs(name, expected, tmp_path):
    reason = _kernel_available()
    if reason is not None:
        pytest.skip(reason)
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        nb,
        timeout=BUDGET_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, when one fails
    seconds = time.perf_counter() - start
    assert seconds < BUDGET_S, f"{name} took {seconds:.0f} s"
    text = _outputs(nb)
    for snippet in expected:
        assert snippet in text, f"{name}: {snippet!r} not in the outputs"
    images = [
        out
        for cell in nb.cells
        for out in cell.get("outputs", [])
        if "image/png" in out.get("data", {}) or "image/gif" in out.get("data", {})
    ]
    assert images, f"{name} showed no picture"
    assert list(tmp_path.iterdir()) == [], f"{name} wrote into its working folder"
