"""The public Python API: ``Task``, ``Logger``, ``Dataset``, ``StorageManager``, ``Model``,
``InputModel``, ``OutputModel``.

Each name is imported on first use (PEP 562): ``from arno import Task`` loads the task facade
and nothing of datasets, plots or storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from arno.core.lazy import lazy_names

if TYPE_CHECKING:
    from arno.sdk._artifacts import Artifact
    from arno.sdk._context import NotConfigured, set_session
    from arno.sdk._dataset import Dataset
    from arno.sdk._logger import Logger
    from arno.sdk._model import InputModel, Model, OutputModel
    from arno.sdk._storage import StorageManager
    from arno.sdk._task import Task

_WHERE = {
    "Artifact": "_artifacts",
    "Dataset": "_dataset",
    "InputModel": "_model",
    "Model": "_model",
    "OutputModel": "_model",
    "Logger": "_logger",
    "NotConfigured": "_context",
    "StorageManager": "_storage",
    "Task": "_task",
    "set_session": "_context",
}

__all__ = ["Artifact", "Dataset", "InputModel", "Logger", "Model", "NotConfigured",
           "OutputModel", "StorageManager", "Task", "set_session"]

__getattr__ = lazy_names("arno.sdk", globals(), _WHERE)

# argparse is watched from the SDK's import on, so arguments parsed before ``Task.init`` are
# recorded too.
from arno.sdk._task import install_argparse_hook  # noqa: E402 - after the lazy names

install_argparse_hook()
