"""Parameters: flattening nested dicts to "a/b" keys, and casting strings back to types."""

from __future__ import annotations

import json
from typing import Any

_TYPES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", tuple: "tuple",
          dict: "dict", type(None): "NoneType"}


def type_name(value: Any) -> str:
    return _TYPES.get(type(value), type(value).__name__)


def to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)


TRUE = frozenset({"1", "true", "yes", "y", "on"})
FALSE = frozenset({"0", "false", "no", "n", "off"})


def to_bool(text: str) -> bool:
    """The one reading of a parameter's text as a boolean (argparse flags included)."""
    lowered = text.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def cast(text: str, type_: str, default: Any = None) -> Any:
    """The stored string as the type it was connected with; the string itself (or
    ``default``) if it does not read as that type."""
    try:
        if type_ == "bool":
            return to_bool(text)
        if type_ == "int":
            return int(float(text)) if "." in text or "e" in text.lower() else int(text)
        if type_ == "float":
            return float(text)
        if type_ == "NoneType":
            return None if text in ("", "None") else text
        if type_ in ("list", "tuple", "dict"):
            value = json.loads(text)
            return tuple(value) if type_ == "tuple" else value
    except (ValueError, TypeError):
        return text if default is None else default
    return text


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "/"))
        else:
            out[name] = value
    return out


def update_nested(data: dict[str, Any], flat_key: str, value: Any) -> bool:
    """Set the value that ``flatten`` named ``flat_key``; False if no such place exists."""
    if flat_key in data and not isinstance(data[flat_key], dict):
        data[flat_key] = value
        return True
    parts = flat_key.split("/")
    for i in range(1, len(parts)):
        head = "/".join(parts[:i])
        node = data.get(head)
        if isinstance(node, dict) and update_nested(node, "/".join(parts[i:]), value):
            return True
    return False
