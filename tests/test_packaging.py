"""What a plain ``pip install`` gets: the wheel holds the licence, ``py.typed``, the studio's
static files and every shipped model with its licence and NOTICE; its metadata asks for one
TensorFlow and the TensorBoard the README uses; the version is one, and ``cnnlab --version``
says it. (.ci/plain-pip installs that wheel with pip and runs it.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import cnnlab

ROOT = Path(__file__).resolve().parents[1]
CNNLAB = Path(sys.executable).with_name("cnnlab")


def test_one_version_and_cnnlab_version():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert cnnlab.__version__ == declared
    out = subprocess.run([str(CNNLAB), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout == f"cnnlab {declared}\n"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (it builds the wheel)")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    [path] = out.glob("cnnlab-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_the_wheel_holds_the_licences_types_studio_and_models(wheel):
    names = set(wheel.namelist())
    dist = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert f"{dist}/licenses/LICENSE" in names
    assert "cnnlab/py.typed" in names
    static = ROOT / "src" / "cnnlab" / "studio" / "static"
    for f in static.rglob("*"):
        if f.is_file():
            assert f"cnnlab/studio/static/{f.relative_to(static).as_posix()}" in names, f
    files = ROOT / "src" / "cnnlab" / "pretrained" / "files"
    shipped = [f.name for f in files.iterdir() if f.is_file()]
    assert any(n.startswith("LICENSE") for n in shipped) and "NOTICE" in shipped
    for name in shipped:
        assert f"cnnlab/pretrained/files/{name}" in names, name
    metadata = Parser().parsestr(wheel.read(f"{dist}/METADATA").decode())
    requires = metadata.get_all("Requires-Dist")
    tf = [r for r in requires if r.startswith(("tensorflow-cpu", "tensorflow<", "tensorflow>"))]
    assert len(tf) == 2 and all("<2.21" in r for r in tf), tf  # one per platform, the tested
    assert any(r.startswith("tensorboard") for r in requires)
    assert not any("face-detection" in r or r.startswith("fer") for r in requires)
    assert metadata["License-Expression"] == "MIT"


@pytest.mark.slow
def test_tensorboard_starts():
    """``uv run tensorboard --logdir runs`` (README, ``train --help``) must not stop on a
    missing ``pkg_resources``."""
    exe = Path(sys.executable).with_name("tensorboard")
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip()[:1].isdigit()
