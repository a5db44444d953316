"""The argparse hook: the SDK learns the arguments a script parses, and can override them
when a run is executed remotely with edited parameters.

``patch_argparse`` wraps ``ArgumentParser``'s parse methods; after each top-level parse the
callback gets the values and may return overrides, cast here to each argument's type (the
booleans with ``_params.to_bool``, the one reading of a parameter as a boolean).
"""

from __future__ import annotations

import argparse
import functools
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from arno.sdk._params import to_bool as _to_bool

__all__ = [
    "ArgsCallback",
    "apply_overrides",
    "collect_argparse_args",
    "patch_argparse",
    "unpatch_argparse",
]

#: Receives the parsed values; may return overrides (name -> value, strings are cast).
ArgsCallback = Callable[[dict[str, Any]], Mapping[str, Any] | None]

_PATCHED_METHODS = (
    "parse_args",
    "parse_known_args",
    "parse_intermixed_args",
    "parse_known_intermixed_args",
)

_state_lock = threading.Lock()
_callback: ArgsCallback | None = None
_originals: dict[str, Any] = {}
_last_args: dict[str, Any] | None = None
_depth = threading.local()


def collect_argparse_args() -> dict[str, Any] | None:
    """The values of the last top-level argparse parse (after overrides), if any.

    Only parses that happened while ``patch_argparse`` was active are seen.
    """
    with _state_lock:
        return dict(_last_args) if _last_args is not None else None


def patch_argparse(callback: ArgsCallback | None = None) -> None:
    """Hook ``argparse.ArgumentParser`` parsing.

    After every top-level parse, ``callback`` (if given) gets ``{dest: value}`` and may
    return overrides ``{dest: value}`` that are set on the namespace before it is returned to
    the script; string values are cast with the argument's ``type`` (lists for ``nargs``,
    booleans for ``store_true``/``store_false``).  Calling it again replaces the callback.
    """
    global _callback
    with _state_lock:
        _callback = callback
        if _originals:
            return
        for method in _PATCHED_METHODS:
            original = getattr(argparse.ArgumentParser, method, None)
            if original is None:
                continue
            _originals[method] = original
            setattr(argparse.ArgumentParser, method, _make_wrapper(method, original))


def unpatch_argparse() -> None:
    """Undo ``patch_argparse`` (idempotent).  ``collect_argparse_args`` keeps its value."""
    global _callback
    with _state_lock:
        for method, original in _originals.items():
            setattr(argparse.ArgumentParser, method, original)
        _originals.clear()
        _callback = None


def _make_wrapper(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(self: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "value", 0)
        _depth.value = depth + 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _depth.value = depth
        if depth == 0:  # not a subparser or an inner call of another parse method
            namespace = result[0] if isinstance(result, tuple) else result
            if isinstance(namespace, argparse.Namespace):
                _after_parse(self, namespace)
        return result

    return wrapper


def _after_parse(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    global _last_args
    callback = _callback
    overrides: Mapping[str, Any] | None = None
    if callback is not None:
        try:
            overrides = callback(dict(vars(namespace)))
        except Exception as exc:
            warnings.warn(f"arno: argparse callback failed: {exc!r}", stacklevel=2)
    if overrides:
        try:
            apply_overrides(parser, namespace, overrides)
        except Exception as exc:
            warnings.warn(f"arno: could not apply argument overrides: {exc!r}", stacklevel=2)
    with _state_lock:
        _last_args = dict(vars(namespace))


def apply_overrides(
    parser: argparse.ArgumentParser,
    namespace: argparse.Namespace,
    overrides: Mapping[str, Any],
) -> None:
    """Set ``overrides`` on ``namespace``, casting strings to each argument's type.

    Names that are neither an argument of ``parser`` (or its subparsers) nor already on the
    namespace are ignored.  A value that cannot be cast leaves the parsed value in place
    and emits a warning.
    """
    actions: dict[str, argparse.Action] = {}
    for candidate in _iter_actions(parser):
        actions.setdefault(candidate.dest, candidate)
    for name, value in overrides.items():
        action = actions.get(name)
        if action is None and not hasattr(namespace, name):
            continue
        try:
            cast = _cast(action, value, getattr(namespace, name, None))
        except Exception as exc:
            warnings.warn(
                f"arno: cannot use {value!r} for argument {name!r}: {exc!r}", stacklevel=2
            )
            continue
        setattr(namespace, name, cast)


def _iter_actions(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    seen: set[int] = set()
    stack = [parser]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for action in current._actions:
            yield action
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())


def _split_list(text: str) -> list[Any]:
    import ast

    stripped = text.strip()
    if stripped.startswith(("[", "(")):
        parsed = ast.literal_eval(stripped)
        if isinstance(parsed, list | tuple):
            return [item if isinstance(item, str) else str(item) for item in parsed]
    return stripped.split()


def _as_text(value: Any) -> str:
    return "" if value is None else str(value)


def _cast(action: argparse.Action | None, value: Any, current: Any) -> Any:
    if not isinstance(value, str):
        return value
    if value == _as_text(current) or (current is None and value.strip() in ("", "None")):
        return current  # unchanged (the usual round trip of a reported value)
    if action is None:
        # Set on the namespace by the script itself: follow the current value's type.
        if isinstance(current, bool):
            return _to_bool(value)
        if isinstance(current, int | float):
            return type(current)(value)
        return value
    if isinstance(
        action,
        argparse._StoreTrueAction | argparse._StoreFalseAction | argparse.BooleanOptionalAction,
    ):
        return _to_bool(value)
    if isinstance(action, argparse._CountAction):
        return None if value.strip() in ("", "None") else int(value)
    if isinstance(action, argparse._StoreConstAction | argparse._AppendConstAction):
        if value == _as_text(action.const):
            return action.const
        if value == _as_text(action.default):
            return action.default
        return action.const if _to_bool(value) else action.default
    if value.strip() in ("", "None") and action.default is None and action.type not in (None, str):
        return None
    convert: Callable[[str], Any] = action.type if callable(action.type) else str
    many = (
        isinstance(action, argparse._AppendAction)
        or action.nargs in ("*", "+", argparse.REMAINDER)
        or isinstance(action.nargs, int)
    )
    if many:
        return [convert(item) for item in _split_list(value)]
    return convert(value)
