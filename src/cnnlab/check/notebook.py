"""A learner's notebook (or several files) as the one Python file the checker runs.

A Jupyter notebook is JSON; its code cells hold the course's functions, and also cells that
only run them, print or plot. :func:`notebook_source` keeps, from every code cell, the
top-level statements that *define* things:

* ``def`` and ``class`` statements (with their decorators);
* simple constant assignments (``EPS = 1e-8``, ``SHAPE = (2, 3)``, ``DTYPE = np.float64``);
* imports, when they bind a name the kept code uses or one of the course's function names
  (``import matplotlib.pyplot as plt`` in a plotting cell goes), and star imports of a
  module that can be found (``from public_tests import *`` next to a course notebook
  cannot, and goes).

Everything else (calls, loops, ``print``, ``display``, assignments of computed values) is
left out, and so are IPython's own lines (``%matplotlib inline``, ``!pip install ...``,
``%%time`` cells). A cell that is not valid Python is kept as it is when it defines one of
the course's functions (so the syntax error is reported with its cell), and left out
otherwise. The kept lines keep their cell and line numbers, so the report says
``cell 4, line 3`` (cells are counted from 1, markdown cells included, as they appear in
the notebook).

:func:`joined_source` does the same for a folder holding several files: the ``.py`` files
are taken as they are, the notebooks as above, one after the other.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.check.cases import FUNCTIONS
from cnnlab.check.runner import CheckError

_MAGIC = re.compile(r"^\s*(%|!)")  # %matplotlib inline, !pip install ...
_ASSIGNED_MAGIC = re.compile(r"^\s*\w+\s*=\s*[!%]")  # files = !ls
_HELP = re.compile(r"^\s*[\w.]+\?\??\s*$")  # np.pad?
_COURSE_DEF = re.compile(rf"^\s*def\s+({'|'.join(FUNCTIONS)})\s*\(", re.M)


@dataclass
class Piece:
    """Lines ``start``..``start + len(lines) - 1`` of the joined file came from ``origin``
    (``"cell 4"``, ``"work.py"``, ``"work.ipynb, cell 4"``), from its line ``first``."""

    origin: str
    first: int
    start: int
    count: int


@dataclass
class JoinedSource:
    """The Python text to check, and where each of its lines came from."""

    text: str = ""
    pieces: list[Piece] = field(default_factory=list)
    defines: dict[str, list[str]] = field(default_factory=dict)  # function -> origins

    def add(self, origin: str, first: int, lines: list[str]) -> None:
        start = self.text.count("\n") + 1
        self.pieces.append(Piece(origin, first, start, len(lines)))
        self.text += "\n".join(lines) + "\n"

    def locate(self, line: int) -> str | None:
        """``"cell 4, line 3"`` for a line of the joined file; None for a line of its own."""
        for p in self.pieces:
            if p.start <= line < p.start + p.count and p.origin != "(added)":
                return f"{p.origin}, line {p.first + line - p.start}"
        return None


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(map(str, source)) if isinstance(source, list) else str(source)


def read_cells(path: Path) -> list[tuple[int, str]]:
    """``(cell number, source)`` of each code cell; a :class:`CheckError` naming the file
    when it is not a notebook."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise CheckError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CheckError(f"{path}: is a folder, not a notebook") from None
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckError(f"{path}: not a Jupyter notebook (not valid JSON: {exc})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise CheckError(f"{path}: not a Jupyter notebook (no list of cells)")
    return [
        (k, _cell_text(c)) for k, c in enumerate(cells, start=1) if c.get("cell_type") == "code"
    ]


def _without_magics(text: str) -> list[str] | None:
    """The cell's lines with IPython's own lines (magics, shell escapes, ``name?``) made
    ``pass``; None for a cell that starts with a ``%%`` cell magic."""
    lines = text.split("\n")
    if lines and lines[0].lstrip().startswith("%%"):
        return None
    out = []
    for line in lines:
        if _MAGIC.match(line) or _ASSIGNED_MAGIC.match(line) or _HELP.match(line):
            indent = line[: len(line) - len(line.lstrip())]
            line = f"{indent}pass"
        out.append(line)
    return out


def _constant(node: ast.AST) -> bool:
    """A literal, or arithmetic of literals and dotted names (``np.pi / 2``)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is not None and _constant(k) for k in node.keys) and all(
            _constant(v) for v in node.values
        )
    if isinstance(node, ast.UnaryOp):
        return _constant(node.operand)
    if isinstance(node, ast.BinOp):
        return _constant(node.left) and _constant(node.right)
    if isinstance(node, ast.Attribute):
        return isinstance(node.value, ast.Name) or _constant(node.value)
    return False


def _keeps(stmt: ast.stmt) -> str | None:
    """ "def", "import" or "constant" for a statement that defines; None for one that runs."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def"
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return "import"
    if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
        return "constant" if _constant(stmt.value) else None
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value:
        return "constant" if _constant(stmt.value) else None
    return None


def _bound(stmt: ast.Import | ast.ImportFrom) -> list[str]:
    return [(a.asname or a.name).split(".")[0] for a in stmt.names]


def _findable(module: str | None) -> bool:
    top = (module or "").split(".")[0]
    try:
        return bool(top) and importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def _definitions(cells: list[tuple[str, list[str]]]) -> list[tuple[str, int, list[str]]]:
    """From ``(origin, lines)`` cells, the ``(origin, first line, lines)`` to keep."""
    parsed = []
    for origin, lines in cells:
        text = "\n".join(lines)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            if _COURSE_DEF.search(text):  # keep it: the check reports the error with its cell
                parsed.append((origin, lines, None))
            continue
        parsed.append((origin, lines, tree))

    imported = {
        name
        for _, _, tree in parsed
        for stmt in (tree.body if tree else ())
        if _keeps(stmt) == "import"
        for name in _bound(stmt)
    }

    def keeps(stmt: ast.stmt) -> str | None:
        kind = _keeps(stmt)
        if kind == "constant":  # np.float64 when np is imported; not x.shape
            names = {n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)}
            return kind if names <= imported else None
        return kind

    used: set[str] = set(FUNCTIONS)
    for _, _, tree in parsed:
        for stmt in tree.body if tree else ():
            if keeps(stmt) in ("def", "constant"):
                used.update(n.id for n in ast.walk(stmt) if isinstance(n, ast.Name))

    kept = []
    for origin, lines, tree in parsed:
        if tree is None:
            kept.append((origin, 1, lines))
            continue
        for stmt in tree.body:
            kind = keeps(stmt)
            if kind == "import":
                if any(a.name == "*" for a in stmt.names):
                    if not _findable(stmt.module if isinstance(stmt, ast.ImportFrom) else None):
                        continue
                elif not set(_bound(stmt)) & used:
                    continue
            elif kind is None:
                continue
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            kept.append((origin, first, lines[first - 1 : stmt.end_lineno]))
    return kept


def _course_defs(lines: list[str]) -> set[str]:
    return set(_COURSE_DEF.findall("\n".join(lines)))


def notebook_source(path: Path, label: str | None = None) -> JoinedSource:
    """The definitions of the notebook at ``path`` as one Python text (see the module).

    ``label`` prefixes each cell's name (``"work.ipynb, cell 4"``); by default the cell
    alone (``"cell 4"``).
    """
    cells = []
    for number, text in read_cells(path):
        lines = _without_magics(text)
        if lines is not None:
            cells.append((f"{label + ', ' if label else ''}cell {number}", lines))
    out = JoinedSource()
    out.add("(added)", 1, ["import numpy as np"])
    for origin, first, lines in _definitions(cells):
        out.add(origin, first, lines)
        for name in _course_defs(lines):
            out.defines.setdefault(name, []).append(origin.split(", cell")[0])
    return out


def joined_source(paths: list[Path]) -> JoinedSource:
    """Several files (``.py`` as they are, notebooks as :func:`notebook_source` keeps
    them) as one Python text, in the order given; ``defines`` says which file defines
    which of the course's functions."""
    out = JoinedSource()
    out.add("(added)", 1, ["import numpy as np"])
    for path in paths:
        if path.suffix == ".ipynb":
            part = notebook_source(path, label=path.name)
            for piece in part.pieces[1:]:
                lines = part.text.split("\n")[piece.start - 1 : piece.start - 1 + piece.count]
                out.add(piece.origin, piece.first, lines)
            names = set(part.defines)
        else:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise CheckError(f"{path}: {exc.strerror or exc}") from None
            lines = text.split("\n")
            out.add(path.name, 1, lines)
            names = _course_defs(lines)
        for name in sorted(names):
            out.defines.setdefault(name, []).append(path.name)
    return out


def compile_joined(source: JoinedSource, shown: str) -> None:
    """A syntax error in the joined text, as a :class:`CheckError` naming the cell."""
    try:
        compile(source.text, shown, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = source.locate(exc.lineno) if exc.lineno else None
        where = f"{shown}: {where}" if where else shown
        raise CheckError(f"{where}: {type(exc).__name__}: {exc.msg}") from None
    except ValueError as exc:  # null bytes
        raise CheckError(f"{shown}: not Python source ({exc})") from None


_AT_LINE = re.compile(r" at line (\d+): ")


def relocate(text: str, source: JoinedSource) -> str:
    """``"... at line 12: ..."`` of the joined file -> ``"... at cell 4, line 3: ..."``."""

    def sub(m: re.Match) -> str:
        where = source.locate(int(m.group(1)))
        return f" at {where}: " if where else m.group(0)

    return _AT_LINE.sub(sub, text)
