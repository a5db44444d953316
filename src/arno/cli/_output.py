"""One renderer for every read command (``--json`` or a Rich table), and one place that turns
errors into a single stderr line and an exit code."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from arno.core.errors import ArnoError

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def handle_errors(fn: F) -> F:
    """Run a command; an ``ArnoError`` (or a refused file) becomes one line and exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ArnoError as exc:
            raise fail(exc.message) from None
        except OSError as exc:
            raise fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
                       ) from None

    return wrapper  # type: ignore[return-value]


def render(rows: Sequence[dict[str, Any]] | dict[str, Any], columns: Sequence[str],
           *, as_json: bool, title: str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    if isinstance(rows, dict):
        table = Table(show_header=False, title=title)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key in columns:
            table.add_row(key, _cell(rows.get(key)))
        console.print(table)
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(_cell(row.get(col)) for col in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)
