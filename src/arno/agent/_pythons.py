"""The Python interpreters an agent may run tasks with, by ``major.minor`` version.

By default the agent looks for ``python3.X`` executables on ``PATH`` and under
``~/.pyenv/versions/*/bin`` (pyenv's shims are skipped: a shim only works for the versions
pyenv has selected). Interpreters named on the command line are asked their version.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

__all__ = ["Interpreters", "major_minor"]

_NAME = re.compile(r"^python(3)\.(\d+)$")
_VERSION = re.compile(r"^(\d+)\.(\d+)")


def major_minor(version: str | None) -> str | None:
    """``"3.11.7"`` -> ``"3.11"``; None when the text holds no version."""
    if not version:
        return None
    m = _VERSION.match(version.strip())
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _agent_base_python() -> tuple[str, str]:
    """The interpreter the agent itself runs on (its base, outside any venv)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = getattr(sys, "_base_executable", None) or sys.executable
    return version, base


def _ask_version(path: str) -> str | None:
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return major_minor(out.stdout) if out.returncode == 0 else None


class Interpreters:
    """``version -> executable``; the first one found for a version wins."""

    def __init__(self, by_version: dict[str, str]) -> None:
        self.by_version = dict(sorted(by_version.items(), key=lambda kv: _version_key(kv[0])))

    @classmethod
    def discover(cls, explicit: list[str] | None = None) -> Interpreters:
        found: dict[str, str] = {}
        if explicit:
            for path in explicit:
                resolved = path if os.sep in path else _which(path)
                if not resolved or not os.path.isfile(resolved):
                    raise ValueError(f"no Python interpreter at {path!r}")
                version = _ask_version(resolved)
                if version is None:
                    raise ValueError(f"{path!r} is not a working Python interpreter")
                found.setdefault(version, resolved)
            return cls(found)
        version, base = _agent_base_python()
        found[version] = base
        for directory in _search_dirs():
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                m = _NAME.match(name)
                if m is None:
                    continue
                path = os.path.join(directory, name)
                if os.path.isfile(path) and os.access(path, os.X_OK):
                    found.setdefault(f"{m.group(1)}.{m.group(2)}", path)
        return cls(found)

    @property
    def versions(self) -> list[str]:
        return list(self.by_version)

    def get(self, version: str) -> str | None:
        return self.by_version.get(version)

    def describe(self) -> str:
        return ", ".join(self.versions) or "none"


def _which(name: str) -> str | None:
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(directory, name)
        if directory and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def _search_dirs() -> list[str]:
    dirs: list[str] = []
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    versions = pyenv_root / "versions"
    if versions.is_dir():
        for entry in sorted(versions.iterdir(), key=lambda p: p.name, reverse=True):
            if (entry / "bin").is_dir() and not (entry / "pyvenv.cfg").exists():
                dirs.append(str(entry / "bin"))
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory and "shims" not in Path(directory).parts and directory not in dirs:
            dirs.append(directory)
    return dirs
