"""``Dataset``: versioned data as ClearML Data users know it (``Dataset.create``, ``add_files``,
``upload``, ``finalize``, ``Dataset.get``, ``get_local_copy`` ...).

A version is a task of type ``data_processing`` with a manifest of its files; the bytes live on
the server as deduplicated pieces in packs. Once finalized a version never changes: every
change raises ``Immutable``; make a child version (``parent_datasets=[...]``) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from arno.client._dataset_files import (
    Entry,
    HashedFile,
    LocalFile,
    hash_files,
    matches,
    scan,
)
from arno.client._dataset_hashcache import HashCache
from arno.client._dataset_upload import PACK_SIZE, UPLOAD_WORKERS, put_manifest, send_pieces
from arno.client._progress import ProgressBar
from arno.core.errors import Conflict, Immutable, InvalidInput, NotFound, ServerUnavailable
from arno.sdk import _context
from arno.sdk._dataset_extras import DatasetExtras, FileEntry, forget_local
from arno.sdk._dataset_meta import DatasetMeta
from arno.sdk._dataset_offline import DatasetOffline
from arno.sdk._dataset_offline import active as _offline
from arno.sdk._dataset_offline import new_session as _offline_session
from arno.sdk._dataset_state import (
    Working,
    delete_links,
    diff,
    external_entries,
    hash_links,
    merge,
    upload_as_links,
)

log = logging.getLogger("arno.dataset")


class Dataset(DatasetMeta, DatasetExtras, DatasetOffline):
    """One version of a dataset. Make one with :meth:`create`, find one with :meth:`get`."""

    def __init__(self, session: Any, info: dict[str, Any]) -> None:
        self._session = session
        self._info = info
        self._working: Working | None = None
        self._task: Any = None
        # what this object told the server, for a finalize whose answer was lost
        self._sent_manifest: str | None = None
        self._finalize_unanswered = False

    # ---- identity ------------------------------------------------------------------------
    id = property(lambda self: str(self._info["id"]))
    name = property(lambda self: str(self._info["name"]))
    project = property(lambda self: str(self._info["project"]))
    description = property(lambda self: str(self._info.get("description") or ""))

    @property
    def parent_datasets(self) -> list[str]:
        """Ids of the versions this one was made from, in merge order."""
        return list(self._info.get("parents") or [])

    @property
    def stats(self) -> dict[str, int]:
        """Files and bytes: totals, and added/modified/removed against the parents."""
        return dict(self._info.get("stats") or {})

    @property
    def data(self) -> dict[str, Any]:
        return dict(self._info)

    def is_final(self) -> bool:
        return self._info.get("state") == "final"

    def is_dirty(self) -> bool:
        """Whether this version has changes made here that were not uploaded yet."""
        return not self.is_final() and self._pending() is not None

    def __repr__(self) -> str:
        state = "final" if self.is_final() else "draft"
        return f"<Dataset {self.id} {self.project}/{self.name} v{self.version} [{state}]>"

    # ---- creation and lookup ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        dataset_name: str | None = None,
        dataset_project: str | None = None,
        dataset_tags: Sequence[str] | None = None,
        parent_datasets: Sequence[str | Dataset] | None = None,
        use_current_task: bool = False,
        dataset_version: str | None = None,
        output_uri: str | None = None,
        description: str | None = None,
    ) -> Dataset:
        """A new draft version. With ``parent_datasets`` it starts with their files (merged in
        order) and records them as its lineage; the project defaults to the first parent's.
        Offline (:meth:`set_offline`) it is recorded in a local folder, without parents."""
        parents = [p.id if isinstance(p, Dataset) else str(p) for p in parent_datasets or []]
        if not dataset_name:
            raise InvalidInput("Dataset.create needs dataset_name")
        if not _offline():
            session = _context.session()
        elif parents:
            raise InvalidInput("an offline dataset version cannot have parent_datasets: "
                               "their files cannot be read without the server")
        elif not dataset_project:
            raise InvalidInput("Dataset.create needs dataset_project")
        else:
            session = _offline_session()
        project = dataset_project
        if not project and parents:
            project = session.get(f"datasets/{quote(parents[0], safe='')}")["project"]
        if not project:
            raise InvalidInput("Dataset.create needs dataset_project (or a parent dataset)")
        body = {"name": dataset_name, "project": project, "parents": parents,
                "tags": [dataset_tags] if isinstance(dataset_tags, str) else list(
                    dataset_tags or []),
                "version": dataset_version, "description": description or ""}
        return cls(session, session.post("datasets", body))

    @classmethod
    def get(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        dataset_tags: str | Sequence[str] | None = None,
        only_completed: bool = False,
        only_published: bool = False,
        include_archived: bool = False,
        auto_create: bool = False,
        writable_copy: bool = False,
        dataset_version: str | None = None,
        alias: str | None = None,
        overridable: bool = False,
        shallow_search: bool = False,
        silence_alias_warnings: bool = False,
        **kwargs: Any,
    ) -> Dataset:
        """A version by id, or the newest matching project/name/tags/version: in any state,
        only final ones with ``only_completed``, only published ones with ``only_published``;
        archived versions only with ``include_archived``.

        Inside a running task the id is recorded in the task's "Datasets" parameters under
        ``alias`` (default: the dataset's name); with ``overridable`` and an ``alias``, an id
        already set in that parameter (edited in the UI before a remote run, say) is the version
        returned. Recording never fails the call: a task that cannot take it gets a warning.
        ``writable_copy`` returns a new draft child of the version found.

        ``shallow_search`` and ``silence_alias_warnings`` are accepted for compatibility: Arno's
        search is always complete and it warns about no alias."""
        session = _context.session()
        if overridable and alias:
            dataset_id = _overridden(alias) or dataset_id
        if dataset_id:
            info = session.get(f"datasets/{quote(dataset_id, safe='')}")
        else:
            if not (dataset_project or dataset_name or dataset_tags):
                raise InvalidInput("Dataset.get needs dataset_id, or a project, name or tags")
            tags = [dataset_tags] if isinstance(dataset_tags, str) else list(dataset_tags or [])
            rows = session.get("datasets", project=dataset_project, name=dataset_name,
                               tags=tags or None, only_final=only_completed or only_published,
                               limit=500)
            rows = [r for r in rows if (dataset_name is None or r["name"] == dataset_name)
                    and (dataset_version is None or r["version"] == dataset_version)]
            rows = _usable(session, rows, only_published, include_archived)
            if not rows:
                if auto_create and dataset_name and dataset_project:
                    return cls.create(dataset_name=dataset_name, dataset_project=dataset_project,
                                      dataset_tags=tags, dataset_version=dataset_version)
                what = ", ".join(f"{k} {v!r}" for k, v in (
                    ("project", dataset_project), ("name", dataset_name), ("tags", tags or None),
                    ("version", dataset_version)) if v)
                final = (" published" if only_published
                         else " final" if only_completed else "")
                raise NotFound(f"no{final} dataset version with {what}")
            info = rows[0]
        found = cls(session, info)
        if writable_copy:
            found = cls.create(dataset_name=found.name, dataset_project=found.project,
                               parent_datasets=[found.id])
        found._record_use(alias)
        return found

    def _record_use(self, alias: str | None) -> None:
        """Name this version in the current task's parameters. A courtesy: whatever goes
        wrong (the task completed, the server away) is a warning, never the user's error."""
        try:
            task = _current_task()
            if task is not None:
                task.set_parameters({f"Datasets/{alias or self.name}": self.id})
        except Exception as exc:
            log.warning("dataset version %s was not recorded in the current task: %s",
                        self.id, exc)

    @classmethod
    def list_datasets(
        cls,
        dataset_project: str | None = None,
        partial_name: str | None = None,
        tags: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        only_completed: bool = True,
        recursive_project_search: bool = True,
        include_archived: bool = True,
    ) -> list[dict[str, Any]]:
        """Versions as ``{"id", "name", "project", "version", "tags", "created", "state"}``,
        newest first."""
        rows = _context.session().get(
            "datasets", project=dataset_project, partial_name=partial_name,
            tags=list(tags) if tags else None, ids=list(ids) if ids else None,
            only_final=only_completed, limit=500)
        return [{"id": r["id"], "name": r["name"], "project": r["project"],
                 "version": r["version"], "tags": list(r.get("tags") or []),
                 "created": _when(r.get("created_at")), "state": r.get("state")}
                for r in rows]

    @classmethod
    def squash(
        cls,
        dataset_name: str,
        dataset_ids: Sequence[str | Dataset] | None = None,
        dataset_project_name_pairs: Sequence[tuple[str, str]] | None = None,
        output_url: str | None = None,
        close_squashed_dataset: bool = True,
        dataset_project: str | None = None,
    ) -> Dataset:
        """A new version holding the merge of the given final versions (a later one wins on
        the same path), without parents; no data is copied. It is final, or with
        ``close_squashed_dataset=False`` a draft holding those files, to change further."""
        ids = [d.id if isinstance(d, Dataset) else str(d) for d in dataset_ids or []]
        for project, name in dataset_project_name_pairs or []:
            ids.append(cls.get(dataset_project=project, dataset_name=name).id)
        if not ids:
            raise InvalidInput("Dataset.squash needs dataset_ids")
        session = _context.session()
        project = dataset_project or session.get(f"datasets/{quote(ids[0], safe='')}")["project"]
        if close_squashed_dataset:
            return cls(session, session.post(
                "datasets/squash", {"name": dataset_name, "project": project, "ids": ids}))
        for vid in ids:
            if session.get(f"datasets/{quote(vid, safe='')}")["state"] != "final":
                raise Conflict(f"dataset version {vid} is not finalized")
        merged = merge([session.get(f"datasets/{quote(v, safe='')}/manifest")["files"]
                        for v in ids])
        draft = cls.create(dataset_name=dataset_name, dataset_project=project,
                           description=f"squash of {', '.join(ids)}")
        draft._info = put_manifest(session, draft.id, [merged[p] for p in sorted(merged)], {})
        return draft

    @classmethod
    def delete(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        force: bool = False,
        dataset_version: str | None = None,
        entire_dataset: bool = False,
        shallow_search: bool = False,
        delete_files: bool = True,
        delete_external_files: bool = False,
    ) -> None:
        """Delete a version (refused while other versions or tasks use it, or when it is
        published, unless ``force``);
        with ``entire_dataset`` every version of the project/name, newest first. The stored
        pieces no other version uses are freed by the server (so ``delete_files`` cannot keep
        them: nothing could reach them). ``delete_external_files`` also deletes the files the
        deleted versions link to (those they added, not those inherited from a version that
        stays); a link that cannot be deleted is a warning."""
        session = _context.session()
        if entire_dataset and not dataset_id:
            ids = [r["id"] for r in session.get("datasets", project=dataset_project,
                                                name=dataset_name, only_final=False, limit=500)
                   if r["name"] == dataset_name]
            if not ids:
                raise NotFound(f"no dataset {dataset_name!r} in project {dataset_project!r}")
        elif dataset_id:
            ids = [dataset_id]
        else:
            ids = [cls.get(dataset_project=dataset_project, dataset_name=dataset_name,
                           dataset_version=dataset_version, only_completed=False).id]
        if not force:
            for vid in ids:
                if session.get(f"tasks/{quote(vid, safe='')}").get("status") == "published":
                    raise Immutable(f"dataset version {vid} is published; pass force=True "
                                    "to delete it anyway")
        links = _own_links(session, ids) if delete_external_files else []
        for vid in ids:
            session.delete(f"datasets/{quote(vid, safe='')}", force="true" if force else None)
            forget_local(vid)
        delete_links(links)

    # ---- the files ---------------------------------------------------------------------------
    def _check_mutable(self) -> None:
        if self.is_final():
            raise Immutable(f"dataset version {self.id} is finalized; create a child version "
                            "(parent_datasets=[...]) to change it")

    def _draft_path(self) -> Path:
        return _context.home() / "datasets" / "drafts" / f"{self.id}.json"

    def _manifest(self, version_id: str | None = None) -> list[Entry]:
        vid = quote(version_id or self.id, safe="")
        files: list[Entry] = self._session.get(f"datasets/{vid}/manifest")["files"]
        return files

    def _state(self) -> Working:
        if self._working is None:
            self._working = self._pending() or Working({e["path"]: e for e in self._manifest()})
        return self._working

    def _pending(self) -> Working | None:
        """The changes made here that the server has not seen (also those recorded by an
        earlier process, e.g. ``arno data add``), or None."""
        if self._working is None and not self.is_final():
            self._working = Working.load(self._draft_path())
        return self._working if self._working is not None and self._working.dirty else None

    def _changed(self, count: Any) -> Any:
        state = self._state()
        if state.dirty:
            state.save(self._draft_path())
        return count

    def add_files(
        self,
        path: str | Path | Sequence[str | Path],
        wildcard: str | Sequence[str] | None = None,
        local_base_folder: str | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
        show_progress: bool = False,
    ) -> int:
        """Add a file, or a folder's files (``wildcard`` filters names, ``recursive`` goes into
        sub-folders) under ``dataset_path``; ``path`` may also be a list of them. A file already
        in the dataset is replaced when its content differs. Returns how many files were new or
        changed. When any file cannot be added (missing, broken link, unreadable) nothing is
        added."""
        self._check_mutable()
        paths = [path] if isinstance(path, str | Path) else list(path)
        found = [f for p in paths
                 for f in scan(p, wildcard=wildcard, recursive=recursive,
                               dataset_path=dataset_path)]
        hashed = _hash(found, show_progress, max_workers)
        return int(self._changed(self._state().add(hashed)))

    def add_external_files(
        self,
        source_url: str | Sequence[str],
        wildcard: str | None = None,
        dataset_path: str | None = None,
        recursive: bool = True,
        verbose: bool = False,
        max_workers: int | None = None,
        read_hash: bool = False,
    ) -> int:
        """Record links to files elsewhere (``s3://``, ``https://``, ``file://`` ...); they are
        fetched by ``get_local_copy``, never stored on the Arno server. With ``read_hash``
        each file is read once now, so its size and content hash go into the manifest (what
        ``verify_dataset_hash`` and the lists of changed files compare)."""
        self._check_mutable()
        urls = [source_url] if isinstance(source_url, str) else list(source_url)
        entries = external_entries(urls, dataset_path)
        if read_hash:
            hash_links(entries, _fetch_link, max_workers)
        return int(self._changed(self._state().link(entries)))

    def remove_files(self, dataset_path: str | None = None, recursive: bool = True,
                     verbose: bool = False) -> int:
        """Remove the files matching the wildcard ``dataset_path`` (a folder removes what is
        in it). Returns how many were removed."""
        self._check_mutable()
        if not dataset_path:
            raise InvalidInput("remove_files needs dataset_path (a path or a wildcard)")
        return int(self._changed(self._state().remove(dataset_path, recursive)))

    def sync_folder(self, local_path: str | Path, dataset_path: str | None = None,
                    verbose: bool = False, show_progress: bool = False) -> tuple[int, int, int]:
        """Make the dataset folder ``dataset_path`` mirror ``local_path``: new files added,
        changed ones replaced, vanished ones removed. Returns ``(removed, added, modified)``."""
        self._check_mutable()
        if not Path(local_path).is_dir():
            raise InvalidInput(f"{local_path} is not a folder")
        hashed = _hash(scan(local_path, dataset_path=dataset_path), show_progress, None)
        counts: tuple[int, int, int] = self._changed(self._state().sync(hashed, dataset_path))
        return counts

    def list_files(self, dataset_path: str | None = None, recursive: bool = True,
                   dataset_id: str | None = None) -> list[str]:
        """Paths of the files, all or those matching the wildcard ``dataset_path``."""
        paths = ([e["path"] for e in self._manifest(dataset_id)] if dataset_id
                 else list(self._state().files))
        return sorted(p for p in paths if not dataset_path or matches(p, dataset_path, recursive))

    @property
    def file_entries(self) -> list[FileEntry]:
        state = self._state()
        return [FileEntry.of(e, self.id, state.sources.get(e["path"])) for e in state.entries()]

    @property
    def file_entries_dict(self) -> dict[str, FileEntry]:
        return {f.relative_path: f for f in self.file_entries}

    def _diff(self, version_id: str | None = None) -> dict[str, list[Entry]]:
        """Files added, modified and removed against the merged parents (of this version, or
        of ``version_id``); pending local changes included."""
        pending = self._pending() if version_id in (None, self.id) else None
        if pending is not None:
            base = merge([self._manifest(p) for p in self.parent_datasets])
            return diff(base, pending.files)
        result: dict[str, list[Entry]] = self._session.get(
            f"datasets/{quote(version_id or self.id, safe='')}/diff")
        return result

    def list_added_files(self, dataset_id: str | None = None) -> list[str]:
        return sorted(e["path"] for e in self._diff(dataset_id)["added"])

    def list_modified_files(self, dataset_id: str | None = None) -> list[str]:
        return sorted(e["path"] for e in self._diff(dataset_id)["modified"])

    def list_removed_files(self, dataset_id: str | None = None) -> list[str]:
        return sorted(e["path"] for e in self._diff(dataset_id)["removed"])

    # ---- upload and finalize ---------------------------------------------------------------
    def upload(
        self,
        show_progress: bool = True,
        verbose: bool = False,
        output_url: str | None = None,
        compression: Any = None,
        chunk_size: int | None = None,
        max_workers: int | None = None,
        retries: int = 3,
        preview: bool = True,
        upload_as_external_links: bool = False,
    ) -> None:
        """Send what the server does not have yet (as packs of about ``chunk_size`` MB), then
        the manifest. Rerun after an interruption, it sends only what is still missing.

        With ``upload_as_external_links`` the files added here are copied one by one under
        ``output_url`` (``s3://bucket/prefix``, ``file:///path`` ...; required) at
        ``<output_url>/<version id>/<dataset path>`` and the version links to them there."""
        self._check_mutable()
        state = self._pending()
        if state is None:
            return
        state.check_sources()
        if upload_as_external_links:
            if not output_url:
                raise InvalidInput("upload(upload_as_external_links=True) needs output_url: "
                                   "where to put the files")
            upload_as_links(state, f"{output_url.rstrip('/')}/{self.id}")
        if getattr(self._session, "offline", False):  # the bytes go into the offline folder
            self._session.keep(state)
            self._info = self._session.get(f"datasets/{quote(self.id, safe='')}")
            self._forget_pending(state)
            return
        pack_size = int(chunk_size * (1 << 20)) if chunk_size else PACK_SIZE
        spans = state.spans()
        with ProgressBar(show_progress) as bar:
            send_pieces(self._session, spans, pack_size=pack_size, progress=bar.phase,
                        advance=bar.advance, workers=max_workers or UPLOAD_WORKERS)
        self._info = put_manifest(self._session, self.id, state.entries(), spans,
                                  pack_size=pack_size)
        self._sent_manifest = self._info.get("manifest_hash")
        self._forget_pending(state)

    def _forget_pending(self, state: Working) -> None:
        state.sources.clear()
        state.dirty = False
        self._draft_path().unlink(missing_ok=True)

    def finalize(self, verbose: bool = False, raise_on_error: bool = True,
                 auto_upload: bool = False) -> bool:
        """Close the version: it becomes final and can never change. Changes not uploaded
        are refused unless ``auto_upload``."""
        self._check_mutable()
        if self._pending() is not None:
            if not auto_upload:
                raise Conflict(f"dataset version {self.id} has changes that were not uploaded; "
                               "call upload() first, or finalize(auto_upload=True)")
            self.upload()
        if self._task is not None:
            self._task.flush(wait_for_uploads=True)
        try:
            self._info = self._session.post(f"datasets/{quote(self.id, safe='')}/finalize", {})
        except (Immutable, ServerUnavailable) as exc:
            # The server may have committed this finalize, or an earlier one of this object,
            # and died before answering: final with what this object uploaded or asked to
            # finalize is done. Another client's finalize still raises.
            self._finalize_unanswered |= isinstance(exc, ServerUnavailable)
            if not self._finalized_by_us():
                raise exc from None
        return True

    def _finalized_by_us(self) -> bool:
        ours = self._sent_manifest or (
            self._info.get("manifest_hash") if self._finalize_unanswered else None)
        if not ours:
            return False
        try:
            info = self._session.get(f"datasets/{quote(self.id, safe='')}")
        except ServerUnavailable:
            return False
        if info.get("state") != "final" or info.get("manifest_hash") != ours:
            return False
        self._info = info
        return True


def _current_task() -> Any:
    from arno.sdk._task import Task

    task = Task.current_task()
    return None if task is None or getattr(task, "_closed", False) else task


def _overridden(alias: str) -> str | None:
    """The version id a running task's "Datasets/<alias>" parameter names, if any."""
    try:
        task = _current_task()
        value = task.get_parameter(f"Datasets/{alias}") if task is not None else None
    except Exception as exc:
        log.warning("the Datasets/%s parameter of the current task was not read: %s",
                    alias, exc)
        return None
    return str(value) if value else None


def _usable(session: Any, rows: list[dict[str, Any]], only_published: bool,
            include_archived: bool) -> list[dict[str, Any]]:
    """The rows whose task is published (when asked) and not archived (unless asked); read
    newest first and only as far as the first that passes."""
    if not only_published and include_archived:
        return rows
    for row in rows:
        task = session.get(f"tasks/{quote(row['id'], safe='')}")
        if only_published and task.get("status") != "published":
            continue
        if not include_archived and task.get("archived"):
            continue
        return [row]
    return []


def _own_links(session: Any, ids: list[str]) -> list[str]:
    """The link URLs of these versions that no parent outside them also has."""
    gone = set(ids)
    own: set[str] = set()
    for vid in ids:
        info = session.get(f"datasets/{quote(vid, safe='')}")
        kept = merge([session.get(f"datasets/{quote(p, safe='')}/manifest")["files"]
                      for p in info["parents"] if p not in gone])
        inherited = {e.get("uri") for e in kept.values()}
        for e in session.get(f"datasets/{quote(vid, safe='')}/manifest")["files"]:
            if e.get("uri") and e["uri"] not in inherited:
                own.add(e["uri"])
    return sorted(own)


def _fetch_link(url: str) -> Path:
    from arno.sdk._storage import StorageManager

    return Path(StorageManager.get_local_copy(url))


def _hash(found: list[LocalFile], show_progress: bool, workers: int | None
          ) -> list[HashedFile]:
    known = HashCache(_context.home() / "datasets" / "hashes.sqlite")
    try:
        with ProgressBar(show_progress) as bar:
            bar.phase("hashing", sum(f.size for f in found))
            return hash_files(found, progress=bar.advance, workers=workers, known=known)
    finally:
        known.close()


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
