"""``arno project``: projects."""

from __future__ import annotations

from typing import Any

import typer

from arno.cli._output import handle_errors, render, when
from arno.cli._session import api

project_app = typer.Typer(name="project", help="Browse projects.", no_args_is_help=True)
COLUMNS = ["name", "tasks", "last activity", "created", "description"]


def _row(project: dict[str, Any]) -> dict[str, Any]:
    return {**project, "tasks": project.get("task_count"),
            "last activity": when(project.get("last_activity")),
            "created": when(project.get("created_at"))}


@project_app.command("list")
@handle_errors
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every project (nested projects are named "parent/child")."""
    with api() as session:
        projects = session.get("projects")
    render(projects if as_json else [_row(p) for p in projects], COLUMNS, as_json=as_json)


def register(app: typer.Typer) -> None:
    app.add_typer(project_app)
