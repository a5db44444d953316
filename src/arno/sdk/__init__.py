"""The public Python API: ``Task``, ``Logger``, ``Dataset``, ``StorageManager``.

Each name is imported on first use (PEP 562): ``from arno import Task`` loads the task facade
and nothing of datasets, plots or storage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from arno.sdk._artifacts import Artifact
    from arno.sdk._context import NotConfigured, set_session
    from arno.sdk._dataset import Dataset
    from arno.sdk._logger import Logger
    from arno.sdk._storage import StorageManager
    from arno.sdk._task import Task

_WHERE = {
    "Artifact": "_artifacts",
    "Dataset": "_dataset",
    "Logger": "_logger",
    "NotConfigured": "_context",
    "StorageManager": "_storage",
    "Task": "_task",
    "set_session": "_context",
}

__all__ = ["Artifact", "Dataset", "Logger", "NotConfigured", "StorageManager", "Task",
           "set_session"]

_hooked = False


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'arno.sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"arno.sdk.{module}"), name)
    globals()[name] = value
    return value


def _watch_argparse() -> None:
    """argparse is watched from the SDK's import on, so arguments parsed before
    ``Task.init`` are recorded too."""
    global _hooked
    if not _hooked:
        _hooked = True
        from arno.sdk._task import install_argparse_hook

        install_argparse_hook()


_watch_argparse()
