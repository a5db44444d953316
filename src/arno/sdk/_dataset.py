"""``Dataset``: versioned data as ClearML Data users know it (``Dataset.create``, ``add_files``,
``upload``, ``finalize``, ``Dataset.get``, ``get_local_copy`` ...).

A version is a task of type ``data_processing`` with a manifest of its files; the bytes live on
the server as deduplicated pieces in packs. Once finalized a version never changes: every
change raises ``Immutable``; make a child version (``parent_datasets=[...]``) instead.
"""

from __future__ import annotations

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
from arno.sdk._dataset_state import Working, diff, external_entries, merge


class Dataset(DatasetExtras):
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
    version = property(lambda self: str(self._info["version"]))
    description = property(lambda self: str(self._info.get("description") or ""))

    @property
    def tags(self) -> list[str]:
        return list(self._info.get("tags") or [])

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
        order) and records them as its lineage; the project defaults to the first parent's."""
        session = _context.session()
        parents = [p.id if isinstance(p, Dataset) else str(p) for p in parent_datasets or []]
        if not dataset_name:
            raise InvalidInput("Dataset.create needs dataset_name")
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
        only_completed: bool = True,
        only_published: bool = False,
        include_archived: bool = False,
        auto_create: bool = False,
        writable_copy: bool = False,
        dataset_version: str | None = None,
        alias: str | None = None,
        **_: Any,
    ) -> Dataset:
        """A version by id, or the newest matching project/name/tags/version (only final ones
        unless ``only_completed=False``). Inside a running task the id is recorded in the
        task's "Datasets" parameters under ``alias`` (default: the dataset's name).
        ``writable_copy`` returns a new draft child of the version found."""
        session = _context.session()
        if dataset_id:
            info = session.get(f"datasets/{quote(dataset_id, safe='')}")
        else:
            if not (dataset_project or dataset_name or dataset_tags):
                raise InvalidInput("Dataset.get needs dataset_id, or a project, name or tags")
            tags = [dataset_tags] if isinstance(dataset_tags, str) else list(dataset_tags or [])
            rows = session.get("datasets", project=dataset_project, name=dataset_name,
                               tags=tags or None, only_final=only_completed, limit=500)
            rows = [r for r in rows if (dataset_name is None or r["name"] == dataset_name)
                    and (dataset_version is None or r["version"] == dataset_version)]
            if not rows:
                if auto_create and dataset_name and dataset_project:
                    return cls.create(dataset_name=dataset_name, dataset_project=dataset_project,
                                      dataset_tags=tags, dataset_version=dataset_version)
                what = ", ".join(f"{k} {v!r}" for k, v in (
                    ("project", dataset_project), ("name", dataset_name), ("tags", tags or None),
                    ("version", dataset_version)) if v)
                final = " final" if only_completed else ""
                raise NotFound(f"no{final} dataset version with {what}")
            info = rows[0]
        found = cls(session, info)
        if writable_copy:
            found = cls.create(dataset_name=found.name, dataset_project=found.project,
                               parent_datasets=[found.id])
        found._record_use(alias)
        return found

    def _record_use(self, alias: str | None) -> None:
        from arno.sdk._task import Task

        task = Task.current_task()
        if task is not None and not task._closed:
            task.set_parameters({f"Datasets/{alias or self.name}": self.id})

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
        dataset_project: str | None = None,
    ) -> Dataset:
        """A new final version holding the merge of the given final versions (a later one
        wins on the same path), without parents; no data is copied."""
        ids = [d.id if isinstance(d, Dataset) else str(d) for d in dataset_ids or []]
        for project, name in dataset_project_name_pairs or []:
            ids.append(cls.get(dataset_project=project, dataset_name=name).id)
        if not ids:
            raise InvalidInput("Dataset.squash needs dataset_ids")
        session = _context.session()
        project = dataset_project or session.get(f"datasets/{quote(ids[0], safe='')}")["project"]
        return cls(session, session.post("datasets/squash",
                                         {"name": dataset_name, "project": project, "ids": ids}))

    @classmethod
    def delete(
        cls,
        dataset_id: str | None = None,
        dataset_project: str | None = None,
        dataset_name: str | None = None,
        force: bool = False,
        dataset_version: str | None = None,
        entire_dataset: bool = False,
        **_: Any,
    ) -> None:
        """Delete a version (refused while other versions or tasks use it, unless ``force``);
        with ``entire_dataset`` every version of the project/name, newest first."""
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
        for vid in ids:
            session.delete(f"datasets/{quote(vid, safe='')}", force="true" if force else None)
            forget_local(vid)

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
    ) -> int:
        """Record links to files elsewhere (``s3://``, ``https://``, ``file://`` ...); they are
        fetched by ``get_local_copy``, never stored on the Arno server."""
        self._check_mutable()
        urls = [source_url] if isinstance(source_url, str) else list(source_url)
        entries = external_entries(urls, dataset_path)
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
    ) -> None:
        """Send what the server does not have yet (as packs of about ``chunk_size`` MB), then
        the manifest. Rerun after an interruption, it sends only what is still missing."""
        self._check_mutable()
        state = self._pending()
        if state is None:
            return
        state.check_sources()
        pack_size = int(chunk_size * (1 << 20)) if chunk_size else PACK_SIZE
        spans = state.spans()
        with ProgressBar(show_progress) as bar:
            send_pieces(self._session, spans, pack_size=pack_size, progress=bar.phase,
                        advance=bar.advance, workers=max_workers or UPLOAD_WORKERS)
        self._info = put_manifest(self._session, self.id, state.entries(), spans,
                                  pack_size=pack_size)
        self._sent_manifest = self._info.get("manifest_hash")
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
