"""``arno artifact``: list a task's artifacts and download one."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from arno.cli._output import err_console, handle_errors, render, say, when
from arno.cli._session import api
from arno.core.errors import Conflict, InvalidInput
from arno.core.files import human_size, safe_file_name

artifact_app = typer.Typer(name="artifact", help="Task artifacts.", no_args_is_help=True)
COLUMNS = ["name", "type", "mode", "file name", "size", "hash", "created"]
PROGRESS_FROM = 8 << 20
"""Show a progress bar for downloads from this size on."""


def _row(art: dict[str, Any]) -> dict[str, Any]:
    return {**art, "file name": art.get("file_name"), "size": human_size(art.get("size")),
            "hash": (art.get("hash") or "")[:12] or art.get("uri"),
            "created": when(art.get("created_at"))}


@artifact_app.command("list")
@handle_errors
def list_(
    task_id: str = typer.Argument(..., metavar="TASK", help="Task id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a task's artifacts."""
    with api() as session:
        arts = session.get(f"tasks/{quote(task_id, safe='')}/artifacts")
    render(arts if as_json else [_row(a) for a in arts], COLUMNS, as_json=as_json)


@artifact_app.command("get")
@handle_errors
def get(
    task_id: str = typer.Argument(..., metavar="TASK", help="Task id."),
    name: str = typer.Argument(..., metavar="NAME", help="Artifact name."),
    dest: str = typer.Argument(..., metavar="DEST",
                               help="A directory (the stored file name is kept) or a file path."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Download an artifact's file, verified against its content hash."""
    with api() as session:
        art = session.get(f"tasks/{quote(task_id, safe='')}/artifacts/{quote(name, safe='')}")
        if not art.get("hash"):
            where = f": it points to {art['uri']}" if art.get("uri") else ""
            raise InvalidInput(f"artifact {name!r} has no stored file{where}")
        target = Path(dest).expanduser()
        if target.is_dir() or dest.endswith(("/", "\\")):
            target = target / safe_file_name(art.get("file_name") or name)
        if target.is_dir():
            raise Conflict(f"{target} is a directory")
        if target.exists() and not force:
            raise Conflict(f"{target} already exists; pass --force to overwrite it")
        size = int(art.get("size") or 0)
        if size >= PROGRESS_FROM:
            with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), TimeRemainingColumn(), console=err_console,
                          transient=True) as bar:
                job = bar.add_task(f"downloading {name}", total=size)
                session.download_blob(art["hash"], target,
                                      progress=lambda n: bar.advance(job, n))
        else:
            session.download_blob(art["hash"], target)
    say(f"saved {name} ({human_size(size)}) to {target}")


def register(app: typer.Typer) -> None:
    app.add_typer(artifact_app)
