"""Arno: a self-hosted MLOps platform.

``from arno import Task, Logger, Dataset, StorageManager, OutputModel, InputModel, Model`` is
the public surface.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["Dataset", "InputModel", "Logger", "Model", "OutputModel", "StorageManager", "Task",
           "__version__"]


def __getattr__(name: str) -> object:
    # Imported lazily so ``arno server`` never pays for the SDK, nor the SDK for the server.
    if name in ("Task", "Logger", "Dataset", "StorageManager", "OutputModel", "InputModel",
                "Model"):
        from arno import sdk

        return getattr(sdk, name)
    raise AttributeError(name)
