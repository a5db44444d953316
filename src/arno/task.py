"""``from arno.task import Task`` (the module path ClearML users import ``Task`` from). The SDK
loads on first use of the name, so importing this module costs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk import Task

__all__ = ["Task"]


def __getattr__(name: str) -> Any:
    if name == "Task":
        from arno import sdk

        return sdk.Task
    raise AttributeError(f"module 'arno.task' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
