"""``from arno.storage.manager import StorageManager``, the longer module path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk._storage import StorageManager

__all__ = ["StorageManager"]


def __getattr__(name: str) -> Any:
    if name == "StorageManager":
        from arno.sdk._storage import StorageManager

        return StorageManager
    raise AttributeError(f"module 'arno.storage.manager' has no attribute {name!r}")
