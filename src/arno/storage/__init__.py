"""``from arno.storage import StorageManager``: files by URL with a local cache (the module
path ClearML users import ``StorageManager`` from). Loaded on first use, so importing this
module costs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk._storage import StorageManager

__all__ = ["StorageManager"]


def __getattr__(name: str) -> Any:
    if name == "StorageManager":
        from arno.sdk._storage import StorageManager

        return StorageManager
    raise AttributeError(f"module 'arno.storage' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
