"""``from arno.logger import Logger`` (the module path ClearML users import ``Logger`` from).
The SDK loads on first use of the name, so importing this module costs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk import Logger

__all__ = ["Logger"]


def __getattr__(name: str) -> Any:
    if name == "Logger":
        from arno import sdk

        return sdk.Logger
    raise AttributeError(f"module 'arno.logger' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
