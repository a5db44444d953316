"""``from arno.datasets import Dataset, FileEntry`` (the module path ClearML users import
``Dataset`` from). The SDK loads on first use of a name, so importing this module costs
nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk import Dataset
    from arno.sdk._dataset_extras import FileEntry

__all__ = ["Dataset", "FileEntry"]


def __getattr__(name: str) -> Any:
    if name == "Dataset":
        from arno import sdk

        return sdk.Dataset
    if name == "FileEntry":
        from arno.sdk._dataset_extras import FileEntry

        return FileEntry
    raise AttributeError(f"module 'arno.datasets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
