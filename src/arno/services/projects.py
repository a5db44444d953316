"""Projects, nested by "/" in their names."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlalchemy.orm import Session

from arno.core.errors import InvalidInput, NotFound
from arno.core.ids import as_utc, is_id, utcnow
from arno.core.schemas import ProjectOut
from arno.db.engine import Database
from arno.db.models import ProjectRow, TaskRow

_BAD = re.compile(r"[\x00-\x1f]")


def normalize_project_name(name: str) -> str:
    parts = [p.strip() for p in name.strip().strip("/").split("/")]
    if not name.strip() or any(not p for p in parts) or _BAD.search(name):
        raise InvalidInput(f"invalid project name {name!r}: use 'a/b/c' with non-empty parts")
    return "/".join(parts)


def ensure_project(s: Session, name: str, owner_id: str | None) -> ProjectRow:
    """Return the project, creating it and its missing parents."""
    name = normalize_project_name(name)
    row = s.scalar(select(ProjectRow).where(ProjectRow.name == name))
    if row is not None:
        return row
    parent_id = None
    if "/" in name:
        parent_id = ensure_project(s, name.rsplit("/", 1)[0], owner_id).id
    row = ProjectRow(name=name, parent_id=parent_id, owner_id=owner_id, created_at=utcnow())
    if s.get_bind().dialect.name != "postgresql":  # SQLite: writers are serialised
        s.add(row)
        s.flush()
        return row
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except DuplicateRow:  # created at the same moment by another request: use that one
        row = s.scalar(select(ProjectRow).where(ProjectRow.name == name))
        if row is None:
            raise
    return row


def find_project(s: Session, ref: str) -> ProjectRow:
    row = s.get(ProjectRow, ref) if is_id(ref) else None
    if row is None:
        row = s.scalar(select(ProjectRow).where(ProjectRow.name == ref.strip().strip("/")))
    if row is None:
        raise NotFound(f"no project {ref!r}")
    return row


class ProjectService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, name: str, description: str, owner_id: str) -> ProjectOut:
        with self.db.write() as s:
            row = ensure_project(s, name, owner_id)
            if description:
                row.description = description
            return _out(row, 0, None)

    def get(self, ref: str) -> ProjectOut:
        with self.db.read() as s:
            row = find_project(s, ref)
            count, last = s.execute(
                select(func.count(TaskRow.id), func.max(TaskRow.updated_at)).where(
                    TaskRow.project_id == row.id
                )
            ).one()
            return _out(row, count, last)

    def list(self) -> list[ProjectOut]:
        with self.db.read() as s:
            stats = {
                pid: (count, last)
                for pid, count, last in s.execute(
                    select(TaskRow.project_id, func.count(TaskRow.id), func.max(TaskRow.updated_at))
                    .group_by(TaskRow.project_id)
                )
            }
            rows = s.scalars(select(ProjectRow).order_by(ProjectRow.name)).all()
            return [_out(r, *stats.get(r.id, (0, None))) for r in rows]


def _out(row: ProjectRow, count: int, last: object) -> ProjectOut:
    return ProjectOut(
        id=row.id,
        name=row.name,
        parent_id=row.parent_id,
        description=row.description,
        created_at=as_utc(row.created_at),
        task_count=count,
        last_activity=as_utc(last),  # type: ignore[call-overload]
    )
