"""The public Python API: ``Task``, ``Logger``, ``Dataset``, ``StorageManager``."""

from arno.sdk._artifacts import Artifact
from arno.sdk._context import NotConfigured, set_session
from arno.sdk._dataset import Dataset
from arno.sdk._logger import Logger
from arno.sdk._storage import StorageManager
from arno.sdk._task import Task, install_argparse_hook

install_argparse_hook()

__all__ = ["Artifact", "Dataset", "Logger", "NotConfigured", "StorageManager", "Task",
           "set_session"]
