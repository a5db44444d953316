"""``from arno.model import OutputModel, InputModel, Model`` (the module path ClearML users
import the model classes from). The SDK loads on first use of a name, so importing this module
costs nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk._model import InputModel, Model, OutputModel

__all__ = ["InputModel", "Model", "OutputModel"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from arno import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'arno.model' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
