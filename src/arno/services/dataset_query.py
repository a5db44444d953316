"""Reading dataset versions: lookups, the API view of a version, and listing with filters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from arno.core.dataset_schemas import DatasetStats, DatasetVersionOut
from arno.core.errors import NotFound
from arno.core.ids import as_utc, is_id
from arno.db.models import (
    DatasetParentRow,
    DatasetRow,
    DatasetVersionRow,
    ProjectRow,
    TaskRow,
    TaskTagRow,
    UserRow,
)
from arno.services.projects import normalize_project_name

SYSTEM_TAG = "dataset"
"""Carried by every dataset version's task, so task views can tell them apart."""


def get_version_row(s: Session, vid: str, *, lock: bool = False, share: bool = False
                    ) -> DatasetVersionRow:
    """The version; on PostgreSQL held until the transaction ends: for a change (``lock``),
    or only against deletion (``share``: others may read and lock it the same way)."""
    row = None
    if is_id(vid):
        hold = {"read": True, "key_share": True} if share else (True if lock else None)
        row = s.get(DatasetVersionRow, vid, with_for_update=hold)
    if row is None:
        raise NotFound(f"no dataset version {vid!r}")
    return row


def version_task(s: Session, vid: str) -> TaskRow:
    task = s.get(TaskRow, vid)
    if task is None:  # pragma: no cover - the version row cascades with its task
        raise NotFound(f"no dataset version {vid!r}")
    return task


def parent_ids(s: Session, vid: str) -> list[str]:
    return list(s.scalars(
        select(DatasetParentRow.parent_id)
        .where(DatasetParentRow.version_id == vid)
        .order_by(DatasetParentRow.position)
    ))


def version_outs(s: Session, rows: Sequence[DatasetVersionRow]) -> list[DatasetVersionOut]:
    """The API view of ``rows``, in their order, in a handful of queries."""
    if not rows:
        return []
    ids = [r.task_id for r in rows]
    tasks = {t.id: t for t in s.scalars(select(TaskRow).where(TaskRow.id.in_(ids)))}
    datasets = {d.id: d for d in s.scalars(
        select(DatasetRow).where(DatasetRow.id.in_({r.dataset_id for r in rows})))}
    projects = {pid: name for pid, name in s.execute(select(ProjectRow.id, ProjectRow.name)
                .where(ProjectRow.id.in_({d.project_id for d in datasets.values()})))}
    owner_ids = {t.owner_id for t in tasks.values() if t.owner_id}
    owners = {uid: name for uid, name in s.execute(
        select(UserRow.id, UserRow.username).where(UserRow.id.in_(owner_ids)))}
    parents: dict[str, list[str]] = defaultdict(list)
    for vid, pid in s.execute(
        select(DatasetParentRow.version_id, DatasetParentRow.parent_id)
        .where(DatasetParentRow.version_id.in_(ids))
        .order_by(DatasetParentRow.version_id, DatasetParentRow.position)
    ):
        parents[vid].append(pid)
    out = []
    for r in rows:
        task, ds = tasks[r.task_id], datasets[r.dataset_id]
        out.append(DatasetVersionOut(
            id=r.task_id,
            dataset_id=r.dataset_id,
            name=ds.name,
            project=projects.get(ds.project_id, ""),
            project_id=ds.project_id,
            version=r.version,
            state=r.state,  # type: ignore[arg-type]
            parents=parents.get(r.task_id, []),
            tags=[t for t in task.tags or [] if t != SYSTEM_TAG],
            description=task.comment,
            owner_id=task.owner_id,
            owner=owners.get(task.owner_id) if task.owner_id else None,
            manifest_hash=r.manifest_hash,
            created_at=as_utc(r.created_at),
            finalized_at=as_utc(r.finalized_at),
            stats=DatasetStats(
                file_count=r.file_count, total_size=r.total_size,
                added_files=r.added_files, modified_files=r.modified_files,
                removed_files=r.removed_files, added_bytes=r.added_bytes,
                modified_bytes=r.modified_bytes, removed_bytes=r.removed_bytes,
                new_stored_bytes=r.new_stored_bytes,
            ),
        ))
    return out


@dataclass
class DatasetQuery:
    project: str | None = None
    """The project and its subprojects."""
    name: str | None = None
    partial_name: str | None = None
    """Case-insensitive part of the name."""
    tags: list[str] = field(default_factory=list)
    """Every one of them."""
    only_final: bool = False
    ids: list[str] = field(default_factory=list)
    limit: int = 500


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_versions(s: Session, q: DatasetQuery) -> list[DatasetVersionOut]:
    """Versions matching ``q``, newest first."""
    stmt = (
        select(DatasetVersionRow)
        .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
        .order_by(DatasetVersionRow.created_at.desc(), DatasetVersionRow.task_id.desc())
        .limit(max(1, min(q.limit, 10_000)))
    )
    if q.project:
        name = normalize_project_name(q.project)
        stmt = stmt.join(ProjectRow, ProjectRow.id == DatasetRow.project_id).where(or_(
            ProjectRow.name == name,
            ProjectRow.name.like(_like_escape(name) + "/%", escape="\\"),
        ))
    if q.name:
        stmt = stmt.where(DatasetRow.name == q.name)
    if q.partial_name:
        stmt = stmt.where(
            DatasetRow.name.ilike(f"%{_like_escape(q.partial_name)}%", escape="\\"))
    for tag in q.tags:
        stmt = stmt.where(exists().where(
            TaskTagRow.task_id == DatasetVersionRow.task_id, TaskTagRow.tag == tag))
    if q.only_final:
        stmt = stmt.where(DatasetVersionRow.state == "final")
    if q.ids:
        stmt = stmt.where(DatasetVersionRow.task_id.in_(q.ids))
    return version_outs(s, list(s.scalars(stmt)))
