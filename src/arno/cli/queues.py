"""``arno queue``: the queues agents serve, and the tasks waiting in them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from arno.cli._output import console, handle_errors, render, when
from arno.cli._session import api

queue_app = typer.Typer(name="queue", help="Manage execution queues.", no_args_is_help=True)
COLUMNS = ["name", "length", "waiting since", "wait", "system", "id"]
ENTRY_COLUMNS = ["position", "task_id", "task", "project", "priority", "enqueued"]


def _age(value: Any) -> str:
    """How long ago an API timestamp was, e.g. ``3m12s``."""
    if not value:
        return ""
    try:
        then = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _row(queue: dict[str, Any]) -> dict[str, Any]:
    oldest = queue.get("oldest_enqueued_at")
    return {**queue, "waiting since": when(oldest), "wait": _age(oldest),
            "system": "yes" if queue.get("system") else ""}


@queue_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List queues with their length and how long the oldest task has waited."""
    with api() as session:
        queues = session.get("queues")
    render(queues if as_json else [_row(q) for q in queues], COLUMNS, as_json=as_json,
           no_wrap=["id"])


@queue_app.command("create")
@handle_errors
def create(
    name: str = typer.Argument(..., help="Queue name (letters, digits, _ . : -)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create a queue (admins only)."""
    with api() as session:
        queue = session.post("queues", {"name": name})
    if as_json:
        render(queue, [], as_json=True)
    else:
        console.print(f"queue [bold]{queue['name']}[/bold] created ({queue['id']})",
                      highlight=False)


@queue_app.command("show")
@handle_errors
def show(
    name: str = typer.Argument(..., help="Queue name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The tasks waiting in a queue, next first."""
    with api() as session:
        queue = session.get(f"queues/{name}")
        entries = session.get(f"queues/{name}/entries")
    if as_json:
        render({**queue, "entries": entries}, [], as_json=True)
        return
    rows = [{**e, "task": e.get("task_name"), "enqueued": when(e.get("enqueued_at"))}
            for e in entries]
    render(rows, ENTRY_COLUMNS, as_json=False, no_wrap=["task_id"],
           title=f"{queue['name']}: {queue['length']} waiting"
                 + (f", oldest for {_age(queue.get('oldest_enqueued_at'))}"
                    if queue.get("oldest_enqueued_at") else ""))


@queue_app.command("delete")
@handle_errors
def delete(
    name: str = typer.Argument(..., help="Queue name or id."),
    force: bool = typer.Option(False, "--force",
                               help="Delete even with tasks waiting (they go back to draft)."),
) -> None:
    """Delete a queue (admins only; built-in queues stay)."""
    with api() as session:
        session.delete(f"queues/{name}", force="true" if force else None)
    console.print(f"queue [bold]{name}[/bold] deleted", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(queue_app)
