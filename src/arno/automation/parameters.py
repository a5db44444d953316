"""Hyperparameter ranges: what a search draws values from (``clearml.automation.parameters``
names and constructor arguments).

Each range has ``get_value()`` (one random draw, as ``{name: value}``) and ``to_list()`` (every
value a grid search visits, as a list of ``{name: value}``). Draws come from one shared,
seeded generator (:meth:`RandomSeed.set_random_seed`), so a search is repeatable.
``to_dict()``/``Parameter.from_dict()`` turn a range into plain data and back.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from arno.core.errors import InvalidInput

__all__ = [
    "DiscreteParameterRange",
    "LogUniformParameterRange",
    "Parameter",
    "ParameterSet",
    "RandomSeed",
    "UniformIntegerParameterRange",
    "UniformParameterRange",
]

DEFAULT_SEED = 1337


class RandomSeed:
    """The generator every range draws from."""

    _seed = DEFAULT_SEED
    _random = random.Random(DEFAULT_SEED)

    @staticmethod
    def set_random_seed(seed: int = DEFAULT_SEED) -> None:
        RandomSeed._seed = seed
        RandomSeed._random = random.Random(seed)

    @staticmethod
    def get_random_seed() -> int:
        return RandomSeed._seed


class Parameter(RandomSeed):
    """Base of the ranges: ``name`` is the task parameter it sets (``"Section/name"``)."""

    _type_key = "type"

    def __init__(self, name: str | None) -> None:
        self.name: Any = name  # None for a ParameterSet, whose members carry the names

    def get_value(self) -> Mapping[str, Any]:
        raise NotImplementedError

    def to_list(self) -> Sequence[Mapping[str, Any]]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``{"type": <class name>, <attribute>: <value>, ...}``."""
        out: dict[str, Any] = {self._type_key: type(self).__name__}
        for key, value in vars(self).items():
            out[key] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, a_dict: Mapping[str, Any]) -> Parameter:
        """The range ``to_dict`` described; ``InvalidInput`` for an unknown type."""
        data = dict(a_dict)
        kind = data.pop(cls._type_key, None)
        klass = _KINDS.get(str(kind))
        if klass is None:
            raise InvalidInput(f"{kind!r} is not a parameter range type "
                               f"({', '.join(sorted(_KINDS))})")
        obj = klass.__new__(klass)
        obj.__dict__.update({k: _revive(v) for k, v in data.items()})
        return obj

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({inner})"


def _plain(value: Any) -> Any:
    if isinstance(value, Parameter):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _revive(value: Any) -> Any:
    if isinstance(value, Mapping) and Parameter._type_key in value and (
            str(value[Parameter._type_key]) in _KINDS):
        return Parameter.from_dict(value)
    if isinstance(value, list):
        return [_revive(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _revive(v) for k, v in value.items()}
    return value


def _check_bounds(name: str | None, low: float, high: float, step: float | None) -> None:
    if not (math.isfinite(low) and math.isfinite(high)) or low > high:
        raise InvalidInput(f"range {name!r}: min_value {low} must not exceed max_value {high}")
    if step is not None and not step > 0:
        raise InvalidInput(f"range {name!r}: step_size must be positive, not {step}")


class UniformParameterRange(Parameter):
    """Floats from ``min_value`` to ``max_value``; on a grid of ``step_size`` when given."""

    def __init__(self, name: str, min_value: float, max_value: float,
                 step_size: float | None = None, include_max_value: bool = True) -> None:
        super().__init__(name)
        self.min_value = float(min_value)
        self.max_value = float(max_value)
        self.step_size = float(step_size) if step_size is not None else None
        self.include_max = include_max_value
        _check_bounds(name, self.min_value, self.max_value, self.step_size)

    def get_value(self) -> Mapping[str, Any]:
        if not self.step_size:
            return {self.name: self._random.uniform(self.min_value, self.max_value)}
        steps = max(1, round((self.max_value - self.min_value) / self.step_size))
        return {self.name: self.min_value + self._random.randrange(steps) * self.step_size}

    def to_list(self) -> Sequence[Mapping[str, Any]]:
        """The grid from ``min_value`` by ``step_size`` (100 steps when it is None), with
        ``max_value`` at the end when ``include_max_value``."""
        span = self.max_value - self.min_value
        step = self.step_size or span / 100.0
        count = int(span / step) if step else 0
        values = [self.min_value + i * step for i in range(count)]
        if self.include_max and (not values or values[-1] < self.max_value):
            values.append(self.max_value)
        return [{self.name: v} for v in values]


class LogUniformParameterRange(UniformParameterRange):
    """``base`` raised to a uniform exponent in ``[min_value, max_value]``."""

    def __init__(self, name: str, min_value: float, max_value: float, base: float = 10,
                 step_size: float | None = None, include_max_value: bool = True) -> None:
        super().__init__(name, min_value, max_value, step_size=step_size,
                         include_max_value=include_max_value)
        if not base > 0:
            raise InvalidInput(f"range {name!r}: base must be positive, not {base}")
        self.base = base

    def get_value(self) -> Mapping[str, Any]:
        exponent = super().get_value()[self.name]
        return {self.name: self.base ** exponent}

    def to_list(self) -> Sequence[Mapping[str, Any]]:
        return [{self.name: self.base ** item[self.name]} for item in super().to_list()]


class UniformIntegerParameterRange(Parameter):
    """Integers from ``min_value`` to ``max_value`` by ``step_size``."""

    def __init__(self, name: str, min_value: int, max_value: int, step_size: int = 1,
                 include_max_value: bool = True) -> None:
        super().__init__(name)
        self.min_value = int(min_value)
        self.max_value = int(max_value)
        self.step_size = int(step_size) if step_size is not None else 1
        self.include_max = include_max_value
        _check_bounds(name, self.min_value, self.max_value, self.step_size)

    def get_value(self) -> Mapping[str, Any]:
        stop = self.max_value + (self.step_size if self.include_max else 0)
        if stop <= self.min_value:
            return {self.name: self.min_value}
        return {self.name: self._random.randrange(self.min_value, stop, self.step_size)}

    def to_list(self) -> Sequence[Mapping[str, Any]]:
        values = list(range(self.min_value, self.max_value, self.step_size))
        if self.include_max and (not values or values[-1] < self.max_value):
            values.append(self.max_value)
        return [{self.name: v} for v in values]


class DiscreteParameterRange(Parameter):
    """One of ``values``."""

    def __init__(self, name: str, values: Sequence[Any] = ()) -> None:
        super().__init__(name)
        self.values = values

    def get_value(self) -> Mapping[str, Any]:
        if not self.values:
            raise InvalidInput(f"range {self.name!r} has no values to choose from")
        return {self.name: self._random.choice(list(self.values))}

    def to_list(self) -> Sequence[Mapping[str, Any]]:
        return [{self.name: v} for v in self.values]


class ParameterSet(Parameter):
    """One of several combinations of parameters that go together; a value in a combination
    may itself be a range."""

    def __init__(self, parameter_combinations: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(None)
        self.values = parameter_combinations

    def get_value(self) -> Mapping[str, Any]:
        if not self.values:
            raise InvalidInput("ParameterSet has no combinations to choose from")
        return self._expand(self._random.choice(list(self.values)))

    def to_list(self) -> Sequence[Mapping[str, Any]]:
        out: list[dict[str, Any]] = []
        for combination in self.values:
            options = [v.to_list() if isinstance(v, Parameter) else [{k: v}]
                       for k, v in combination.items()]
            for pick in itertools.product(*options):
                merged: dict[str, Any] = {}
                for part in pick:
                    merged.update(part)
                out.append(merged)
        return out

    @staticmethod
    def _expand(combination: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in combination.items():
            if isinstance(value, Parameter):
                out.update(value.get_value())
            else:
                out[key] = value
        return out


_KINDS: dict[str, type[Parameter]] = {
    k.__name__: k for k in (UniformParameterRange, LogUniformParameterRange,
                            UniformIntegerParameterRange, DiscreteParameterRange, ParameterSet)}
