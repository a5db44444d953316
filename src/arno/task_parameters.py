"""Parameters declared as a class and connected to a task (``clearml.task_parameters``'s
module path)::

    from arno.task_parameters import TaskParameters, param, percent_param

    class Training(TaskParameters):
        epochs = param(type=int, default=10, range=(1, 1000), desc="passes over the data")
        dropout = percent_param(default=0.1, desc="share of units dropped")

    params = task.connect(Training())

The values are recorded as the task's parameters; when an agent runs the task with edited
values, the instance's attributes hold them, cast to the declared types. Bad values raise
``InvalidInput`` naming the parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.sdk._task_parameters import (
        TaskParameters,
        param,
        percent_param,
        range_validator,
    )

__all__ = ["TaskParameters", "param", "percent_param", "range_validator"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from arno.sdk import _task_parameters

        return getattr(_task_parameters, name)
    raise AttributeError(f"module 'arno.task_parameters' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
