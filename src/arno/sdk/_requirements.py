"""A task's requirements: the distributions its code imports, not the whole environment.

``_imports`` finds the top-level names the code imports (the entry script and the local
modules it imports, or a notebook's cells). ``requirements_text`` maps those names to
installed distributions (``importlib.metadata.packages_distributions``) and writes
``name==version`` lines; the standard library and arno (an agent adds its own SDK) are left
out. What an agent cannot install becomes a ``#`` comment line, never a failure: an import
that is not installed, a module from no distribution, an editable or local-directory install.

``add_requirements``, ``ignore_requirements`` and ``force_requirements_env_freeze`` keep the
choices a script makes before ``Task.init``; ``capture`` applies them.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from arno.sdk._imports import (
    SDK_NAMES,
    imported_names,
    notebook_cells,
    notebook_imported_names,
)

__all__ = [
    "add_requirements",
    "capture",
    "force_requirements_env_freeze",
    "freeze",
    "ignore_requirements",
    "imported_names",
    "notebook_imported_names",
    "requirements_text",
    "reset_choices",
]

# what a notebook's kernel loads for itself: never a requirement of the notebook's code
KERNEL_DISTRIBUTIONS = ("ipykernel", "ipython", "jupyter-client", "jupyter-core")
_OPERATOR = re.compile(r"^\s*(==|!=|<=|>=|~=|===|<|>)")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def loaded_names(packages: Mapping[str, list[str]]) -> set[str]:
    """Top-level names of third-party modules loaded in this process, less the kernel's
    own and arno's: what a notebook without an ``In`` history has imported."""
    kernel = {_canonical(d.metadata["Name"] or "")
              for d in _closure([*KERNEL_DISTRIBUTIONS, *SDK_NAMES])}
    names = set()
    for name in list(sys.modules):
        if "." in name or name.startswith("_"):
            continue
        dists = packages.get(name)
        if dists and not any(_canonical(d) in kernel for d in dists):
            names.add(name)
    return names


def _closure(roots: Iterable[str]) -> list[metadata.Distribution]:
    out: list[metadata.Distribution] = []
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        key = _canonical(todo.pop())
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(key)
        except metadata.PackageNotFoundError:
            continue
        out.append(dist)
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            m = _NAME.match(spec)
            if m and "extra" not in marker:
                todo.append(m.group(1))
    return out


# ---- names to requirement lines ------------------------------------------------------------


def _stdlib() -> frozenset[str]:
    return frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


def _pin(dist: metadata.Distribution) -> tuple[str, str]:
    """(canonical name, requirement line or comment) of an installed distribution."""
    name = dist.metadata["Name"] or "?"
    line = f"{name}=={dist.version}"
    try:
        text = dist.read_text("direct_url.json")
        info: dict[str, Any] = json.loads(text) if text else {}
    except (OSError, ValueError):
        info = {}
    url = str(info.get("url", ""))
    if info.get("dir_info", {}).get("editable"):
        return _canonical(name), f"# {line}: an editable install from {url}"
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") and url and not url.startswith("file:"):
        ref = vcs.get("commit_id") or vcs.get("requested_revision")
        return _canonical(name), f"{name} @ {vcs['vcs']}+{url}" + (f"@{ref}" if ref else "")
    if url.startswith("file:"):
        return _canonical(name), f"# {line}: installed from the local path {url}"
    return _canonical(name), line


def requirements_text(names: Iterable[str],
                      packages: Mapping[str, list[str]] | None = None) -> str:
    """``name==version`` lines (sorted) for the distributions that provide ``names``; the
    standard library and arno left out; what cannot be installed as ``#`` comments."""
    if packages is None:
        packages = metadata.packages_distributions()
    stdlib = _stdlib()
    lines: dict[str, str] = {}
    for name in sorted(set(names)):
        if name in stdlib or name in SDK_NAMES or name == "__main__":
            continue
        dist_names = packages.get(name) or []
        if not dist_names:  # an editable install maps no module; try the module's name
            dist_names = [name]
        pinned = False
        for dist_name in dict.fromkeys(dist_names):
            try:
                dist = metadata.distribution(dist_name)
            except metadata.PackageNotFoundError:
                continue
            if _canonical(dist.metadata["Name"] or "") in SDK_NAMES:
                pinned = True
                continue
            key, line = _pin(dist)
            lines.setdefault(key, line)
            pinned = True
        if not pinned:
            lines.setdefault(_canonical(name), f"# {name}: imported, not an installed package")
    ordered = [lines[k] for k in sorted(lines)]
    return "\n".join(ordered) + ("\n" if ordered else "")


def freeze() -> str:
    """Every installed distribution as sorted ``name==version`` lines."""
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            name = dist.metadata["Name"]
            version = dist.version
        except Exception:  # noqa: BLE001 - a broken METADATA file must not stop the run
            continue
        if name and version:
            seen.setdefault(_canonical(name), f"{name}=={version}")
    lines = [seen[key] for key in sorted(seen)]
    return "\n".join(lines) + ("\n" if lines else "")


# ---- what the script asked for before Task.init ----------------------------------------------

_lock = threading.Lock()
_added: dict[str, str] = {}  # canonical name -> requirement line
_ignored: set[str] = set()
_forced: dict[str, Any] = {"freeze": False, "text": None}


def add_requirements(package_name: str, package_version: str | None = None) -> None:
    """Add ``package_name`` to the task's requirements (replacing the line the imports gave
    it). ``package_version`` is a version (``"1.2"``) or a specifier (``">=1.2"``); without
    one the installed version is pinned, or the name alone when it is not installed.
    ``package_name`` may also be the path of a requirements file, whose lines are added."""
    path = Path(package_name)
    if package_version is None and path.suffix == ".txt" and path.is_file():
        for raw in path.read_text().splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith(("#", "-")):
                add_requirements(line)
        return
    m = _NAME.match(package_name)
    if not m:
        raise ValueError(f"not a package name: {package_name!r}")
    name = m.group(1)
    rest = package_name[m.end():].strip()
    if package_version is not None:
        version = str(package_version).strip()
        line = f"{name}{version}" if _OPERATOR.match(version) else f"{name}=={version}"
    elif rest:
        line = f"{name}{rest}" if not rest.startswith("@") else f"{name} {rest}"
    else:
        try:
            line = f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            line = name
    with _lock:
        _added[_canonical(name)] = line
        _ignored.discard(_canonical(name))


def ignore_requirements(package_name: str) -> None:
    """Leave ``package_name`` out of the task's requirements even if the code imports it."""
    with _lock:
        _ignored.add(_canonical(package_name))
        _added.pop(_canonical(package_name), None)


def force_requirements_env_freeze(force: bool = True,
                                  requirements_file: str | os.PathLike[str] | None = None
                                  ) -> None:
    """Record the whole environment (``force``) or the lines of ``requirements_file`` as the
    task's requirements instead of what its code imports; ``force=False`` and no file go
    back to the imports. The file is read now."""
    text = None
    if requirements_file is not None:
        text = Path(requirements_file).read_text()
    with _lock:
        _forced["freeze"] = bool(force) and text is None
        _forced["text"] = text


def reset_choices() -> None:
    """Forget every ``add_requirements``/``ignore_requirements``/forced choice."""
    with _lock:
        _added.clear()
        _ignored.clear()
        _forced.update(freeze=False, text=None)


def _apply_choices(text: str) -> str:
    with _lock:
        added, ignored = dict(_added), set(_ignored)
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        body = line.lstrip("#").strip()
        m = _NAME.match(body)
        key = _canonical(m.group(1)) if m else None
        if key is not None and (key in ignored or key in added):
            continue
        if line:
            out.append(line)
    out.extend(added.values())
    return "\n".join(out) + ("\n" if out else "")


def capture(script: str | None, root: str | None, *, notebook: bool = False) -> dict[str, str]:
    """``{"requirements": ..., "requirements_freeze": ...}`` for the running code: what
    ``script`` imports (or, with ``notebook``, what the kernel's cells import), unless the
    script forced the freeze or a file; its added and ignored packages applied."""
    frozen = freeze()
    with _lock:
        forced_freeze, forced_text = _forced["freeze"], _forced["text"]
    if forced_text is not None:
        base = forced_text
    elif forced_freeze:
        base = frozen
    else:
        packages = metadata.packages_distributions()
        if notebook:
            cells = notebook_cells()
            names = notebook_imported_names(cells, root) if cells is not None \
                else loaded_names(packages)
        elif script:
            names = imported_names(script, root)
        else:
            names = set()
        base = requirements_text(names, packages)
    return {"requirements": _apply_choices(base), "requirements_freeze": frozen}
