"""``arno task``: list (filter, sort), show, delete, archive and import tasks."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.table import Table
from rich.text import Text

from arno.cli._output import err_console, handle_errors, print_table, render, say, when
from arno.cli._session import api
from arno.client import ApiSession, import_offline_task
from arno.core.errors import InvalidInput
from arno.core.status import TaskStatus

task_app = typer.Typer(name="task", help="Browse and manage tasks.", no_args_is_help=True)
COLUMNS = ["id", "project", "name", "status", "tags", "last iteration", "created"]
PAGE_FOR_ALL = 500


def _extra_columns(sort: list[str]) -> list[str]:
    """A sort by a hyperparameter or a metric shows that value in a column of its own."""
    extra: list[str] = []
    for key in sort:
        key = key.lstrip("-+")
        if key.startswith(("metric:", "param:")) and key not in extra:
            extra.append(key)
    return extra


def _number(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, float) else value


@task_app.command("list")
@handle_errors
def list_(
    project: str = typer.Option(None, "--project", "-p",
                                help="Project name (its subprojects are included)."),
    status: list[TaskStatus] = typer.Option([], "--status", "-s",  # noqa: B008
                                            help="Only these statuses (repeatable)."),
    tag: list[str] = typer.Option([], "--tag", "-t",  # noqa: B008
                                  help="Must carry this tag; '-tag' must not (repeatable)."),
    name: str = typer.Option(None, "--name", "-n", help="Name contains this (any case)."),
    owner: str = typer.Option(None, "--owner", help="Owner's username."),
    param: list[str] = typer.Option(  # noqa: B008
        [], "--param",
        help="Hyperparameter filter 'Section/name<op>value', op among = != > < >= <= ~ "
             "(repeatable), e.g. 'General/lr>0.01'."),
    metric: list[str] = typer.Option(  # noqa: B008
        [], "--metric",
        help="Last-metric filter 'title/series[:min|:max]<op>number' (repeatable), "
             "e.g. 'loss/train<0.5'."),
    sort: list[str] = typer.Option(  # noqa: B008
        [], "--sort",
        help="Sort key: a column (name, created_at, status, last_iteration, ...), "
             "'metric:title/series[:min|:max]' or 'param:Section/name'; prefix '-' for "
             "descending (--sort=-created_at). Repeatable; default: newest first."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many tasks to show."),
    all_pages: bool = typer.Option(False, "--all", help="Every matching task (ignores --limit)."),
    archived: bool = typer.Option(False, "--archived", help="Show archived tasks instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tasks, newest first; filters combine with AND."""
    extra = _extra_columns(sort)
    query: dict[str, Any] = {
        "project": project, "status": [str(s) for s in status], "tag": tag, "name": name,
        "owner": owner, "param": param, "metric": metric, "sort": sort, "column": extra,
        "archived": "true" if archived else "false",
        "limit": PAGE_FOR_ALL if all_pages else limit,
    }
    rows: list[dict[str, Any]] = []
    with api() as session:
        cursor: str | None = None
        while True:
            page = session.get("tasks", cursor=cursor, **query)
            for item in page["items"]:
                for col in extra:
                    item[col] = page["columns"].get(col, {}).get(item["id"])
                rows.append(item)
            cursor = page["next_cursor"]
            if not all_pages or not cursor:
                break
    if as_json:
        render(rows, [], as_json=True)
        return
    shown = [{**t, "last iteration": t.get("last_iteration"), "created": when(t["created_at"]),
              **{col: _number(t.get(col)) for col in extra}} for t in rows]
    render(shown, COLUMNS + extra, as_json=False, no_wrap=["id"])
    if len(rows) < page["total"]:
        say(f"{len(rows)} of {page['total']} tasks shown; use --limit N or --all", err=True)


def _task_path(task_id: str) -> str:
    return f"tasks/{quote(task_id, safe='')}"


@task_app.command("show")
@handle_errors
def show(
    task_id: str = typer.Argument(..., metavar="ID", help="Task id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a task: details, hyperparameters by section, configuration and metrics."""
    with api() as session:
        task = session.get(_task_path(task_id))
    if as_json:
        render(task, [], as_json=True)
        return
    script = task.get("script") or {}
    details = {
        **task,
        "status": task["status"] + (f" ({task['status_message']})"
                                    if task.get("status_message") else ""),
        "last iteration": task.get("last_iteration"),
        "created": when(task.get("created_at")), "started": when(task.get("started_at")),
        "completed": when(task.get("completed_at")), "updated": when(task.get("updated_at")),
        "parent": task.get("parent_id"),
        "repository": script.get("repository"), "branch": script.get("branch"),
        "commit": script.get("commit"), "entry point": script.get("entry_point"),
        "python": script.get("python_version"),
    }
    fields = ["id", "name", "project", "type", "status", "owner", "tags", "comment", "parent",
              "archived", "created", "started", "completed", "updated", "last iteration",
              "repository", "branch", "commit", "entry point", "python"]
    render(details, [f for f in fields if details.get(f) not in (None, "", [], False)],
           as_json=False, title=f"task {task['id']}")
    sections: dict[str, list[dict[str, Any]]] = {}
    for hp in task.get("hyperparams", []):
        sections.setdefault(hp["section"], []).append(hp)
    for section, params in sections.items():
        table = Table(title=Text(f"hyperparameters: {section}"), title_justify="left")
        for col in ("name", "value", "type", "description"):
            table.add_column(col)
        for hp in params:
            table.add_row(*(Text(str(hp.get(c, ""))) for c in ("name", "value", "type",
                                                               "description")))
        print_table(table)
    configs = task.get("configurations", [])
    if configs:
        table = Table(title="configuration objects", title_justify="left")
        for col in ("name", "type", "size"):
            table.add_column(col)
        for c in configs:
            table.add_row(Text(c["name"]), Text(c.get("type", "")),
                          f"{len(c.get('value', ''))} chars")
        print_table(table)
    metrics = task.get("metrics", [])
    if metrics:
        table = Table(title="metrics", title_justify="left")
        for col in ("metric", "variant", "last", "min", "max", "iteration", "points"):
            table.add_column(col, justify="right" if col not in ("metric", "variant") else "left")
        for m in metrics:
            table.add_row(Text(m["metric"]), Text(m["variant"]),
                          *(str(_number(m.get(k))) for k in ("last", "min", "max")),
                          str(m.get("last_iteration")), str(m.get("count")))
        print_table(table)


@task_app.command("delete")
@handle_errors
def delete(
    task_id: str = typer.Argument(..., metavar="ID", help="Task id."),
    force: bool = typer.Option(False, "--force", help="Also delete a running or published task."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a task with everything it recorded (only its owner or an admin may)."""
    with api() as session:
        task = session.get(_task_path(task_id))
        if not yes:
            typer.confirm(f"Delete task '{task['name']}' ({task['id']}) in {task['project']} "
                          "and everything it recorded?", abort=True)
        session.delete(_task_path(task_id), force="true" if force else None)
    say(f"deleted task {task['id']} ({task['name']})")


@task_app.command("archive")
@handle_errors
def archive(
    task_id: str = typer.Argument(..., metavar="ID", help="Task id."),
    restore: bool = typer.Option(False, "--restore", help="Take the task out of the archive."),
) -> None:
    """Archive a task (hidden from lists unless --archived), or restore it."""
    with api() as session:
        task = session.post(f"{_task_path(task_id)}/archive", {"archived": not restore})
    say(f"{'restored' if restore else 'archived'} task {task['id']} ({task['name']})")


def _import(session: ApiSession, source: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="arno-import-") as workdir:
        return import_offline_task(session, source, workdir=Path(workdir))


@task_app.command("import")
@handle_errors
def import_(file: str = typer.Argument(..., metavar="FILE",
                                       help="Offline task: the .zip (or its folder).")) -> None:
    """Upload a task recorded offline and print its new id.

    FILE is what Task.init(offline=True) or ARNO_OFFLINE=1 left in ARNO_HOME/offline."""
    source = Path(file).expanduser()
    if not source.exists():
        raise InvalidInput(f"no such file: {source}")
    with api() as session, err_console.status(f"importing {source.name} ..."):
        task_id = _import(session, source)
    say(f"imported {source} as task {task_id}", err=True)
    say(task_id)


@task_app.command("clone")
@handle_errors
def clone(
    task_id: str = typer.Argument(..., metavar="ID", help="Task to copy."),
    name: str = typer.Option(None, "--name", help="Name of the copy (default: '<name> (clone)')."),
    project: str = typer.Option(None, "--project", help="Project of the copy."),
    queue: str = typer.Option(None, "--queue", "-q", help="Also enqueue the copy here."),
) -> None:
    """Copy a task's inputs (parameters, configuration, code) into a new draft; print its id."""
    with api() as session:
        copy = session.post(f"{_task_path(task_id)}/clone", {"name": name, "project": project})
        if queue:
            session.post(f"tasks/{copy['id']}/enqueue", {"queue": queue})
    say(copy["id"])


@task_app.command("enqueue")
@handle_errors
def enqueue(
    task_id: str = typer.Argument(..., metavar="ID", help="A draft task."),
    queue: str = typer.Option("default", "--queue", "-q", help="Queue name."),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
) -> None:
    """Send a draft task to a queue; an agent serving it will run it."""
    with api() as session:
        task = session.post(f"{_task_path(task_id)}/enqueue",
                            {"queue": queue, "priority": priority})
    say(f"queued task {task['id']} ({task['name']}) in {queue}")


@task_app.command("dequeue")
@handle_errors
def dequeue(task_id: str = typer.Argument(..., metavar="ID", help="A queued task.")) -> None:
    """Take a task out of its queue (it becomes a draft again)."""
    with api() as session:
        task = session.post(f"{_task_path(task_id)}/dequeue", {})
    say(f"task {task['id']} ({task['name']}) is a draft again")


@task_app.command("abort")
@handle_errors
def abort(
    task_id: str = typer.Argument(..., metavar="ID", help="A queued or running task."),
    message: str = typer.Option("aborted", "--message", "-m", help="Reason, kept on the task."),
) -> None:
    """Stop a task: a queued one leaves its queue, a running one is stopped by its agent."""
    with api() as session:
        state = session.post(f"{_task_path(task_id)}/abort", {"message": message})["state"]
    say(f"task {task_id}: {state}")


@task_app.command("reset")
@handle_errors
def reset(
    task_id: str = typer.Argument(..., metavar="ID", help="A finished task."),
    keep_outputs: bool = typer.Option(False, "--keep-outputs",
                                      help="Keep what it reported (scalars, console...)."),
) -> None:
    """Make a stopped, failed or completed task a draft again, ready to be enqueued."""
    with api() as session:
        task = session.post(f"{_task_path(task_id)}/status", {"status": "created"})
        if not keep_outputs:
            session.post(f"{_task_path(task_id)}/events/reset", {})
    say(f"task {task['id']} ({task['name']}) is a draft again")


def register(app: typer.Typer) -> None:
    app.add_typer(task_app)
