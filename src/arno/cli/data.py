"""``arno data``: versioned datasets from the shell, as ``clearml-data`` users know them.

``create`` remembers the new version as the *current* one (in ``$ARNO_HOME/datasets``), so
``add``, ``remove``, ``sync``, ``upload`` and ``close`` work on it without ``--id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from arno.cli._output import handle_errors, render, say, when
from arno.cli._session import client_config, make_session
from arno.client import ApiSession
from arno.client._dataset_files import matches
from arno.core.errors import Conflict, InvalidInput, NotFound
from arno.core.files import human_size
from arno.sdk import Dataset, set_session

data_app = typer.Typer(name="data", help="Versioned datasets (create, add, upload, get ...).",
                       no_args_is_help=True)
VERSION_COLUMNS = ["id", "project", "name", "version", "state", "files", "size", "tags",
                   "created"]
FILE_COLUMNS = ["path", "size", "status", "content"]
DIFF_COLUMNS = ["change", "path", "size"]

ID_HELP = "Dataset version id (default: the current one, set by `arno data create`)."


# ---- the current version --------------------------------------------------------------------
def _state_file() -> Path:
    return client_config().home / "datasets" / "current.json"


def _remember(version_id: str, host: str) -> None:
    path = _state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": version_id, "host": host}))


def _forget(version_id: str) -> None:
    path = _state_file()
    try:
        if json.loads(path.read_text()).get("id") == version_id:
            path.unlink()
    except (OSError, ValueError):
        pass


def _current(given: str | None, session: ApiSession) -> str:
    if given:
        return given
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        state = {}
    if state.get("id") and state.get("host") == session.host:
        return str(state["id"])
    raise InvalidInput("no current dataset version: pass --id, or run `arno data create`")


@contextmanager
def _sdk() -> Iterator[ApiSession]:
    """The SDK talking through the CLI's session for the length of a command."""
    session = make_session()
    set_session(session)
    try:
        yield session
    finally:
        set_session(None)
        session.close()


def _split(values: list[str] | None) -> list[str]:
    """Repeated options, each possibly a comma-separated list."""
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _version_row(r: dict[str, Any]) -> dict[str, Any]:
    stats = r.get("stats") or {}
    return {**r, "files": stats.get("file_count"), "size": human_size(stats.get("total_size")),
            "created": when(r.get("created_at"))}


# ---- making a version -------------------------------------------------------------------------
@data_app.command("create")
@handle_errors
def create(
    name: str = typer.Option(..., "--name", help="Dataset name."),
    project: str = typer.Option(None, "--project", help="Project (default: the parent's)."),
    parents: list[str] = typer.Option(  # noqa: B008
        [], "--parents", help="Parent version ids, merged in order (repeatable or a,b)."),
    version: str = typer.Option(None, "--version", help="Version (default: the next one)."),
    tags: list[str] = typer.Option([], "--tags", help="Tags (repeatable or a,b)."),  # noqa: B008
    description: str = typer.Option("", "--description", help="What the data is."),
) -> None:
    """Create a draft dataset version, print its id and make it the current one."""
    with _sdk() as session:
        ds = Dataset.create(dataset_name=name, dataset_project=project,
                            parent_datasets=_split(parents), dataset_version=version,
                            dataset_tags=_split(tags), description=description)
        _remember(ds.id, session.host)
    say(f"created {ds.project}/{ds.name} version {ds.version}", err=True)
    say(ds.id)


@data_app.command("add")
@handle_errors
def add(
    more: list[str] = typer.Argument(None, metavar="[PATH]...",  # noqa: B008
                                     help="More files or folders."),
    files: list[str] = typer.Option([], "--files", help="File or folder (repeatable)."),  # noqa: B008
    wildcard: list[str] = typer.Option(  # noqa: B008
        [], "--wildcard", help="Only file names matching (repeatable), e.g. '*.csv'."),
    dataset_folder: str = typer.Option(None, "--dataset-folder",
                                       help="Folder inside the dataset to put them in."),
    links: list[str] = typer.Option(  # noqa: B008
        [], "--links", help="Links (s3://, https://) recorded, not copied (repeatable)."),
    non_recursive: bool = typer.Option(False, "--non-recursive", help="Skip sub-folders."),
    dataset_id: str = typer.Option(None, "--id", help=ID_HELP),
) -> None:
    """Add files and folders to a draft version (hashed now, sent by `upload`)."""
    paths = [*files, *(more or [])]
    if not paths and not links:
        raise InvalidInput("nothing to add: pass --files PATH (or --links URL)")
    with _sdk() as session:
        ds = Dataset.get(dataset_id=_current(dataset_id, session), only_completed=False)
        changed = 0
        if paths:  # all at once: one path that cannot be added leaves the version unchanged
            changed = ds.add_files(paths, wildcard=wildcard or None, dataset_path=dataset_folder,
                                   recursive=not non_recursive, show_progress=True)
        if links:
            changed += ds.add_external_files(links, dataset_path=dataset_folder)
    say(f"{changed} files added or changed in {ds.id}")


@data_app.command("remove")
@handle_errors
def remove(
    more: list[str] = typer.Argument(None, metavar="[PATTERN]...",  # noqa: B008
                                     help="More paths or wildcards."),
    files: list[str] = typer.Option(  # noqa: B008
        [], "--files", help="Dataset path or wildcard to remove (repeatable)."),
    non_recursive: bool = typer.Option(False, "--non-recursive",
                                       help="Wildcards match the top folder only."),
    dataset_id: str = typer.Option(None, "--id", help=ID_HELP),
) -> None:
    """Remove files from a draft version."""
    patterns = [*files, *(more or [])]
    if not patterns:
        raise InvalidInput("nothing to remove: pass --files PATTERN")
    with _sdk() as session:
        ds = Dataset.get(dataset_id=_current(dataset_id, session), only_completed=False)
        removed = sum(ds.remove_files(p, recursive=not non_recursive) for p in patterns)
    say(f"{removed} files removed from {ds.id}")


@data_app.command("sync")
@handle_errors
def sync(
    folder: Path = typer.Option(..., "--folder", help="Local folder to mirror."),  # noqa: B008
    dataset_folder: str = typer.Option(None, "--dataset-folder",
                                       help="Folder inside the dataset it mirrors."),
    dataset_id: str = typer.Option(None, "--id", help=ID_HELP),
    name: str = typer.Option(None, "--name", help="Make a new version of this dataset."),
    project: str = typer.Option(None, "--project", help="Its project."),
    parents: list[str] = typer.Option(  # noqa: B008
        [], "--parents", help="Parents of the new version (default: the newest final one)."),
    version: str = typer.Option(None, "--version", help="Version of the new version."),
    tags: list[str] = typer.Option([], "--tags", help="Tags of the new version."),  # noqa: B008
    skip_close: bool = typer.Option(False, "--skip-close", help="Upload but do not finalize."),
) -> None:
    """Make a version mirror a folder, upload and close it.

    Files new in the folder are added, changed ones replaced, vanished ones removed. With
    --name a new version is made first (a child of the newest final one)."""
    with _sdk() as session:
        if name and not dataset_id:
            parent_ids = _split(parents)
            if not parent_ids:
                try:
                    parent_ids = [Dataset.get(dataset_project=project, dataset_name=name).id]
                except NotFound:
                    parent_ids = []
            ds = Dataset.create(dataset_name=name, dataset_project=project,
                                parent_datasets=parent_ids, dataset_version=version,
                                dataset_tags=_split(tags))
            _remember(ds.id, session.host)
        else:
            ds = Dataset.get(dataset_id=_current(dataset_id, session), only_completed=False)
        removed, added, modified = ds.sync_folder(folder, dataset_path=dataset_folder,
                                                  show_progress=True)
        ds.upload(show_progress=True)
        if not skip_close:
            ds.finalize()
            _forget(ds.id)
    say(f"{ds.id}: {added} added, {modified} modified, {removed} removed"
        + ("" if skip_close else "; finalized"))


@data_app.command("upload")
@handle_errors
def upload(
    dataset_id: str = typer.Option(None, "--id", help=ID_HELP),
    chunk_size: int = typer.Option(None, "--chunk-size", min=1, help="Pack size in MB."),
) -> None:
    """Send the version's new content and its file list to the server."""
    with _sdk() as session:
        ds = Dataset.get(dataset_id=_current(dataset_id, session), only_completed=False)
        ds.upload(show_progress=True, chunk_size=chunk_size)
    say(f"uploaded {ds.id}")


@data_app.command("close")
@handle_errors
def close(
    dataset_id: str = typer.Option(None, "--id", help=ID_HELP),
    disable_upload: bool = typer.Option(False, "--disable-upload",
                                        help="Finalize without uploading pending changes."),
    chunk_size: int = typer.Option(None, "--chunk-size", min=1, help="Pack size in MB."),
) -> None:
    """Upload what is pending, then finalize: the version can never change again."""
    with _sdk() as session:
        ds = Dataset.get(dataset_id=_current(dataset_id, session), only_completed=False)
        if not disable_upload:
            ds.upload(show_progress=True, chunk_size=chunk_size)
        ds.finalize()
        _forget(ds.id)
    say(f"finalized {ds.id} ({ds.project}/{ds.name} version {ds.version})")


# ---- reading -----------------------------------------------------------------------------------
@data_app.command("get")
@handle_errors
def get(
    dataset_id: str = typer.Option(..., "--id", help="Dataset version id."),
    copy: Path = typer.Option(None, "--copy", help="Write a writable copy into this folder."),  # noqa: B008
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="With --copy: write into a folder that has files."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Get the files of a version and print where they are.

    By default a read-only folder in the local cache; with --copy a writable copy."""
    with _sdk():
        ds = Dataset.get(dataset_id=dataset_id, only_completed=False)
        if copy is not None:
            if copy.is_dir() and any(copy.iterdir()) and not overwrite:
                raise Conflict(f"{copy} is not empty; pass --overwrite to write the dataset's "
                               "files into it")
            path = ds.get_mutable_local_copy(copy, overwrite=overwrite)
        else:
            path = ds.get_local_copy()
    if as_json:
        render({"id": ds.id, "path": path}, [], as_json=True)
    else:
        say(str(path))


@data_app.command("list")
@handle_errors
def list_(
    dataset_id: str = typer.Option(None, "--id", help=ID_HELP),
    pattern: str = typer.Option(None, "--filter", help="Only paths matching this wildcard."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a version's files (with what changed against its parents)."""
    with _sdk() as session:
        ds = Dataset.get(dataset_id=_current(dataset_id, session), only_completed=False)
        entries = ds.file_entries
        status = {**dict.fromkeys(ds.list_added_files(), "added"),
                  **dict.fromkeys(ds.list_modified_files(), "modified")}
    rows: list[dict[str, Any]] = [
        {"path": f.relative_path, "size": f.size, "hash": f.hash, "link": f.link,
         "status": status.get(f.relative_path, "")}
        for f in entries if not pattern or matches(f.relative_path, pattern)]
    if as_json:
        render(rows, [], as_json=True)
        return
    render([{**r, "size": human_size(r["size"]), "content": r["link"] or r["hash"][:12]}
            for r in rows], FILE_COLUMNS, as_json=False,
           title=f"{ds.project}/{ds.name} {ds.version}: {len(rows)} files")


@data_app.command("search")
@handle_errors
def search(
    project: str = typer.Option(None, "--project", help="Project name."),
    name: str = typer.Option(None, "--name", help="Name contains this."),
    tags: list[str] = typer.Option([], "--tags", help="Must carry these tags."),  # noqa: B008
    drafts: bool = typer.Option(False, "--drafts", help="Include versions not finalized."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Find dataset versions, newest first."""
    with _sdk() as session:
        rows = session.get("datasets", project=project, partial_name=name,
                           tags=_split(tags) or None, only_final=not drafts, limit=500)
    render(rows if as_json else [_version_row(r) for r in rows], VERSION_COLUMNS,
           as_json=as_json, no_wrap=["id"])


@data_app.command("diff")
@handle_errors
def diff(
    old: str = typer.Argument(..., metavar="ID1", help="The version compared against."),
    new: str = typer.Argument(..., metavar="ID2", help="The version whose changes are shown."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What changed from ID1 to ID2: files added, modified and removed."""
    with _sdk() as session:
        result = session.get(f"datasets/{quote(new, safe='')}/diff", against=old)
    if as_json:
        render(result, [], as_json=True)
        return
    rows = [{"change": kind, "path": f["path"], "size": human_size(f.get("size"))}
            for kind in ("added", "modified", "removed") for f in result[kind]]
    render(rows, DIFF_COLUMNS, as_json=False,
           title=" ".join(f"{len(result[k])} {k}" for k in ("added", "modified", "removed")))


# ---- versions as a whole ----------------------------------------------------------------------
@data_app.command("squash")
@handle_errors
def squash(
    name: str = typer.Option(..., "--name", help="Name of the new dataset version."),
    ids: list[str] = typer.Option([], "--ids", help="Versions to merge, in order."),  # noqa: B008
    more: list[str] = typer.Argument(None, metavar="[ID]...", help="More versions."),  # noqa: B008
    project: str = typer.Option(None, "--project", help="Project (default: the first's)."),
) -> None:
    """Merge final versions into one new final version without parents; print its id."""
    with _sdk():
        ds = Dataset.squash(name, dataset_ids=[*_split(ids), *(more or [])],
                            dataset_project=project)
    say(ds.id)


@data_app.command("delete")
@handle_errors
def delete(
    dataset_id: str = typer.Option(..., "--id", help="Dataset version id."),
    force: bool = typer.Option(False, "--force",
                               help="Delete even while other versions or tasks use it."),
) -> None:
    """Delete a version (refused while a child version or a task uses it, unless --force)."""
    with _sdk():
        Dataset.delete(dataset_id=dataset_id, force=force)
    _forget(dataset_id)
    say(f"deleted {dataset_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app)
