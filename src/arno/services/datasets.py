"""Dataset versions: create (a task of type data_processing plus its version row), the
manifest (complete, stats against the merged parents), finalize, delete, squash.

A version's manifest names pieces; the packs holding them are recorded as the version's pack
references, which keep them from garbage collection (see ``dataset_packs``). Once final, a
version never changes.
"""

from __future__ import annotations

import builtins

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlalchemy.orm import Session

from arno.blobstore import BlobStore
from arno.core.dataset_schemas import (
    DatasetCreate,
    DatasetDiff,
    DatasetFileOut,
    DatasetFilesPage,
    DatasetVersionOut,
    ManifestFile,
    SquashRequest,
)
from arno.core.errors import Conflict, Immutable, InvalidInput
from arno.core.ids import utcnow
from arno.core.status import TaskStatus, TaskType
from arno.db.engine import Database
from arno.db.models import (
    ArtifactRow,
    DatasetPackRefRow,
    DatasetPackRow,
    DatasetParentRow,
    DatasetRow,
    DatasetVersionRow,
    HyperParamRow,
    TaskRow,
    TaskTagRow,
)
from arno.services.dataset_manifests import (
    Files,
    ManifestStore,
    changes,
    encode_files,
    hold_packs,
    lock_blob,
    merge,
    piece_homes,
    same_content,
    sorted_files,
    stats,
)
from arno.services.dataset_packs import DatasetPackService
from arno.services.dataset_query import (
    SYSTEM_TAG,
    DatasetQuery,
    get_version_row,
    list_versions,
    parent_ids,
    version_outs,
    version_task,
)
from arno.services.datasets_change import DatasetChange, change_dataset
from arno.services.principal import Principal
from arno.services.projects import ensure_project

WHAT = "this dataset version"
MAX_MISSING_SHOWN = 1000


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in version.split("."))


def bump(version: str) -> str:
    """``1.2.3`` -> ``1.2.4``; a version not ending in a number gets ``.1``."""
    parts = version.split(".")
    if parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
    else:
        parts.append("1")
    return ".".join(parts)


def _ensure_dataset(s: Session, project_id: str, name: str, owner_id: str | None) -> DatasetRow:
    q = select(DatasetRow).where(DatasetRow.project_id == project_id, DatasetRow.name == name)
    # held until commit, so that deleting its last version meanwhile cannot take it away
    row = s.scalar(q.with_for_update(read=True, key_share=True))
    if row is not None:
        return row
    row = DatasetRow(project_id=project_id, name=name, owner_id=owner_id, created_at=utcnow())
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except DuplicateRow:  # created at the same moment by another request: use that one
        row = s.scalar(q)
        if row is None:
            raise
    return row


def _drop_if_empty(s: Session, dataset_id: str) -> None:
    """Delete the dataset once it has no version left (unless one is being added now)."""
    try:
        with s.begin_nested():
            s.execute(delete(DatasetRow).where(
                DatasetRow.id == dataset_id,
                ~exists().where(DatasetVersionRow.dataset_id == dataset_id)))
    except DuplicateRow:  # a version of it was created meanwhile: it stays
        pass


def _free_version(s: Session, dataset_id: str, parents: list[DatasetVersionRow]) -> str:
    taken = set(s.scalars(
        select(DatasetVersionRow.version).where(DatasetVersionRow.dataset_id == dataset_id)))
    pool = [p.version for p in parents] or list(taken)
    if not pool:
        return "1.0.0"
    version = bump(max(pool, key=_version_key))
    while version in taken:
        version = bump(version)
    return version


class DatasetService:
    def __init__(self, db: Database, store: BlobStore, packs: DatasetPackService) -> None:
        self.db = db
        self.store = store
        self.packs = packs
        self.manifests = ManifestStore(store)

    # ---- reading ---------------------------------------------------------------------------
    def _base(self, s: Session, parents: list[str]) -> Files:
        """The merged files of final versions ``parents``."""
        rows = [get_version_row(s, p) for p in parents]
        return merge(self.manifests.load(r.manifest_hash) for r in rows if r.manifest_hash)

    def _files(self, s: Session, row: DatasetVersionRow) -> Files:
        if row.manifest_hash:
            return self.manifests.load(row.manifest_hash)
        return self._base(s, parent_ids(s, row.task_id))

    def get(self, vid: str) -> DatasetVersionOut:
        with self.db.read() as s:
            return version_outs(s, [get_version_row(s, vid)])[0]

    def list(self, q: DatasetQuery) -> list[DatasetVersionOut]:
        with self.db.read() as s:
            return list_versions(s, q)

    def manifest_json(self, vid: str) -> bytes:
        """The full manifest as JSON bytes ``{"files": [...]}``, sorted by path."""
        with self.db.read() as s:
            row = get_version_row(s, vid)
            if row.manifest_hash:
                return self.manifests.raw(row.manifest_hash)
            return encode_files(sorted_files(self._base(s, parent_ids(s, vid))))

    def diff(self, vid: str, against: str | None = None) -> DatasetDiff:
        with self.db.read() as s:
            row = get_version_row(s, vid)
            own = self._files(s, row)
            if against is None:
                base = self._base(s, parent_ids(s, vid))
            else:
                base = self._files(s, get_version_row(s, against))
        c = changes(own, base)
        return DatasetDiff(added=c.added, modified=c.modified, removed=c.removed)

    def files(self, vid: str, *, prefix: str = "", status: str = "all", offset: int = 0,
              limit: int = 200) -> DatasetFilesPage:
        """One page of the version's files with their status against the merged parents;
        ``status`` ``removed`` lists the parents' files this version dropped."""
        if status not in ("all", "added", "modified", "removed", "unchanged"):
            raise InvalidInput(f"unknown file status {status!r}")
        with self.db.read() as s:
            row = get_version_row(s, vid)
            own = self._files(s, row)
            base = self._base(s, parent_ids(s, vid))
        items: list[DatasetFileOut] = []
        if status == "removed":
            for path in sorted(base.keys() - own.keys()):
                if path.startswith(prefix):
                    items.append({**base[path], "status": "removed"})
        else:
            for path in sorted(own):
                if not path.startswith(prefix):
                    continue
                f = own[path]
                old = base.get(path)
                st = ("added" if old is None else
                      "unchanged" if same_content(f, old) else "modified")
                if status in ("all", st):
                    items.append({**f, "status": st})  # type: ignore[typeddict-item]
        offset, limit = max(0, offset), max(0, min(limit, 10_000))
        return DatasetFilesPage(total=len(items), files=items[offset:offset + limit])

    # ---- creating ----------------------------------------------------------------------------
    def _new_version(self, s: Session, *, name: str, project: str, parents: builtins.list[str],
                     tags: builtins.list[str], version: str | None, description: str,
                     who: Principal) -> DatasetVersionRow:
        parent_rows = []
        for pid in dict.fromkeys(parents):
            prow = get_version_row(s, pid, share=True)
            if prow.state != "final":
                raise Conflict(f"parent {pid} is not finalized")
            parent_rows.append(prow)
        proj = ensure_project(s, project, who.user_id)
        dataset = _ensure_dataset(s, proj.id, name, who.user_id)
        if version is None:
            version = _free_version(s, dataset.id, parent_rows)
        elif s.scalar(select(DatasetVersionRow.task_id).where(
                DatasetVersionRow.dataset_id == dataset.id,
                DatasetVersionRow.version == version)) is not None:
            raise Conflict(f"dataset {name!r} in {proj.name!r} already has version {version}")
        now = utcnow()
        task_tags = [SYSTEM_TAG, *(t for t in tags if t != SYSTEM_TAG)]
        task = TaskRow(
            project_id=proj.id, name=name, type=TaskType.data_processing.value,
            status=TaskStatus.created.value, comment=description, owner_id=who.user_id,
            created_by_task_id=who.run_task_id, created_at=now, updated_at=now, tags=task_tags,
            script={}, user_properties={}, runtime={},
        )
        s.add(task)
        s.flush()
        s.execute(insert(TaskTagRow), [{"task_id": task.id, "tag": t} for t in task_tags])
        row = DatasetVersionRow(task_id=task.id, dataset_id=dataset.id, version=version,
                                state="draft", created_at=now)
        try:
            with s.begin_nested():
                s.add(row)
                s.flush()
        except DuplicateRow:
            raise Conflict(
                f"dataset {name!r} in {proj.name!r} already has version {version}") from None
        if parent_rows:
            s.execute(insert(DatasetParentRow), [
                {"version_id": task.id, "parent_id": p.task_id, "position": i}
                for i, p in enumerate(parent_rows)
            ])
        return row

    def create(self, req: DatasetCreate, who: Principal) -> DatasetVersionOut:
        with self.db.write() as s:
            row = self._new_version(
                s, name=req.name, project=req.project, parents=req.parents, tags=req.tags,
                version=req.version, description=req.description, who=who)
            base = self._base(s, req.parents)
            for key, value in stats(base, base).items():
                setattr(row, key, value)
            s.flush()
            return version_outs(s, [row])[0]

    def change(self, vid: str, req: DatasetChange, who: Principal) -> DatasetVersionOut:
        """Rename or move the dataset, set a draft's version string (``datasets_change``)."""
        return change_dataset(self.db, vid, req, who)

    # ---- the manifest ------------------------------------------------------------------------
    def _record(self, s: Session, row: DatasetVersionRow, own: Files, base: Files) -> None:
        """Make ``own`` the version's manifest: every piece must be stored (409 naming the
        missing), the packs holding them become its references, stats are counted."""
        hashes = list(dict.fromkeys(p for f in own.values() for p in f["pieces"]))
        homes = dict(zip(hashes, piece_homes(s, hashes), strict=True))
        packs = {pack for pack, _ in homes.values() if pack is not None}
        held = hold_packs(s, packs)
        missing = [h for h, (pack, _) in homes.items() if pack not in held]
        if missing:
            raise Conflict(
                f"{len(missing)} pieces of the manifest are not stored; upload them first",
                details={"missing": missing[:MAX_MISSING_SHOWN]},
            )
        for f in own.values():
            pieces = f["pieces"]
            if not pieces:
                continue
            stored = (homes[pieces[0]][1] if len(pieces) == 1
                      else sum(homes[p][1] for p in pieces))  # type: ignore[misc]
            if stored != f["size"]:
                raise InvalidInput(f"{f['path']}: its pieces hold {stored} bytes, not {f['size']}")
        vid = row.task_id
        ordered = sorted(packs)
        s.execute(delete(DatasetPackRefRow).where(DatasetPackRefRow.version_id == vid))
        if ordered:
            s.execute(insert(DatasetPackRefRow),
                      [{"version_id": vid, "pack_hash": p} for p in ordered])
        shared = set(s.scalars(select(DatasetPackRefRow.pack_hash).where(
            DatasetPackRefRow.pack_hash.in_(ordered), DatasetPackRefRow.version_id != vid)))
        mine = [p for p in ordered if p not in shared]
        new_bytes = s.scalar(select(func.coalesce(func.sum(DatasetPackRow.size), 0)).where(
            DatasetPackRow.hash.in_(mine))) if mine else 0
        h, packed = self.manifests.pack(own)
        lock_blob(s, h)
        self.manifests.put(h, packed, own)
        old = row.manifest_hash
        row.manifest_hash = h
        for key, value in stats(own, base).items():
            setattr(row, key, value)
        row.new_stored_bytes = int(new_bytes or 0)
        s.flush()
        if old and old != h:
            self._release_manifest(s, old)

    def _release_manifest(self, s: Session, h: str) -> None:
        """Delete manifest blob ``h`` unless a version or an artifact still names it (call
        last in the transaction: the blob goes at once)."""
        lock_blob(s, h)
        s.flush()
        named = s.scalar(select(DatasetVersionRow.task_id).where(
            DatasetVersionRow.manifest_hash == h).limit(1))
        named = named or s.scalar(select(ArtifactRow.task_id).where(ArtifactRow.hash == h).limit(1))
        if named is None:
            self.store.delete(h)

    def put_manifest(self, vid: str, files: builtins.list[ManifestFile], who: Principal
                     ) -> DatasetVersionOut:
        own = {f["path"]: f for f in files}
        with self.db.write() as s:
            row = get_version_row(s, vid, lock=True)
            who.require_task_owner(version_task(s, vid), WHAT)
            if row.state == "final":
                raise Immutable(f"dataset version {vid} is finalized")
            self._record(s, row, own, self._base(s, parent_ids(s, vid)))
            return version_outs(s, [row])[0]

    def _close(self, s: Session, row: DatasetVersionRow) -> None:
        now = utcnow()
        row.state = "final"
        row.finalized_at = now
        task = version_task(s, row.task_id)
        task.status = TaskStatus.completed.value
        task.completed_at = task.updated_at = now
        s.flush()

    def finalize(self, vid: str, who: Principal) -> DatasetVersionOut:
        """Make the version final; of two clients at once, one wins and one gets 409."""
        with self.db.write() as s:
            row = get_version_row(s, vid, lock=True)
            who.require_task_owner(version_task(s, vid), WHAT)
            if row.state == "final":
                raise Immutable(f"dataset version {vid} is finalized")
            parents = parent_ids(s, vid)
            if not parents and (row.manifest_hash is None or row.file_count == 0):
                raise Conflict(
                    f"dataset version {vid} has nothing to finalize: no files and no parents")
            if row.manifest_hash is None:
                base = self._base(s, parents)
                self._record(s, row, base, base)
            packs = list(s.scalars(
                select(DatasetPackRefRow.pack_hash).where(DatasetPackRefRow.version_id == vid)))
            blobs = [row.manifest_hash, *packs] if row.manifest_hash else packs
            lost = [b for b in blobs if not self.store.exists(b)]
            if lost:
                raise Conflict(
                    f"{len(lost)} blobs of dataset version {vid} are missing from storage; "
                    "upload its packs and manifest again",
                    details={"missing_blobs": lost[:MAX_MISSING_SHOWN]},
                )
            self._close(s, row)
            return version_outs(s, [row])[0]

    def squash(self, req: SquashRequest, who: Principal) -> DatasetVersionOut:
        """A new final version holding the merge of final versions ``req.ids`` (in order),
        without parents; no data is copied."""
        with self.db.write() as s:
            sources = []
            for vid in req.ids:
                src = get_version_row(s, vid, share=True)
                if src.state != "final" or not src.manifest_hash:
                    raise Conflict(f"dataset version {vid} is not finalized")
                sources.append(src)
            own = merge(self.manifests.load(r.manifest_hash) for r in sources
                        if r.manifest_hash)
            row = self._new_version(
                s, name=req.name, project=req.project, parents=[], tags=[], version=None,
                description=f"squash of {', '.join(req.ids)}", who=who)
            self._record(s, row, own, {})
            self._close(s, row)
            return version_outs(s, [row])[0]

    # ---- deleting ----------------------------------------------------------------------------
    def delete(self, vid: str, who: Principal, *, force: bool = False) -> None:
        """Delete the version and its task, then collect the packs it referred to. Refused
        (409, naming them) while other versions or tasks depend on it, unless ``force``."""
        with self.db.write() as s:
            row = get_version_row(s, vid, lock=True)
            who.require_task_owner(version_task(s, vid), WHAT)
            children = list(s.scalars(select(DatasetParentRow.version_id).where(
                DatasetParentRow.parent_id == vid).order_by(DatasetParentRow.version_id)))
            users = list(s.scalars(select(HyperParamRow.task_id).where(
                HyperParamRow.section == "Datasets", HyperParamRow.value == vid,
                HyperParamRow.task_id != vid).distinct().order_by(HyperParamRow.task_id)))
            if (children or users) and not force:
                named = [f"version {c}" for c in children] + [f"task {t}" for t in users]
                raise Conflict(
                    f"dataset version {vid} is used by {', '.join(named[:20])}"
                    f"{' ...' if len(named) > 20 else ''}; pass force to delete it anyway",
                    details={"versions": children, "tasks": users},
                )
            packs = list(s.scalars(
                select(DatasetPackRefRow.pack_hash).where(DatasetPackRefRow.version_id == vid)))
            dataset_id, manifest = row.dataset_id, row.manifest_hash
            s.execute(delete(TaskRow).where(TaskRow.id == vid))  # cascades to the version
            _drop_if_empty(s, dataset_id)
            if manifest:
                self._release_manifest(s, manifest)
        self.packs.collect(packs)
