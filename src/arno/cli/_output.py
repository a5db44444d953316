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
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from arno.core.errors import ArnoError

F = TypeVar("F", bound=Callable[..., Any])
console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    # one line whatever the terminal width, and the message is text, not Rich markup
    err_console.print(Text.assemble(("error:", "red"), " ", " ".join(message.split("\n"))),
                      highlight=False, soft_wrap=True)
    return typer.Exit(code)


def say(message: str, *, err: bool = False) -> None:
    """One line of plain text (never Rich markup: names come from users), never wrapped."""
    (err_console if err else console).print(message, markup=False, highlight=False,
                                            soft_wrap=True)


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
           *, as_json: bool, title: str | None = None, no_wrap: Sequence[str] = ()) -> None:
    """Print ``rows`` as JSON, or as a table of ``columns`` (a dict: one field per line).
    Columns named in ``no_wrap`` (ids) are never folded."""
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    if isinstance(rows, dict):
        table = Table(show_header=False, title=title)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key in columns:
            table.add_row(key, Text(_cell(rows.get(key))))
        print_table(table)
        return
    table = Table(title=title)
    for col in columns:
        table.add_column(col, no_wrap=col in no_wrap)
    for row in rows:
        table.add_row(*(Text(_cell(row.get(col))) for col in columns))
    print_table(table)


def print_table(table: Table) -> None:
    """On a terminal, fit its width; piped or captured, print every cell whole (a guessed
    80 columns would fold ids and names that scripts and ``grep`` look for)."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(1 << 16), table).maximum
    Console(file=console.file, width=max(natural, 20)).print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def when(value: Any) -> str:
    """An API timestamp (ISO 8601, UTC) as ``YYYY-MM-DD HH:MM:SS`` for a table cell."""
    if not value:
        return ""
    text = str(value).replace("T", " ")
    return text[:19]
