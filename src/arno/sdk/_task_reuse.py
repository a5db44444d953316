"""``Task.init(reuse_last_task_id=..., continue_last_task=...)``: which earlier task a run of
the same script takes over.

Each ``Task.init`` outside an agent remembers, per server, project and task name, the task it
made (``$ARNO_HOME/last_tasks.json``). A re-run with ``reuse_last_task_id=True`` takes that task
back when it reported nothing (no scalars, no artifacts, no iteration), is not running, queued,
published or archived, and is less than :data:`REUSE_WINDOW` old: a script that fails at its
third line and is run ten times leaves one task, not ten empty ones. ``continue_last_task``
takes it back whatever it reported, to go on reporting into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from arno.core.status import TaskStatus

REUSE_WINDOW = 72 * 3600.0
"""Seconds after its creation during which a task may be reused by a re-run."""

_NOT_REUSABLE = {TaskStatus.queued.value, TaskStatus.in_progress.value,
                 TaskStatus.published.value}
_NOT_CONTINUABLE = {TaskStatus.queued.value, TaskStatus.published.value}
MACHINE_METRIC_PREFIX = ":monitor:"


class LastTasks:
    """The ``last_tasks.json`` file: ``{"<host> <project> <name>": [task id, unix time]}``."""

    def __init__(self, home: Path) -> None:
        self.path = home / "last_tasks.json"

    @staticmethod
    def _key(host: str, project: str, name: str) -> str:
        return json.dumps([host, project, name])

    @contextlib.contextmanager
    def _locked(self) -> Any:
        lock = self.path.with_suffix(".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, host: str, project: str, name: str) -> str | None:
        entry = self._read().get(self._key(host, project, name))
        if not isinstance(entry, list) or len(entry) != 2:
            return None
        task_id, when = entry
        if not isinstance(task_id, str) or not isinstance(when, int | float):
            return None
        return task_id if time.time() - when <= REUSE_WINDOW else None

    def put(self, host: str, project: str, name: str, task_id: str) -> None:
        try:
            with self._locked():
                data = self._read()
                now = time.time()
                data = {k: v for k, v in data.items()  # forget what can no longer be reused
                        if isinstance(v, list) and len(v) == 2
                        and isinstance(v[1], int | float) and now - v[1] <= REUSE_WINDOW}
                data[self._key(host, project, name)] = [task_id, now]
                tmp = self.path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as fh:
                    json.dump(data, fh)
                os.replace(tmp, self.path)
        except OSError:
            pass  # only a convenience: a read-only home must not stop a run


def reported_nothing(info: dict[str, Any], artifacts: list[dict[str, Any]]) -> bool:
    """True when the task holds no output a user would miss if it were overwritten."""
    metrics = [m for m in info.get("metrics") or []
               if not str(m.get("metric", "")).startswith(MACHINE_METRIC_PREFIX)]
    return not metrics and not artifacts and info.get("last_iteration") in (None, 0)


def can_reuse(info: dict[str, Any], artifacts: list[dict[str, Any]]) -> bool:
    return (not info.get("archived") and info.get("status") not in _NOT_REUSABLE
            and reported_nothing(info, artifacts))


def can_continue(info: dict[str, Any]) -> bool:
    return not info.get("archived") and info.get("status") not in _NOT_CONTINUABLE
