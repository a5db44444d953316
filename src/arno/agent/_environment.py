"""Virtual environments for tasks, built once per (Python version, requirements) and reused.

A venv lives in ``<work_dir>/venvs/<key>`` where ``key`` hashes the interpreter, the
normalised requirements and the SDK overlay; a file lock makes concurrent tasks (or agents
sharing the work directory) build it once, and a marker file says it is complete, so a
second task with the same requirements starts in milliseconds. ``uv`` builds it when it can
be found (``PATH``, beside the agent's interpreter, or the ``uv`` Python package), else
``python -m venv`` and pip.

How a task's venv can ``import arno``: the agent's own installation is exposed through a
``.pth`` file, not reinstalled. At start-up the agent builds an *SDK overlay*: a directory of
symlinks to the ``arno`` package and to every distribution arno depends on (its declared
requirements, recursively, from the installed metadata), taken from the agent's own
interpreter. The venv's ``site-packages`` gets ``arno-sdk.pth`` naming that directory, so it
comes *after* the venv's own packages: a task's pinned ``pydantic`` wins over the agent's, and
packages arno does not depend on (numpy, torch ...) are not visible unless the task asks for
them. It costs one small file per venv, needs no network, and follows an editable install's
source. Compiled dependencies (pydantic-core, blake3 ...) only load on the agent's own Python
``major.minor``, so the overlay is used only there; a task on another version gets a venv of
its own requirements and a console note that ``arno`` must be among them to be imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata as metadata
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from arno.agent._pythons import Interpreters, major_minor
from arno.agent._venv_cache import READY, Hold, mark_used, prune

__all__ = [
    "EnvBuilder",
    "PreparedEnv",
    "SetupFailed",
    "find_uv",
    "normalise_requirements",
    "sdk_requirement_pins",
]

ENV_FORMAT = "1"  # bump when the layout of a cached venv changes
INSTALL_TIMEOUT = 3600.0
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class SetupFailed(Exception):
    """A task cannot run: ``reason`` is one readable line, ``details`` the tool's output."""

    def __init__(self, reason: str, details: list[str] | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details or []


@dataclass
class PreparedEnv:
    python: str  # the venv's interpreter
    root: Path
    version: str
    reused: bool
    seconds: float
    notes: list[str] = field(default_factory=list)
    hold: Hold | None = None
    """Keeps the venv from being pruned while the task runs; released when it ends."""

    def release(self) -> None:
        if self.hold is not None:
            self.hold.release()


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    try:
        import uv

        return str(uv.find_uv_bin())
    except Exception:  # noqa: BLE001 - not installed, or no binary for this platform
        return None


def _arno_package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


@functools.cache
def _arno_project_dir() -> Path | None:
    """The source tree arno is installed from in editable mode, if it is."""
    try:
        text = metadata.distribution("arno").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        text = None
    if text:
        try:
            info = json.loads(text)
        except ValueError:
            info = {}
        url = str(info.get("url", ""))
        if url.startswith("file://") and info.get("dir_info", {}).get("editable"):
            return Path(url[len("file://"):])
    candidate = _arno_package_dir().parents[1]
    return candidate if (candidate / "pyproject.toml").is_file() else None


def normalise_requirements(text: str | None) -> list[str]:
    """Requirement lines to install: blank lines, comments and arno itself (the agent
    provides it) left out; order kept."""
    project = _arno_project_dir()
    project_urls = {f"file://{project}", str(project)} if project else set()
    out: list[str] = []
    for raw in (text or "").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        target = line[2:].strip() if line.startswith("-e ") else line
        if target.rstrip("/") in project_urls:
            continue
        m = _NAME.match(target)
        if m and not line.startswith("-") and _canonical(m.group(1)) == "arno":
            continue
        out.append(line)
    return out


# ---- the SDK overlay -------------------------------------------------------------------------


def _requirement_names(dist: metadata.Distribution) -> list[str]:
    names: list[str] = []
    for req in dist.requires or []:
        spec, _, marker = req.partition(";")
        if "extra" in marker:
            continue
        m = _NAME.match(spec)
        if m:
            names.append(m.group(1))
    return names


def _top_level_entries(dist: metadata.Distribution) -> set[str]:
    entries: set[str] = set()
    for path in dist.files or []:
        parts = path.parts
        if not parts or parts[0] in ("..", "__pycache__"):
            continue
        first = parts[0]
        if len(parts) == 1 and (first.endswith(".pth") or first.endswith(".pyc")):
            continue
        if first.endswith(".data"):
            continue
        entries.add(first)
    return entries


def _closure() -> list[metadata.Distribution]:
    """arno's distribution and everything it requires, recursively (extras left out)."""
    dists: list[metadata.Distribution] = []
    seen: set[str] = set()
    todo = ["arno"]
    while todo:
        name = todo.pop()
        key = _canonical(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        dists.append(dist)
        todo.extend(_requirement_names(dist))
    return dists


def sdk_requirement_pins() -> list[str]:
    """``name==version`` of every distribution arno needs (for a container's pip)."""
    pins = []
    for dist in _closure():
        name = dist.metadata["Name"]
        if name and _canonical(name) != "arno":
            pins.append(f"{name}=={dist.version}")
    return sorted(pins, key=str.lower)


def build_sdk_overlay(root: Path) -> tuple[Path, str]:
    """Symlinks to arno and its dependency closure; returns (directory, key)."""
    links: dict[str, str] = {"arno": str(_arno_package_dir())}
    for dist in _closure():
        for entry in sorted(_top_level_entries(dist)):
            if entry in links:
                continue
            located = Path(str(dist.locate_file(entry)))
            if located.exists():
                links[entry] = str(located)
    digest = hashlib.sha256(json.dumps(sorted(links.items())).encode()).hexdigest()[:16]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    final = root / f"py{version}-{digest}"
    if (final / READY).exists():
        return final, digest
    tmp = root / f".{final.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for entry, target in links.items():
        os.symlink(target, tmp / entry)
    (tmp / READY).write_text("")
    try:
        os.replace(tmp, final)
    except OSError:  # another agent made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return final, digest


# ---- venvs -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _tail(text: str, n: int = 30) -> list[str]:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    return lines[-n:]


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages"))
    if not found:
        raise SetupFailed(f"the virtual environment at {venv} has no site-packages directory")
    return found[0]


class EnvBuilder:
    """Makes (or finds) the venv a task runs in."""

    def __init__(self, work_dir: Path, interpreters: Interpreters, *,
                 uv: str | None = None, use_uv: bool = True, keep_venvs: int = 10) -> None:
        self.root = work_dir / "venvs"
        self.keep_venvs = keep_venvs
        self.overlay_root = work_dir / "sdk"
        self.interpreters = interpreters
        self.uv = (uv or find_uv()) if use_uv else None
        self.agent_version = f"{sys.version_info.major}.{sys.version_info.minor}"
        self._overlay: tuple[Path, str] | None = None
        self._overlay_lock = threading.Lock()

    def overlay(self) -> tuple[Path, str]:
        with self._overlay_lock:  # tasks start side by side in services mode
            if self._overlay is None:
                self._overlay = build_sdk_overlay(self.overlay_root)
            return self._overlay

    def choose_python(self, recorded: str | None) -> tuple[str, str]:
        """(version, interpreter) for a task recorded with ``recorded``; fails readably."""
        wanted = major_minor(recorded) or self.agent_version
        path = self.interpreters.get(wanted)
        if path is None:
            raise SetupFailed(
                f"this task needs Python {wanted} (the version it was recorded with) but this "
                f"agent has Python {self.interpreters.describe()}; install Python {wanted} on "
                f"the agent's machine (and pass it with --python), or run the task on an agent "
                "that has it"
            )
        return wanted, path

    def prepare(self, recorded_version: str | None, requirements: str | None) -> PreparedEnv:
        started = time.monotonic()
        version, interpreter = self.choose_python(recorded_version)
        reqs = normalise_requirements(requirements)
        with_sdk = version == self.agent_version
        overlay_key = self.overlay()[1] if with_sdk else None
        key = hashlib.sha256(json.dumps({
            "format": ENV_FORMAT, "python": version, "interpreter": interpreter,
            "requirements": reqs, "sdk": overlay_key, "uv": bool(self.uv),
        }, sort_keys=True).encode()).hexdigest()[:20]
        venv = self.root / key
        notes: list[str] = []
        if not with_sdk:
            notes.append(
                f"arno-agent: the agent runs Python {self.agent_version}, so its arno SDK is not "
                f"added to this Python {version} environment; list arno in the task's "
                "requirements to `import arno`"
            )
        python = venv / "bin" / "python"
        hold = Hold(self.root, key)  # from here on, pruning leaves this venv alone
        try:
            if (venv / READY).exists():
                mark_used(venv)
                return PreparedEnv(str(python), venv, version, True,
                                   time.monotonic() - started, notes, hold)
            self._build(key, venv, interpreter, reqs, with_sdk, version)
        except BaseException:
            hold.release()
            raise
        prune(self.root, self.keep_venvs)
        return PreparedEnv(str(python), venv, version, False, time.monotonic() - started,
                           notes, hold)

    def _build(self, key: str, venv: Path, interpreter: str, reqs: list[str], with_sdk: bool,
               version: str) -> None:
        with _locked(self.root / f"{key}.lock"):
            if (venv / READY).exists():
                return
            shutil.rmtree(venv, ignore_errors=True)
            try:
                self._create(interpreter, venv, seed_pip=bool(reqs) and not self.uv)
                if reqs:
                    self._install(venv, reqs)
                if with_sdk:
                    overlay_dir, _ = self.overlay()
                    (_site_packages(venv) / "arno-sdk.pth").write_text(f"{overlay_dir}\n")
                (venv / "requirements.txt").write_text("\n".join(reqs) + "\n")
                (venv / READY).write_text(json.dumps({"python": version, "created": time.time()}))
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)
                raise

    def _run(self, cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                                  env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise SetupFailed(f"{what} took longer than {INSTALL_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise SetupFailed(f"{what} could not start: {exc}") from None
        if proc.returncode != 0:
            details = _tail(proc.stderr + "\n" + proc.stdout)
            last = next((ln for ln in reversed(details) if ln.strip()), "")
            raise SetupFailed(f"{what} failed: {_summary(details) or last}", details)

    def _tool_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX"):
            env.pop(var, None)
        env["UV_PYTHON_DOWNLOADS"] = "never"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        return env

    def _create(self, interpreter: str, venv: Path, *, seed_pip: bool) -> None:
        venv.parent.mkdir(parents=True, exist_ok=True)
        if self.uv:
            cmd = [self.uv, "venv", "--quiet", "--no-project", "--no-config",
                   "--python", interpreter, str(venv)]
        else:
            cmd = [interpreter, "-m", "venv", *([] if seed_pip else ["--without-pip"]),
                   str(venv)]
        self._run(cmd, "creating the virtual environment", self._tool_env())

    def _install(self, venv: Path, reqs: list[str]) -> None:
        req_file = venv / "requirements.in.txt"
        req_file.write_text("\n".join(reqs) + "\n")
        if self.uv:
            cmd = [self.uv, "pip", "install", "--no-config", "--python",
                   str(venv / "bin" / "python"), "-r", str(req_file)]
        else:
            cmd = [str(venv / "bin" / "python"), "-m", "pip", "install",
                   "--no-input", "-r", str(req_file)]
        self._run(cmd, "installing the requirements", self._tool_env())


def _summary(lines: list[str]) -> str:
    """What an installer's output says went wrong, in one line: its ``error:`` line (pip's
    ``ERROR:``, uv's ``×``) with the cause that follows it, when there is one."""
    marks = ("error:", "× ", "x ")
    for i, line in enumerate(lines):
        text = line.strip()
        if not text.lower().startswith(marks):
            continue
        parts = [text.split(" ", 1)[1].strip() if text.startswith(("× ", "x ")) else
                 text[len("error:"):].strip()]
        for follow in lines[i + 1:i + 4]:
            more = follow.strip().lstrip("╰─▶").strip()
            if more.lower().startswith(("hint:", "error:", "warning:")):
                break
            if more.lower().startswith("cause:"):
                more = more[len("cause:"):].strip()
            if (more.startswith("Because") or follow.strip().startswith("╰─▶")
                    or parts[-1].endswith(":") or follow.startswith((" ", "\t"))):
                parts.append(more)  # the cause, or the rest of a wrapped line
        return ": ".join(p.rstrip(":") for p in parts if p)
    return ""
