"""Extract ClearML's public SDK surface (names, kinds, parameters, defaults) into a JSON table.

Re-run it whenever ClearML releases, from the repository root::

    python tools/clearml_surface.py                       # latest clearml from PyPI
    python tools/clearml_surface.py --clearml-version 2.0.2
    python tools/clearml_surface.py --out /tmp/surface.json

It makes a throwaway virtual environment under the user's cache directory
(``~/.cache/arno/clearml-surface/``, or ``$XDG_CACHE_HOME/arno/clearml-surface/``), installs
``clearml`` there with ``uv``, and runs itself inside it with ``--inspect`` to read the signatures.
Only the extracted table is written (``tests/sdk/data/clearml_surface.json``, with the ClearML
version in it); none of ClearML's code is copied. ``tests/sdk/test_clearml_surface.py`` checks
Arno's SDK against that table.

This script is a development tool: it is not part of the ``arno`` package.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "tests" / "sdk" / "data" / "clearml_surface.json"

# Import path -> the name the table (and the reasons file) uses for the object.
TARGETS: dict[str, str] = {
    "clearml.Task": "Task",
    "clearml.Logger": "Logger",
    "clearml.Dataset": "Dataset",
    "clearml.StorageManager": "StorageManager",
    "clearml.task.Task": "Task",
    "clearml.logger.Logger": "Logger",
    "clearml.datasets.Dataset": "Dataset",
    "clearml.storage.StorageManager": "StorageManager",
    "clearml.task_parameters.TaskParameters": "TaskParameters",
    "clearml.task_parameters.param": "param",
    "clearml.task_parameters.percent_param": "percent_param",
    "clearml.automation.UniformParameterRange": "UniformParameterRange",
    "clearml.automation.UniformIntegerParameterRange": "UniformIntegerParameterRange",
    "clearml.automation.DiscreteParameterRange": "DiscreteParameterRange",
    "clearml.automation.LogUniformParameterRange": "LogUniformParameterRange",
    "clearml.automation.ParameterSet": "ParameterSet",
}

NOT_LITERAL = "<not a literal>"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "arno" / "clearml-surface"


# ---- run inside the throwaway venv -----------------------------------------------------------
def literal_repr(value: Any) -> str | None:
    """``repr(value)`` when it reads back as the same value (None, bools, numbers, strings and
    containers of them), else None."""
    text = repr(value)
    try:
        back = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return text if back == value and type(back) is type(value) else None


def describe_params(func: Any, drop_first: bool) -> list[dict[str, Any]] | None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = list(sig.parameters.values())
    if drop_first and params and params[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]
    out = []
    for p in params:
        row: dict[str, Any] = {"name": p.name, "kind": p.kind.name}
        if p.default is not inspect.Parameter.empty:
            lit = literal_repr(p.default)
            row["default"] = lit if lit is not None else NOT_LITERAL
        out.append(row)
    return out


def raw_member(cls: type, name: str) -> tuple[type, Any]:
    for klass in cls.__mro__:
        if name in vars(klass):
            return klass, vars(klass)[name]
    raise AttributeError(name)


def describe_member(cls: type, name: str) -> dict[str, Any] | None:
    owner, raw = raw_member(cls, name)
    if owner is object:
        return None
    row: dict[str, Any] = {"defined_in": f"{owner.__module__}.{owner.__qualname__}"}
    if isinstance(raw, classmethod):
        row.update(kind="classmethod", params=describe_params(raw.__func__, drop_first=True))
    elif isinstance(raw, staticmethod):
        row.update(kind="staticmethod", params=describe_params(raw.__func__, drop_first=False))
    elif isinstance(raw, property):
        row.update(kind="property", settable=raw.fset is not None)
    elif inspect.isfunction(raw):
        row.update(kind="method", params=describe_params(raw, drop_first=True))
    elif inspect.isclass(raw):
        row.update(kind="class")
    elif hasattr(raw, "__get__") and not isinstance(raw, (int, float, str, bytes, tuple)):
        row.update(kind="property", settable=hasattr(raw, "__set__"))
    else:
        row.update(kind="attribute")
    return row


def describe(obj: Any) -> dict[str, Any]:
    if inspect.isclass(obj):
        members = {}
        for name in sorted(dir(obj)):
            if name.startswith("_"):
                continue
            row = describe_member(obj, name)
            if row is not None:
                members[name] = row
        init = describe_params(obj.__init__, drop_first=True) if "__init__" in {
            n for k in obj.__mro__ if k is not object for n in vars(k)} else []
        return {"kind": "class", "module": obj.__module__, "init": init, "members": members}
    return {"kind": "function", "module": obj.__module__,
            "params": describe_params(obj, drop_first=False)}


def inspect_surface() -> dict[str, Any]:
    from importlib.metadata import version

    objects: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for path, key in TARGETS.items():
        module_name, _, attr = path.rpartition(".")
        obj = getattr(importlib.import_module(module_name), attr)
        described = describe(obj)
        if key in objects and objects[key] != described:
            raise SystemExit(f"{path} is not the same object as the other paths for {key}")
        objects[key] = described
        paths[path] = key
    return {"clearml_version": version("clearml"),
            "python": ".".join(map(str, sys.version_info[:3])),
            "generated_by": "tools/clearml_surface.py",
            "paths": paths, "objects": objects}


# ---- run from the repository ---------------------------------------------------------------------
def make_venv(clearml_version: str | None) -> Path:
    venv = cache_dir() / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["uv", "venv", "--quiet", "--python", sys.executable, str(venv)],
                       check=True)
    spec = f"clearml=={clearml_version}" if clearml_version else "clearml"
    subprocess.run(["uv", "pip", "install", "--quiet", "--upgrade", spec],
                   check=True, env={**os.environ, "VIRTUAL_ENV": str(venv)})
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clearml-version", help="a version to pin (default: the latest)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--inspect", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inspect:
        json.dump(inspect_surface(), sys.stdout)
        return
    python = make_venv(args.clearml_version)
    # An empty home and offline mode: importing ClearML must not read a user's clearml.conf.
    env = {**os.environ, "CLEARML_OFFLINE_MODE": "1", "HOME": str(cache_dir() / "home"),
           "CLEARML_CONFIG_FILE": os.devnull}
    (cache_dir() / "home").mkdir(exist_ok=True)
    found = subprocess.run([str(python), __file__, "--inspect"], check=True,
                           capture_output=True, text=True, env=env, cwd=cache_dir())
    table = json.loads(found.stdout)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    n = sum(len(o.get("members", {})) for o in table["objects"].values())
    print(f"clearml {table['clearml_version']}: {len(table['objects'])} objects, "
          f"{n} members -> {args.out}")


if __name__ == "__main__":
    main()
