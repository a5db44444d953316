"""What code imports: top-level module names, read with ``ast`` and never run.

``imported_names`` reads an entry script (imports at any depth: inside functions, ``try``
blocks, ``importlib.import_module("x")``; not under ``if TYPE_CHECKING:``), follows the local
modules and packages it imports from its own directory or repository (up to ``MAX_FILES``
files) and returns the top-level names of everything else. ``notebook_imported_names`` does
the same for the cells a notebook ran (``notebook_cells`` reads them from the kernel).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SDK_NAMES",
    "imported_names",
    "notebook_cells",
    "notebook_imported_names",
    "search_dirs",
]

MAX_FILES = 500  # local modules followed from one entry point
MAX_FILE_BYTES = 2 * 1024 * 1024  # a larger "module" is data, not code we read
SDK_NAMES = frozenset({"arno"})
"""Never followed nor required: an agent adds its own SDK to a task's environment."""


@dataclass
class _Found:
    """Top-level names imported by the code read so far, and the local files already read."""

    names: set[str] = field(default_factory=set)
    files: set[Path] = field(default_factory=set)
    todo: list[Path] = field(default_factory=list)


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _walk(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except the bodies of ``if TYPE_CHECKING:`` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _dynamic_import(node: ast.Call) -> str | None:
    """The module of ``importlib.import_module("x")`` or ``__import__("x")``, if literal."""
    func = node.func
    called = func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else ""
    if called not in ("import_module", "__import__") or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        text = first.value.strip()
        if text and not text.startswith("."):
            return text
    return None


def _imports(tree: ast.AST) -> Iterator[tuple[int, str, list[str]]]:
    """(level, module, imported names) of every import in ``tree``."""
    for node in _walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield 0, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            yield node.level, node.module or "", [a.name for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Call):
            module = _dynamic_import(node)
            if module:
                yield 0, module, []


def _module_file(base: Path, dotted: str) -> Path | None:
    """The file of module ``dotted`` under directory ``base`` (a package's __init__.py)."""
    path = base.joinpath(*dotted.split("."))
    init = path / "__init__.py"
    if init.is_file():
        return init
    module = path.with_name(path.name + ".py")
    return module if module.is_file() else None


def _local_files(base: Path, dotted: str, names: list[str]) -> list[Path]:
    """The local files an import of ``dotted`` (and ``from dotted import names``) runs."""
    parts = dotted.split(".") if dotted else []
    files = []
    for i in range(1, len(parts) + 1):
        found = _module_file(base, ".".join(parts[:i]))
        if found is not None:
            files.append(found)
    for name in names:  # ``from pkg import sub`` imports the submodule when there is one
        found = _module_file(base, ".".join([*parts, name]))
        if found is not None:
            files.append(found)
    return files


def _is_local(name: str, dirs: list[Path]) -> Path | None:
    """The directory of ``dirs`` that holds top-level module ``name``, if any."""
    for base in dirs:
        if (base / name / "__init__.py").is_file() or (base / f"{name}.py").is_file():
            return base
        if (base / name).is_dir() and any((base / name).glob("*.py")):
            return base  # a namespace package of the project
    return None


def _read(path: Path) -> ast.AST | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None


def _scan(tree: ast.AST, here: Path | None, dirs: list[Path], found: _Found) -> None:
    """Record the imports of ``tree`` (from file ``here``, None for notebook cells)."""
    for level, module, names in _imports(tree):
        if level:
            if here is None:
                continue
            base = here.parent
            for _ in range(level - 1):
                base = base.parent
            found.todo.extend(_local_files(base, module, names))
            continue
        top = module.split(".", 1)[0]
        if not top or top in SDK_NAMES:  # never followed into, even from a source tree
            continue
        where = _is_local(top, dirs)
        if where is None:
            found.names.add(top)
        else:
            found.todo.extend(_local_files(where, module, names))


def _follow(found: _Found, dirs: list[Path]) -> None:
    while found.todo and len(found.files) < MAX_FILES:
        path = found.todo.pop().resolve()
        if path in found.files:
            continue
        found.files.add(path)
        tree = _read(path)
        if tree is not None:
            _scan(tree, path, dirs, found)


def search_dirs(script: Path | None, root: Path | None) -> list[Path]:
    """Where a script's own modules are: its directory (``sys.path[0]`` when it runs), the
    current directory for code without a file, entries of ``sys.path`` inside the
    repository (``PYTHONPATH=src``) and the repository's root; never an environment's
    ``site-packages``."""
    dirs: list[Path] = [script.parent if script is not None else Path.cwd()]
    if root is not None:
        prefixes = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
        for entry in sys.path:
            if not entry or "site-packages" in entry or "dist-packages" in entry:
                continue
            path = Path(entry).resolve()
            if path.is_dir() and path.is_relative_to(root) and not any(
                    path.is_relative_to(p) for p in prefixes):
                dirs.append(path)
        dirs.append(root)
    unique: list[Path] = []
    for d in dirs:
        d = d.resolve()
        if d not in unique:
            unique.append(d)
    return unique


def imported_names(script: str | Path, root: str | Path | None = None) -> set[str]:
    """Top-level names of the modules ``script`` imports that are not its own (its local
    modules and packages are read in turn, up to ``MAX_FILES`` files)."""
    path = Path(script).resolve()
    dirs = search_dirs(path, Path(root).resolve() if root else None)
    found = _Found(todo=[path])
    _follow(found, dirs)
    return found.names


def _cell_tree(cell: str) -> ast.AST | None:
    try:
        return ast.parse(cell)
    except (SyntaxError, ValueError):
        pass
    # an untransformed cell: drop IPython's line magics and shell escapes
    kept = [ln for ln in cell.splitlines() if not ln.lstrip().startswith(("%", "!", "?"))]
    try:
        return ast.parse("\n".join(kept))
    except (SyntaxError, ValueError):
        return None


def notebook_imported_names(cells: Iterable[str], root: str | Path | None = None) -> set[str]:
    """Like ``imported_names`` for the cells a notebook ran (local modules are looked up
    from the current directory, the notebook's)."""
    dirs = search_dirs(None, Path(root).resolve() if root else None)
    found = _Found()
    for cell in cells:
        if isinstance(cell, str) and cell.strip():
            tree = _cell_tree(cell)
            if tree is not None:
                _scan(tree, None, dirs, found)
    _follow(found, dirs)
    return found.names


def notebook_cells() -> list[str] | None:
    """The cells the running IPython kernel has executed (its ``In`` list), if any."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    try:
        shell = get() if callable(get) else None
        cells = shell.user_ns.get("In") if shell is not None else None
    except Exception:  # noqa: BLE001 - a half-started kernel
        return None
    if isinstance(cells, list) and any(isinstance(c, str) and c.strip() for c in cells):
        return [c for c in cells if isinstance(c, str)]
    return None
