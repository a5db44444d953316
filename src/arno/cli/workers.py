"""``arno worker``: the agents registered with the server."""

from __future__ import annotations

from typing import Any

import typer

from arno.cli._output import handle_errors, render, when
from arno.cli._session import api

worker_app = typer.Typer(name="worker", help="See the agents serving queues.",
                         no_args_is_help=True)
COLUMNS = ["id", "host", "user", "queues", "gpus", "tasks", "cpu %", "memory", "last seen"]


def _row(worker: dict[str, Any]) -> dict[str, Any]:
    stats = worker.get("stats") or {}
    memory = ""
    if "memory_used_gb" in stats and "memory_total_gb" in stats:
        memory = f"{stats['memory_used_gb']:.1f}/{stats['memory_total_gb']:.1f} GB"
    gpus = [
        f"{g.get('index')}: {g.get('utilization', 0):.0f}% "
        f"{g.get('memory_used_mb', 0) / 1024:.1f}/{g.get('memory_total_mb', 0) / 1024:.1f} GB"
        for g in stats.get("gpus") or []
    ] or worker.get("gpus") or []
    return {**worker, "tasks": worker.get("task_ids"), "gpus": gpus,
            "cpu %": stats.get("cpu_percent", ""), "memory": memory,
            "last seen": when(worker.get("last_seen_at"))}


@worker_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List workers: their queues, GPUs, running tasks and last reported load."""
    with api() as session:
        workers = session.get("workers")
    render(workers if as_json else [_row(w) for w in workers], COLUMNS, as_json=as_json,
           no_wrap=["id"])


def register(app: typer.Typer) -> None:
    app.add_typer(worker_app)
