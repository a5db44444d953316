"""``arno model``: list (filter, sort, metadata columns), show with lineage, publish, archive,
delete and download the weights of registered models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from arno.cli._output import err_console, handle_errors, print_table, render, say, when
from arno.cli._session import api
from arno.client._models import ModelClient
from arno.core.errors import ArnoError, InvalidInput
from arno.core.files import human_size

model_app = typer.Typer(name="model", help="Browse and manage registered models.",
                        no_args_is_help=True)
COLUMNS = ["id", "project", "name", "framework", "state", "tags", "iteration", "size",
           "created"]
PAGE_FOR_ALL = 500


def _state(m: dict[str, Any]) -> str:
    state = "published" if m.get("published") else "draft"
    return state + (", archived" if m.get("archived") else "")


def _meta_value(m: dict[str, Any], key: str) -> Any:
    entry = (m.get("metadata") or {}).get(key)
    return entry.get("value") if isinstance(entry, dict) else entry


def _meta_columns(column: list[str], sort: list[str]) -> list[str]:
    """Asked-for ``meta:key`` columns, and the metadata a sort is by."""
    out: list[str] = []
    for key in [*column, *(s.lstrip("-+") for s in sort)]:
        if not key.startswith("meta:") or len(key) <= 5:
            if key in column:
                raise InvalidInput(f"column {key!r} is not 'meta:KEY'")
            continue
        if key not in out:
            out.append(key)
    return out


@model_app.command("list")
@handle_errors
def list_(
    project: str = typer.Option(None, "--project", "-p",
                                help="Project name (its subprojects are included)."),
    tag: list[str] = typer.Option([], "--tag", "-t",  # noqa: B008
                                  help="Must carry this tag; '-tag' must not (repeatable)."),
    name: str = typer.Option(None, "--name", "-n", help="Name contains this (any case)."),
    framework: list[str] = typer.Option([], "--framework", "-f",  # noqa: B008
                                        help="Only these frameworks (repeatable)."),
    published: bool = typer.Option(None, "--published/--draft",
                                   help="Only published models, or only drafts."),
    archived: bool = typer.Option(False, "--archived", help="Show archived models instead."),
    meta: list[str] = typer.Option(  # noqa: B008
        [], "--meta", help="Metadata filter 'key<op>value', op among = != > < >= <= ~ "
                           "(repeatable), e.g. 'accuracy>0.9'."),
    sort: list[str] = typer.Option(  # noqa: B008
        [], "--sort",
        help="Sort key: name, created_at, updated_at, framework, project, owner, iteration, "
             "published or 'meta:KEY'; prefix '-' for descending (--sort=-created_at). "
             "Repeatable; default: newest first."),
    column: list[str] = typer.Option(  # noqa: B008
        [], "--column", "-c", help="Show a metadata value as a column: 'meta:KEY' (repeatable)."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many models to show."),
    all_pages: bool = typer.Option(False, "--all", help="Every matching model (ignores --limit)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List models, newest first; filters combine with AND."""
    extra = _meta_columns(column, sort)
    query: dict[str, Any] = {
        "project": project, "tag": tag, "name": name, "framework": framework,
        "published": None if published is None else ("true" if published else "false"),
        "archived": "true" if archived else "false", "meta": meta, "sort": sort,
        "column": extra, "limit": PAGE_FOR_ALL if all_pages else limit,
    }
    rows: list[dict[str, Any]] = []
    total = 0
    with api() as session:
        cursor: str | None = None
        while True:
            page = ModelClient(session).list(cursor=cursor, **query)
            columns = page.get("columns") or {}
            for item in page["items"]:
                for col in extra:
                    value = columns.get(col, {}).get(item["id"])
                    item[col] = value if value is not None else _meta_value(item, col[5:])
                rows.append(item)
            total = page["total"]
            cursor = page.get("next_cursor")
            if not all_pages or not cursor:
                break
    if as_json:
        render(rows, [], as_json=True)
        return
    shown = [{**m, "state": _state(m), "size": human_size(m.get("weights_size")) if
              m.get("weights_size") else "", "created": when(m.get("created_at"))}
             for m in rows]
    render(shown, COLUMNS + extra, as_json=False, no_wrap=["id"])
    if len(rows) < total:
        say(f"{len(rows)} of {total} models shown; use --limit N or --all", err=True)


@model_app.command("show")
@handle_errors
def show(
    model_id: str = typer.Argument(..., metavar="ID", help="Model id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a model: details, labels, metadata and lineage.

    The lineage names the task that created the model, that task's input datasets and input
    models, and the tasks that use the model."""
    with api() as session:
        models = ModelClient(session)
        model = models.get(model_id)
        lineage = models.lineage(model_id)
    if as_json:
        render({**model, "lineage": {k: v for k, v in lineage.items() if k != "model"}}, [],
               as_json=True)
        return
    details = {
        **model, "state": _state(model), "uri": model.get("uri") or "",
        "size": human_size(model.get("weights_size")) if model.get("weights_size") else "",
        "files": model.get("weights_files") or "", "hash": model.get("weights_hash") or "",
        "task": f"{model.get('task_name') or ''} ({model['task_id']})"
        if model.get("task_id") else "",
        "parent": model.get("parent_id"), "created": when(model.get("created_at")),
        "updated": when(model.get("updated_at")),
        "published at": when(model.get("published_at")),
    }
    fields = ["id", "name", "project", "framework", "state", "owner", "tags", "comment",
              "task", "parent", "iteration", "uri", "size", "files", "hash", "created",
              "updated", "published at"]
    render(details, [f for f in fields if details.get(f) not in (None, "", [], False)],
           as_json=False, title=f"model {model['id']}")
    labels = model.get("labels") or {}
    if labels:
        table = Table(title="labels", title_justify="left")
        table.add_column("label")
        table.add_column("value", justify="right")
        for label, value in sorted(labels.items(), key=lambda kv: (kv[1], kv[0])):
            table.add_row(Text(str(label)), str(value))
        print_table(table)
    metadata = model.get("metadata") or {}
    if metadata:
        table = Table(title="metadata", title_justify="left")
        for col in ("key", "value", "type"):
            table.add_column(col)
        for key, entry in sorted(metadata.items()):
            entry = entry if isinstance(entry, dict) else {"value": entry}
            table.add_row(Text(str(key)), Text(str(entry.get("value", ""))),
                          Text(str(entry.get("type") or "")))
        print_table(table)
    _print_lineage(lineage)


def _print_lineage(lineage: dict[str, Any]) -> None:
    table = Table(title="lineage", title_justify="left")
    for col in ("relation", "name", "id", "detail"):
        table.add_column(col, no_wrap=col == "id")
    task = lineage.get("task")
    if task:
        table.add_row("created by task", Text(str(task.get("name", ""))), task["id"],
                      Text(f"{task.get('status', '')} in {task.get('project', '')}"))
    for ds in lineage.get("datasets") or []:
        table.add_row("input dataset", Text(f"{ds.get('name', '')} {ds.get('version') or ''}"),
                      str(ds.get("id", "")), Text(f"as {ds['alias']}" if ds.get("alias")
                                                  else ""))
    for use in lineage.get("input_models") or []:
        m = use.get("model") or {}
        table.add_row("input model", Text(str(m.get("name", ""))), str(m.get("id", "")),
                      Text(f"as {use.get('name', '')}"))
    for c in lineage.get("consumers") or []:
        table.add_row("used by task", Text(str(c.get("task_name", ""))), str(c["task_id"]),
                      Text(f"as {c.get('name', '')}, {c.get('status', '')} in "
                           f"{c.get('project', '')}"))
    if table.row_count:
        print_table(table)
    else:
        say("lineage: no creating task and no consumers")


def _each(ids: list[str], act: Callable[[ModelClient, str], str]) -> None:
    """Run ``act(client, id)`` for every id; a failure is one line and the others still run;
    the exit code is 1 when any failed."""
    failed = 0
    with api() as session:
        for model_id in ids:
            try:
                say(act(ModelClient(session), model_id))
            except ArnoError as exc:
                failed += 1
                err_console.print(Text.assemble(("error:", "red"), " ",
                                                " ".join(exc.message.split("\n"))),
                                  highlight=False, soft_wrap=True)
    if failed:
        raise typer.Exit(1)


@model_app.command("publish")
@handle_errors
def publish(
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Model ids."),  # noqa: B008
) -> None:
    """Publish models: a published model never changes again (tags and comment aside)."""
    def act(models: ModelClient, model_id: str) -> str:
        m = models.publish(model_id)
        return f"published model {m['id']} ({m['name']})"

    _each(ids, act)


@model_app.command("archive")
@handle_errors
def archive(
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Model ids."),  # noqa: B008
    restore: bool = typer.Option(False, "--restore", help="Take the models out of the archive."),
) -> None:
    """Archive models (hidden from lists unless --archived), or restore them."""
    def act(models: ModelClient, model_id: str) -> str:
        m = models.archive(model_id, archived=not restore)
        return f"{'restored' if restore else 'archived'} model {m['id']} ({m['name']})"

    _each(ids, act)


@model_app.command("delete")
@handle_errors
def delete(
    ids: list[str] = typer.Argument(..., metavar="ID...", help="Model ids."),  # noqa: B008
    force: bool = typer.Option(False, "--force", help="Also delete published models."),
) -> None:
    """Delete models (only their owner or an admin may)."""
    def act(models: ModelClient, model_id: str) -> str:
        m = models.get(model_id)
        models.delete(model_id, force=force)
        return f"deleted model {m['id']} ({m['name']})"

    _each(ids, act)


@model_app.command("get")
@handle_errors
def get(
    model_id: str = typer.Argument(..., metavar="ID", help="Model id."),
    dest: str = typer.Option(None, "--dest", "-d",
                             help="Directory to write the weights into (default: the cache, "
                                  "ARNO_HOME/cache/models/<hash>)."),
) -> None:
    """Download a model's weights, verified piece by piece, and print where they are."""
    from arno.client._model_weights import download_weights

    with api() as session:
        models = ModelClient(session)
        model = models.get(model_id)
        weights = models.weights(model_id)
        files = weights.get("files")
        if not files:
            uri = weights.get("uri") or model.get("uri")
            if uri and not str(uri).startswith("arno://"):
                raise InvalidInput(f"model {model_id} is registered at {uri}: its weights "
                                   "are not stored in Arno")
            raise InvalidInput(f"model {model_id} has no weights")
        target = Path(dest).expanduser() if dest else None
        with err_console.status(f"downloading {model['name']} "
                                f"({human_size(weights.get('size') or 0)}) ..."):
            local = download_weights(session, files, target,
                                     key=weights.get("hash") or model.get("weights_hash"),
                                     package=weights.get("package"))
    say(str(local))


def register(app: typer.Typer) -> None:
    app.add_typer(model_app)
