"""Automation: what drives tasks from the outside (``clearml.automation``'s module path).

Today it holds the hyperparameter ranges a search draws from: ``UniformParameterRange``,
``UniformIntegerParameterRange``, ``LogUniformParameterRange``, ``DiscreteParameterRange`` and
``ParameterSet`` (see :mod:`arno.automation.parameters`). ``PipelineController``,
``PipelineDecorator``, ``HyperParameterOptimizer`` and the schedulers come with the pipeline
and HPO issue; asking for them now raises an ``AttributeError`` that says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # names for type checkers and editors; loaded lazily below
    from arno.automation.parameters import (
        DiscreteParameterRange,
        LogUniformParameterRange,
        ParameterSet,
        UniformIntegerParameterRange,
        UniformParameterRange,
    )

__all__ = [
    "DiscreteParameterRange",
    "LogUniformParameterRange",
    "ParameterSet",
    "UniformIntegerParameterRange",
    "UniformParameterRange",
]

_LATER = {"PipelineController", "PipelineDecorator", "HyperParameterOptimizer", "GridSearch",
          "RandomSearch", "Objective", "TaskScheduler", "TriggerScheduler",
          "Monitor"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        from arno.automation import parameters

        return getattr(parameters, name)
    if name in _LATER:
        raise AttributeError(
            f"arno.automation.{name} is not available yet: pipelines, hyperparameter "
            "optimization and schedulers come with the pipeline and HPO issue")
    raise AttributeError(f"module 'arno.automation' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
