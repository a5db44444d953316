"""The agent's cache of task venvs: which ones are in use, and dropping the least recently used.

Each venv ``<root>/<key>`` has a use file ``<root>/<key>.use``. A task holds a shared lock on
it from the moment its venv is chosen until its process ends; pruning takes an exclusive lock
without waiting, so a venv that any task (of this or another agent on the machine) is using is
never removed. The venv's ready marker is touched on every use: its modification time says when
the venv was last used.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
from pathlib import Path
from typing import IO

log = logging.getLogger("arno.agent")

READY = ".arno-ready"


class Hold:
    """A shared lock on a venv, kept while a task runs in it; ``release`` when it ends."""

    def __init__(self, root: Path, key: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = (root / f"{key}.use").open("a")
        fcntl.flock(self._fh, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing drops the lock
            self._fh = None


def mark_used(venv: Path) -> None:
    """Record that ``venv`` was used now (the ready marker's modification time)."""
    try:
        os.utime(venv / READY)
    except OSError:
        pass


def prune(root: Path, keep: int) -> list[str]:
    """Remove the least recently used ready venvs beyond the ``keep`` newest, skipping any in
    use; returns the keys removed."""
    if keep <= 0 or not root.is_dir():
        return []
    ready: list[tuple[float, str]] = []
    for marker in root.glob(f"*/{READY}"):
        try:
            ready.append((marker.stat().st_mtime, marker.parent.name))
        except OSError:
            continue
    ready.sort(reverse=True)
    removed = []
    for _, key in ready[keep:]:
        with (root / f"{key}.use").open("a") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a task runs in it
            shutil.rmtree(root / key, ignore_errors=True)
        removed.append(key)
    if removed:
        log.info("venv cache: removed %d least recently used venv(s)", len(removed))
    return removed
