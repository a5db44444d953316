"""Browsing datasets for the web UI: every dataset with its latest version, one dataset's
versions, a version's folder listing (with each file's status against the merged parents),
and the bytes of one file, read piece by piece from the packs and verified.

A file is only ever found by its path in the version's manifest; nothing here joins a path to
a directory, so no request can reach outside the dataset's own content.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from arno.blobstore import BlobStore, hash_bytes
from arno.core.dataset_schemas import DatasetVersionOut, ManifestFile
from arno.core.errors import IntegrityError, InvalidInput, NotFound
from arno.core.ids import as_utc, is_id
from arno.core.packs import decode_member
from arno.db.engine import Database
from arno.db.models import (
    DatasetParentRow,
    DatasetRow,
    DatasetVersionRow,
    ProjectRow,
    TaskTagRow,
)
from arno.services.dataset_manifests import (
    Files,
    ManifestStore,
    Piece,
    find_pieces,
    merge,
    same_content,
)
from arno.services.dataset_query import (
    SYSTEM_TAG,
    get_version_row,
    parent_ids,
    version_outs,
)
from arno.services.projects import normalize_project_name

STATUSES = ("all", "added", "modified", "removed", "unchanged")
MAX_PAGE = 1000


@dataclass
class DatasetSummary:
    id: str
    name: str
    project: str
    versions: int
    updated_at: datetime | None
    latest: DatasetVersionOut
    tags: list[str]
    """Tags of any of its versions (a few)."""


@dataclass
class DatasetDetail:
    id: str
    name: str
    project: str
    created_at: datetime | None
    versions: list[DatasetVersionOut]
    """Newest first."""
    outside: dict[str, DatasetVersionOut]
    """Parents of its versions that belong to other datasets, by id."""


@dataclass
class Entry:
    """A row of a folder listing: a folder (``path`` ends with ``/``) or a file."""

    kind: str
    name: str
    path: str
    size: int
    files: int = 1
    status: str = ""
    hash: str = ""
    uri: str | None = None
    pieces: int = 0
    source: str | None = None
    """For a removed file: the parent version it came from."""


@dataclass
class Listing:
    prefix: str
    status: str
    q: str
    total: int
    folders: int
    files: int
    size: int
    """Bytes of every matching file (all pages)."""
    entries: list[Entry] = field(default_factory=list)


@dataclass
class FileHead:
    file: ManifestFile
    data: bytes
    complete: bool
    """False when the file is longer than what was read."""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _status(f: ManifestFile, base: Files) -> str:
    old = base.get(f["path"])
    return "added" if old is None else "unchanged" if same_content(f, old) else "modified"


class DatasetBrowser:
    def __init__(self, db: Database, store: BlobStore, manifests: ManifestStore) -> None:
        self.db = db
        self.store = store
        self.manifests = manifests

    # ---- manifests ----------------------------------------------------------------------------
    def _merged(self, s: Session, ids: list[str]) -> Files:
        rows = [get_version_row(s, p) for p in ids]
        return merge(self.manifests.load(r.manifest_hash) for r in rows if r.manifest_hash)

    def _own_and_base(self, s: Session, vid: str) -> tuple[Files, Files, list[str]]:
        row = get_version_row(s, vid)
        parents = parent_ids(s, vid)
        base = self._merged(s, parents)
        own = self.manifests.load(row.manifest_hash) if row.manifest_hash else base
        return own, base, parents

    # ---- datasets ----------------------------------------------------------------------------
    def summaries(self, *, name: str = "", project: str = "", tag: str = "",
                  limit: int = 500) -> list[DatasetSummary]:
        """Datasets matching the filters, the most recently updated first."""
        updated = func.max(func.coalesce(DatasetVersionRow.finalized_at,
                                         DatasetVersionRow.created_at))
        q = (select(DatasetRow.id, func.count(), updated)
             .join(DatasetVersionRow, DatasetVersionRow.dataset_id == DatasetRow.id)
             .group_by(DatasetRow.id).order_by(updated.desc(), DatasetRow.id)
             .limit(max(1, min(limit, 10_000))))
        if name.strip():
            q = q.where(DatasetRow.name.ilike(f"%{_escape(name.strip())}%", escape="\\"))
        if project.strip():
            pname = normalize_project_name(project)
            q = q.join(ProjectRow, ProjectRow.id == DatasetRow.project_id).where(or_(
                ProjectRow.name == pname,
                ProjectRow.name.like(_escape(pname) + "/%", escape="\\")))
        if tag.strip():
            tagged = select(DatasetVersionRow.task_id).join(
                TaskTagRow, TaskTagRow.task_id == DatasetVersionRow.task_id).where(
                DatasetVersionRow.dataset_id == DatasetRow.id, TaskTagRow.tag == tag.strip())
            q = q.where(exists(tagged))
        with self.db.read() as s:
            found = s.execute(q).all()
            ids = [r[0] for r in found]
            if not ids:
                return []
            newest = (select(DatasetVersionRow.dataset_id,
                             func.max(DatasetVersionRow.created_at).label("at"))
                      .where(DatasetVersionRow.dataset_id.in_(ids))
                      .group_by(DatasetVersionRow.dataset_id).subquery())
            rows = s.scalars(select(DatasetVersionRow).join(newest, and_(
                DatasetVersionRow.dataset_id == newest.c.dataset_id,
                DatasetVersionRow.created_at == newest.c.at)).order_by(
                DatasetVersionRow.task_id)).all()
            latest = {v.dataset_id: v for v in version_outs(s, rows)}
            tags: dict[str, list[str]] = {}
            for did, t in s.execute(
                select(DatasetVersionRow.dataset_id, TaskTagRow.tag).distinct()
                .join(TaskTagRow, TaskTagRow.task_id == DatasetVersionRow.task_id)
                .where(DatasetVersionRow.dataset_id.in_(ids), TaskTagRow.tag != SYSTEM_TAG)
                .order_by(TaskTagRow.tag)
            ):
                tags.setdefault(did, []).append(t)
        out = []
        for did, count, at in found:
            v = latest[did]
            out.append(DatasetSummary(id=did, name=v.name, project=v.project, versions=count,
                                      updated_at=as_utc(at), latest=v,
                                      tags=list(dict.fromkeys(tags.get(did, [])))))
        return out

    def filter_choices(self) -> tuple[list[str], list[str]]:
        """Projects that hold datasets, and the tags their versions carry."""
        with self.db.read() as s:
            projects = list(s.scalars(
                select(ProjectRow.name).distinct()
                .join(DatasetRow, DatasetRow.project_id == ProjectRow.id)
                .order_by(ProjectRow.name)))
            tags = list(s.scalars(
                select(TaskTagRow.tag).distinct()
                .join(DatasetVersionRow, DatasetVersionRow.task_id == TaskTagRow.task_id)
                .where(TaskTagRow.tag != SYSTEM_TAG).order_by(TaskTagRow.tag).limit(500)))
        return projects, tags

    def dataset(self, dataset_id: str) -> DatasetDetail:
        with self.db.read() as s:
            ds = s.get(DatasetRow, dataset_id) if is_id(dataset_id) else None
            if ds is None:
                raise NotFound(f"no dataset {dataset_id!r}")
            project = s.scalar(select(ProjectRow.name).where(ProjectRow.id == ds.project_id))
            rows = s.scalars(select(DatasetVersionRow)
                             .where(DatasetVersionRow.dataset_id == dataset_id)
                             .order_by(DatasetVersionRow.created_at.desc(),
                                       DatasetVersionRow.task_id.desc())).all()
            versions = version_outs(s, rows)
            mine = {v.id for v in versions}
            others = {p for v in versions for p in v.parents if p not in mine}
            outside = version_outs(s, s.scalars(select(DatasetVersionRow).where(
                DatasetVersionRow.task_id.in_(others))).all()) if others else []
            return DatasetDetail(id=ds.id, name=ds.name, project=project or "",
                                 created_at=as_utc(ds.created_at), versions=versions,
                                 outside={v.id: v for v in outside})

    def related(self, vid: str) -> tuple[DatasetVersionOut, list[DatasetVersionOut],
                                         list[DatasetVersionOut]]:
        """The version, its parents (in order) and its children."""
        with self.db.read() as s:
            v = version_outs(s, [get_version_row(s, vid)])[0]
            prows = [s.get(DatasetVersionRow, p) for p in v.parents]
            children = s.scalars(
                select(DatasetVersionRow)
                .join(DatasetParentRow, DatasetParentRow.version_id == DatasetVersionRow.task_id)
                .where(DatasetParentRow.parent_id == vid)
                .order_by(DatasetVersionRow.created_at)).all()
            return (v, version_outs(s, [r for r in prows if r is not None]),
                    version_outs(s, children))

    # ---- files -------------------------------------------------------------------------------
    def listing(self, vid: str, *, prefix: str = "", status: str = "all", q: str = "",
                offset: int = 0, limit: int = 200) -> Listing:
        """One page of the folder ``prefix`` (``""`` or ending with ``/``): its subfolders
        (with the number and size of the matching files inside), then its files. With ``q``,
        every matching file below ``prefix`` whose path contains ``q`` (case-insensitive)."""
        if status not in STATUSES:
            raise InvalidInput(f"unknown file status {status!r}")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        with self.db.read() as s:
            own, base, parents = self._own_and_base(s, vid)
        if status == "removed":
            chosen = [(base[p], "removed") for p in base.keys() - own.keys()
                      if p.startswith(prefix)]
        else:
            chosen = []
            for path, f in own.items():
                if path.startswith(prefix):
                    st = _status(f, base)
                    if status in ("all", st):
                        chosen.append((f, st))
        needle = q.strip().lower()
        folders: dict[str, Entry] = {}
        files: list[Entry] = []
        total_size = 0
        cut = len(prefix)
        for f, st in chosen:
            rest = f["path"][cut:]
            if needle and needle not in rest.lower():
                continue
            total_size += f["size"]
            head, slash, _ = rest.partition("/")
            if slash and not needle:
                entry = folders.get(head)
                if entry is None:
                    folders[head] = Entry("folder", head, prefix + head + "/", f["size"])
                else:
                    entry.files += 1
                    entry.size += f["size"]
                continue
            files.append(Entry("file", rest, f["path"], f["size"], status=st, hash=f["hash"],
                               uri=f.get("uri"), pieces=len(f["pieces"])))
        entries = [folders[k] for k in sorted(folders)] + sorted(files, key=lambda e: e.name)
        offset, limit = max(0, offset), max(1, min(limit, MAX_PAGE))
        page = entries[offset:offset + limit]
        if status == "removed":
            self._sources(page, parents)
        return Listing(prefix=prefix, status=status, q=q.strip(), total=len(entries),
                       folders=len(folders), files=len(files), size=total_size, entries=page)

    def _sources(self, entries: list[Entry], parents: list[str]) -> None:
        """Name, for each removed file, the parent it came from (the last parent holding it:
        a later parent wins the merge)."""
        wanted = {e.path: e for e in entries if e.kind == "file"}
        with self.db.read() as s:
            for pid in reversed(parents):
                if not wanted:
                    return
                row = get_version_row(s, pid)
                held = self.manifests.load(row.manifest_hash) if row.manifest_hash else {}
                for path in [p for p in wanted if p in held]:
                    wanted.pop(path).source = pid

    def file(self, vid: str, path: str) -> ManifestFile:
        """The version's file at ``path`` (404 when the manifest has no such path)."""
        with self.db.read() as s:
            own, _, _ = self._own_and_base(s, vid)
        f = own.get(path)
        if f is None:
            raise NotFound(f"dataset version {vid} has no file {path!r}")
        return f

    def _homes(self, f: ManifestFile) -> list[tuple[str, Piece]]:
        hashes = list(f["pieces"])
        with self.db.read() as s:
            found = find_pieces(s, list(dict.fromkeys(hashes)))
        for h in hashes:
            if h not in found:
                raise IntegrityError(f"{f['path']}: piece {h} is not stored on this server")
        return [(h, found[h]) for h in hashes]

    def _piece(self, path: str, h: str, home: Piece) -> bytes:
        pack, offset, length, size = home
        try:
            framed = self.store.read_range(pack, offset, length)
        except (NotFound, OSError) as exc:
            raise IntegrityError(
                f"{path}: pack {pack} is missing from storage ({exc})") from None
        try:
            return decode_member(framed, h, size)
        except IntegrityError as exc:
            raise IntegrityError(f"{path}: {exc.message}") from None

    def read_file(self, vid: str, path: str, max_bytes: int) -> FileHead:
        """The first ``max_bytes`` of the file (whole pieces are read and each is checked
        against its hash; a file read whole is checked against the file's hash too).
        IntegrityError names the file when its stored bytes are damaged or missing."""
        f = self.file(vid, path)
        if f.get("uri"):
            raise InvalidInput(f"{path} is stored outside Arno, at {f['uri']}")
        parts: list[bytes] = []
        got = 0
        homes = self._homes(f)
        for h, home in homes:
            if got >= max_bytes:
                break
            data = self._piece(path, h, home)
            parts.append(data)
            got += len(data)
        data = b"".join(parts)
        complete = got >= f["size"]
        if complete and (len(data) != f["size"] or (
                len(homes) > 1 and hash_bytes(data) != f["hash"])):
            raise IntegrityError(f"{path}: its pieces do not add up to the file")
        return FileHead(f, data[:max_bytes], complete and len(data) <= max_bytes)

    def open_file(self, vid: str, path: str) -> tuple[ManifestFile, Iterator[bytes]]:
        """The file and an iterator over its verified pieces. Every piece is located before
        this returns, so a missing one is reported before any byte is sent."""
        f = self.file(vid, path)
        if f.get("uri"):
            raise NotFound(f"{path} is stored outside Arno, at {f['uri']}")
        homes = self._homes(f)

        def pieces() -> Iterator[bytes]:
            for h, home in homes:
                yield self._piece(path, h, home)

        return f, pieces()

