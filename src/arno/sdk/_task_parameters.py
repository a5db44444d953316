"""Parameters declared as a class: ``TaskParameters``, ``param``, ``percent_param``.

::

    class Training(TaskParameters):
        epochs = param(type=int, default=10, range=(1, 1000), desc="passes over the data")
        dropout = percent_param(default=0.1)

    params = task.connect(Training())   # recorded as parameters; an agent's overrides,
    params.epochs                        # given as text, come back as the declared types

The hook ``Task.connect`` uses: ``obj.to_dict()`` gives the values to record, and
``obj.update_from_dict(values)`` takes the values an agent's run holds (text or typed), casts
each to its declared type, checks ranges and validators, and sets them all, or raises
``InvalidInput`` naming the parameter and sets none. :func:`describe` gives each parameter's
type name and description for the record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from arno.core.errors import InvalidInput

__all__ = ["TaskParameters", "describe", "param", "percent_param", "range_validator"]

_NOTHING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_ATTRS_ONLY = {"repr", "eq", "order", "hash", "init", "kw_only", "on_setattr", "alias", "cmp"}


class Parameter:
    """One declared parameter (what ``param`` returns; an attrs attribute's counterpart)."""

    def __init__(self, *, type: type | None, default: Any, factory: Callable[[], Any] | None,
                 converter: Callable[[Any], Any] | None, validators: list[Callable[..., Any]],
                 desc: str | None, metadata: dict[str, Any]) -> None:
        self.name = ""
        self.type = type
        self.default = default
        self.factory = factory
        self.converter = converter
        self.validators = validators
        self.desc = desc
        self.metadata = metadata

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"param(name={self.name!r}, type={getattr(self.type, '__name__', None)})"

    def initial(self) -> Any:
        if self.factory is not None:
            return self.factory()
        return self.default

    def coerce(self, owner: TaskParameters, value: Any, current: Any = _NOTHING) -> Any:
        """``value`` as this parameter's type, checked; ``InvalidInput`` if it cannot be."""
        if self.converter is not None:
            value = self.converter(value)
        value = _cast(self.name, value, self.type, current)
        for check in self.validators:
            try:
                check(owner, self, value)
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"parameter {self.name!r}: {exc}") from exc
        return value


def _cast(name: str, value: Any, type_: type | None, current: Any) -> Any:
    if type_ is None:  # untyped: text takes the type of the value it replaces, when it can
        if isinstance(value, str) and current is not _NOTHING and current is not None and (
                type(current) in (int, float, bool)):
            try:
                return _cast(name, value, type(current), _NOTHING)
            except InvalidInput:
                return value
        return value
    if value is None or isinstance(value, type_) and not (
            type_ is int and isinstance(value, bool)):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text == "None":
            return None
        try:
            if type_ is bool:
                if text.lower() in _TRUE | _FALSE:
                    return text.lower() in _TRUE
                raise ValueError("not a boolean")
            if type_ is int:
                number = float(text)
                if not number.is_integer():
                    raise ValueError("not a whole number")
                return int(text) if text.lstrip("+-").isdigit() else int(number)
            return type_(text)
        except (ValueError, TypeError):
            raise InvalidInput(f"parameter {name!r}: {value!r} cannot be read as "
                               f"{type_.__name__}") from None
    if type_ is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if type_ is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if type_ is str and isinstance(value, int | float | bool):
        return str(value)
    raise InvalidInput(f"parameter {name!r}: {value!r} ({type(value).__name__}) cannot be "
                       f"taken as {type_.__name__}")


def range_validator(min_value: float | None, max_value: float | None
                    ) -> Callable[[Any, Any, Any], None]:
    """A validator keeping a value within ``[min_value, max_value]`` (None: no bound)."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None:
            return
        if (min_value is not None and value < min_value) or (
                max_value is not None and value > max_value):
            raise ValueError(f"{attribute.name} must be in range [{min_value}, {max_value}], "
                             f"not {value!r}")

    return check


def param(validator: Callable[..., Any] | Iterable[Callable[..., Any]] | None = None,
          range: tuple[float | None, float | None] | None = None,  # noqa: A002 (ClearML's name)
          type: type | None = None,  # noqa: A002
          desc: str | None = None, metadata: dict[str, Any] | None = None,
          *args: Any, **kwargs: Any) -> Any:
    """Declare a parameter in a ``TaskParameters`` class. ``validator``: a callable
    ``(instance, attribute, value)`` or a list of them; ``range``: ``(min, max)``, inclusive,
    None for no bound; ``type``: int, float, str or bool (values are cast to it); ``desc``: its
    description. ``default=`` (or the first positional argument), ``factory=`` and
    ``converter=`` work as in attrs."""
    if len(args) > 1:
        raise InvalidInput("param takes at most one positional argument, the default")
    default = args[0] if args else kwargs.pop("default", _NOTHING)
    factory = kwargs.pop("factory", None)
    converter = kwargs.pop("converter", None)
    unknown = set(kwargs) - _ATTRS_ONLY
    if unknown:
        raise InvalidInput(f"param got unknown arguments: {', '.join(sorted(unknown))}")
    if kwargs:
        raise InvalidInput(f"param does not support {', '.join(sorted(kwargs))} (attrs "
                           "options without a meaning here)")
    if factory is not None and default is not _NOTHING:
        raise InvalidInput("param takes default or factory, not both")
    if validator is None:
        checks: list[Callable[..., Any]] = []
    elif callable(validator):
        checks = [validator]
    else:
        checks = list(validator)
    if range is not None:
        checks.append(range_validator(*range))
    meta = dict(metadata or {})
    meta["desc"] = desc
    return Parameter(type=type, default=default, factory=factory, converter=converter,
                     validators=checks, desc=desc, metadata=meta)


def percent_param(*args: Any, **kwargs: Any) -> Any:
    """A float parameter within [0, 1]."""
    return param(None, (0, 1), float, *args, **kwargs)


class TaskParameters:
    """Base of a class of parameters declared with ``param``. Instances take the values as
    keyword (or positional, in declaration order) arguments; the rest keep their defaults."""

    __parameters__: dict[str, Parameter] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, Parameter] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Parameter):
                    found.pop(name, None)
                    found[name] = value
        cls.__parameters__ = found

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        declared = type(self).__parameters__
        if len(args) > len(declared):
            raise InvalidInput(f"{type(self).__name__} takes {len(declared)} parameters, "
                               f"{len(args)} were given")
        given = dict(zip(declared, args, strict=False))
        for name, value in kwargs.items():
            if name not in declared:
                raise InvalidInput(f"{type(self).__name__} has no parameter {name!r}")
            if name in given:
                raise InvalidInput(f"{type(self).__name__}: {name!r} given twice")
            given[name] = value
        for name, spec in declared.items():
            if name in given:
                value = spec.coerce(self, given[name])
            else:
                value = spec.initial()
                if value is _NOTHING:
                    raise InvalidInput(f"{type(self).__name__} needs a value for {name!r} "
                                       "(it has no default)")
                value = spec.coerce(self, value)
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """The parameters' current values by name (nested parameter classes as dicts)."""
        return {name: (value.to_dict() if isinstance(value, TaskParameters) else value)
                for name in type(self).__parameters__
                for value in [getattr(self, name)]}

    def update_from_dict(self, source_dict: Mapping[str, Any]) -> None:
        """Set parameters from ``source_dict`` (values as text or typed; ``"outer/inner"``
        keys reach nested parameter classes). Each is cast to its declared type and checked;
        on any error ``InvalidInput`` names it and nothing changes."""
        declared = type(self).__parameters__
        plan: list[tuple[str, Any]] = []
        nested: dict[str, dict[str, Any]] = {}
        for key, value in source_dict.items():
            head, sep, rest = str(key).partition("/")
            if head not in declared:
                raise InvalidInput(f"{type(self).__name__} has no parameter {key!r}")
            current = getattr(self, head)
            if isinstance(current, TaskParameters) and (sep or isinstance(value, Mapping)):
                part = nested.setdefault(head, {})
                part.update({rest: value} if sep else dict(value))
                continue
            if sep:
                raise InvalidInput(f"{type(self).__name__}.{head} has no parameter {rest!r}")
            plan.append((head, declared[head].coerce(self, value, current)))
        for head, values in nested.items():
            trial = getattr(self, head).__class__(**getattr(self, head).to_dict())
            trial.update_from_dict(values)  # raises before anything here changes
        for head, values in nested.items():
            getattr(self, head).update_from_dict(values)
        for name, value in plan:
            object.__setattr__(self, name, value)

    def connect(self, task: Any) -> Any:
        """``task.connect(self)``: record the values, or take the run's values on an agent."""
        return task.connect(self)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in type(self).__parameters__)
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable, like attrs' default


def describe(obj: TaskParameters, prefix: str = "") -> dict[str, dict[str, str]]:
    """Each parameter's declared type name and description, by (flattened) name."""
    out: dict[str, dict[str, str]] = {}
    for name, spec in type(obj).__parameters__.items():
        value = getattr(obj, name)
        if isinstance(value, TaskParameters):
            out.update(describe(value, f"{prefix}{name}/"))
            continue
        type_name = spec.type.__name__ if spec.type is not None else type(value).__name__
        out[f"{prefix}{name}"] = {"type": type_name, "description": spec.desc or ""}
    return out
