"""Size and depth limits of what a request may store, checked by validation before anything
is written: a value over a limit is refused with 422, never stored (a stored value that the
server cannot render again would break every listing that shows it).

Text lengths follow the database columns (``String(n)``) or, for unbounded ``Text`` columns,
a sane cap; free-form JSON (user properties, runtime, worker info, artifact metadata, plot
figures) is capped in nesting depth and in serialized size; integers stored in ``BIGINT``
columns stay within signed 64 bits, those in ``INTEGER`` columns within 32.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field

MAX_JSON_DEPTH = 32
"""Deepest nesting of lists and objects in a free-form JSON value."""
MAX_JSON_BYTES = 1024 * 1024
"""Largest serialized free-form JSON value (user properties, runtime, info, metadata)."""
MAX_FIGURE_BYTES = 16 * 1024 * 1024
"""Largest serialized plot figure."""
MAX_SCRIPT_BYTES = 8 * 1024 * 1024
"""Largest serialized script description (its diff and requirements included)."""

MAX_NAME = 512
MAX_TEXT = 64 * 1024
"""Comments, descriptions, status messages."""
MAX_VALUE = 1024 * 1024
"""A hyperparameter or configuration value."""
MAX_URI = 8192
MAX_REF = 128
"""A reference to an object by id or name (queue, user, worker)."""
MAX_LIST = 10_000
"""Items in a list of names or ids in a request."""
MAX_TAGS = 256
"""Tags on one task or dataset version."""
MAX_REGEX = 256
"""Longest regular expression a listing filter may carry."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An integer a ``BIGINT`` column can hold."""
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""An integer an ``INTEGER`` column can hold."""
Id = Annotated[str, Field(min_length=1, max_length=64)]
"""An object id (32 hex characters; a little room for ids made elsewhere)."""


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH,
               max_bytes: int = MAX_JSON_BYTES, what: str = "value") -> Any:
    """``value`` if its nesting is at most ``max_depth`` and its JSON text at most
    ``max_bytes``, else ValueError. The depth is walked without recursion, so a value nested
    thousands deep is refused, not a crash."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > max_depth:
            raise ValueError(f"{what} is nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in children)
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=True).encode())
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} is not JSON: {exc}") from None
    if size > max_bytes:
        raise ValueError(f"{what} is over {max_bytes} bytes as JSON")
    return value


def _json_checker(max_bytes: int, what: str) -> AfterValidator:
    return AfterValidator(lambda v: check_json(v, max_bytes=max_bytes, what=what))


JsonObject = Annotated[dict[str, Any], _json_checker(MAX_JSON_BYTES, "a JSON object")]
"""Free-form JSON object: at most 32 levels deep and 1 MiB as JSON."""
FigureJson = Annotated[dict[str, Any], _json_checker(MAX_FIGURE_BYTES, "a plot figure")]
"""A plot figure: at most 32 levels deep and 16 MiB as JSON."""
