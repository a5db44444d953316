"""A task's code in a fresh directory: a clone of its git repository at its commit with the
uncommitted diff applied, or the script text stored with the task when it has no repository.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arno.agent._environment import SetupFailed

__all__ = ["Code", "checkout"]

GIT_TIMEOUT = 600.0
_CREDENTIALS = re.compile(r"(https?://)[^/@\s]+@")


@dataclass
class Code:
    root: Path  # the repository (or the directory holding the script)
    entry_point: Path  # absolute path of the script to run
    cwd: Path  # where the process starts
    description: str  # one line for the console: where the code came from


def _git(args: list[str], cwd: Path | None, what: str, *, stdin: str | None = None) -> str:
    env = dict(os.environ)
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="echo", GCM_INTERACTIVE="never")
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True,
                              text=True, timeout=GIT_TIMEOUT, env=env,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise SetupFailed(f"{what}: git is not installed on the agent's machine") from None
    except subprocess.TimeoutExpired:
        raise SetupFailed(f"{what}: git took longer than {GIT_TIMEOUT:.0f} s") from None
    if proc.returncode != 0:
        out = [_CREDENTIALS.sub(r"\1", ln.rstrip()) for ln in
               (proc.stderr + "\n" + proc.stdout).splitlines() if ln.strip()]
        first = next((ln for ln in out if ln.startswith(("fatal:", "error:"))),
                     out[0] if out else f"git exited with {proc.returncode}")
        raise SetupFailed(f"{what}: {first}", out[-30:])
    return proc.stdout


def _inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing paths that climb out of ``root``."""
    clean = posixpath.normpath(relative.replace("\\", "/")).lstrip("/")
    if clean == ".." or clean.startswith("../"):
        raise SetupFailed(f"the task's path {relative!r} points outside its code directory")
    return root / clean if clean != "." else root


def checkout(script: dict[str, Any], workspace: Path) -> Code:
    """Put the task's code under ``workspace``; raise ``SetupFailed`` with the reason."""
    entry = (script.get("entry_point") or "").strip()
    if not entry or entry.startswith("<"):
        raise SetupFailed(
            "the task has no script to run (it was recorded from "
            f"{entry or 'an unknown place'}); create it with Task.create(script=...) or from a "
            "script file")
    repository = script.get("repository")
    source = script.get("source")
    if repository:
        return _from_git(script, repository, entry, workspace)
    if source is not None:
        return _from_source(script, str(source), entry, workspace)
    raise SetupFailed("the task records neither a git repository nor the text of its script, "
                      "so there is no code to run")


def _from_source(script: dict[str, Any], source: str, entry: str, workspace: Path) -> Code:
    root = workspace / "code"
    name = posixpath.basename(entry.replace("\\", "/")) or "script.py"
    root.mkdir(parents=True, exist_ok=True)
    path = root / name
    path.write_text(source)
    working = script.get("working_dir")
    cwd = root
    if working and not os.path.isabs(str(working)) and working != ".":
        cwd = _inside(root, str(working))
        cwd.mkdir(parents=True, exist_ok=True)
    return Code(root, path, cwd, f"script {name} stored with the task")


def _from_git(script: dict[str, Any], repository: str, entry: str, workspace: Path) -> Code:
    root = workspace / "code"
    commit = script.get("commit")
    branch = script.get("branch")
    shown = _CREDENTIALS.sub(r"\1", repository)
    clone = ["clone", "--quiet", "--no-tags"]
    if branch and not commit:
        clone += ["--branch", branch, "--depth", "1"]
    _git([*clone, repository, str(root)], None, f"cannot clone {shown}")
    if commit:
        _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", commit], root,
             f"cannot check out commit {commit} of {shown}")
    diff = script.get("diff") or ""
    if diff.strip():
        if not diff.endswith("\n"):
            diff += "\n"
        _git(["apply", "--whitespace=nowarn", "-"], root,
             "cannot apply the task's uncommitted changes (git diff) on top of "
             f"{commit or branch or 'the default branch'}", stdin=diff)
    if os.path.isabs(entry):
        raise SetupFailed(f"the entry point {entry!r} is not a path inside the repository")
    path = _inside(root, entry)
    if not path.is_file():
        raise SetupFailed(f"the entry point {entry} is not in {shown} at "
                          f"{commit or branch or 'the default branch'}")
    cwd = root
    working = script.get("working_dir")
    if working and not os.path.isabs(str(working)) and working != ".":
        candidate = _inside(root, str(working))
        if candidate.is_dir():
            cwd = candidate
    where = f"{shown} at {commit[:12] if commit else branch or 'the default branch'}"
    if diff.strip():
        where += " with uncommitted changes"
    return Code(root, path, cwd, where)


def remove(workspace: Path) -> None:
    shutil.rmtree(workspace, ignore_errors=True)
