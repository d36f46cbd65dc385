"""The floors of docs/architecture.md hold: a module imports cnnlab only from its own floor or
below, at the top of the module (a function-local import of cnnlab would hide a circle), and
no module is over 600 lines.

The floors are read from the one ``floor N  module, module`` block of docs/architecture.md,
so the page and the rule cannot drift apart. The imports are read with ``ast``, nothing runs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_LINES = 600

LAZY_ALLOWED = {
    # module: (imported module, why it stays in a function)
    ("cnnlab.nn.model", "cnnlab.nn.saving"): "nn.saving builds a Sequential from nn.model",
    ("cnnlab.nn.model", "cnnlab.nn.interop"): "nn.interop builds a Sequential from nn.model",
    ("cnnlab.nn.functional", "cnnlab.nn.saving"): "nn.saving builds a Model from nn.functional",
    ("cnnlab.nn.functional", "cnnlab.nn.interop"): "nn.interop builds a Model from nn.functional",
}
LAZY_PACKAGES = {
    # package: why its modules may import cnnlab inside functions
    "cnnlab.cli": "the top floor (nothing imports it, so a local import hides no circle); "
    "each command imports the library when it runs, so `cnnlab --help` imports no NumPy",
}


def read_floors(text: str) -> dict[str, int]:
    """``{"cnnlab.ops": 1, ...}`` from the lines ``floor N  a, b, c`` of ``text``."""
    floors: dict[str, int] = {}
    for line in text.splitlines():
        m = re.fullmatch(r"\s*floor (\d+)\s+(.+?)\s*", line)
        if m:
            for name in m.group(2).split(","):
                floors[name.strip()] = int(m.group(1))
    return floors


def floor_of(module: str, floors: dict[str, int]) -> int | None:
    """The floor of ``module``: that of the longest listed name it is or lies under."""
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        name = ".".join(parts[:i])
        if name in floors:
            return floors[name]
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def cnnlab_imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, at top level)`` for every import of cnnlab in ``path``.

    ``from cnnlab.x import y`` counts as importing ``cnnlab.x.y`` when that is a module,
    else ``cnnlab.x``; imports under ``if TYPE_CHECKING:`` are not imports at run time.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    typing_only: set[int] = set()
    top_level: set[int] = set()
    for node in tree.body:
        top_level.add(id(node))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(n) for n in ast.walk(node))
        elif isinstance(node, ast.Try | ast.If):
            top_level.update(id(n) for n in ast.walk(node))
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            names = []
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (SRC / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    SRC / Path(*sub.split(".")) / "__init__.py"
                ).exists()
                names.append(sub if is_module else base)
        else:
            continue
        for name in names:
            if name == "cnnlab" or name.startswith("cnnlab."):
                found.append((name, node.lineno, id(node) in top_level))
    return found


def violations(floors: dict[str, int]) -> list[str]:
    """Every import that goes up a floor or hides in a function, and every long module."""
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        module = module_name(path)
        own = floor_of(module, floors)
        where = path.relative_to(ROOT)
        if own is None and module != "cnnlab":
            problems.append(f"{where}: {module} is on no floor of docs/architecture.md")
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            problems.append(f"{where}: {lines} lines (at most {MAX_LINES})")
        for target, line, top in cnnlab_imports(path):
            if target == "cnnlab":
                continue
            theirs = floor_of(target, floors)
            if own is not None and theirs is not None and theirs > own:
                problems.append(
                    f"{where}:{line}: {module} (floor {own}) imports {target} (floor {theirs})"
                )
            lazy_ok = any(
                module == m and (target == t or target.startswith(t + ".")) for m, t in LAZY_ALLOWED
            ) or any(module.startswith(package + ".") for package in LAZY_PACKAGES)
            if not top and not lazy_ok:
                problems.append(f"{where}:{line}: {module} imports {target} inside a function")
    return problems


@pytest.fixture(scope="module")
def floors() -> dict[str, int]:
    found = read_floors(ARCHITECTURE.read_text())
    assert found, f"{ARCHITECTURE} has no 'floor N  module, ...' lines"
    return found


@pytest.mark.slow
def test_every_module_imports_only_its_floor_or_below(floors):
    assert violations(floors) == []


def test_the_floor_list_names_the_packages_that_exist(floors):
    listed = {name for name in floors if name.startswith("cnnlab.")}
    existing = {module_name(p) for p in SRC.rglob("*.py")}
    top = {m.split(".")[1] for m in existing if m.count(".") >= 1}
    missing = sorted(t for t in top if f"cnnlab.{t}" not in listed)
    assert missing == [], f"on no floor of {ARCHITECTURE.name}: {missing}"


@pytest.mark.slow
def test_a_circle_added_on_purpose_is_caught(floors):
    # ops (floor 1) importing training (floor 4), and a hidden local import: both reported.
    bad = SRC / "cnnlab" / "ops" / "_floor_probe.py"
    bad.write_text(
        "from cnnlab.training import config\n\n\ndef f():\n    from cnnlab import data\n"
    )
    try:
        found = violations(floors)
    finally:
        bad.unlink()
    assert any("_floor_probe.py:1: cnnlab.ops._floor_probe (floor 1) imports" in p for p in found)
    assert any("_floor_probe.py:5:" in p and "inside a function" in p for p in found)


def test_read_floors_parses_the_block_format():
    text = "prose\n```\nfloor 2  cnnlab.data, cnnlab.nn\nfloor 0  cnnlab.errors\n```\n"
    assert read_floors(text) == {"cnnlab.data": 2, "cnnlab.nn": 2, "cnnlab.errors": 0}
    assert floor_of("cnnlab.data.stream", read_floors(text)) == 2
    assert floor_of("cnnlab.ops.conv", read_floors(text)) is None
