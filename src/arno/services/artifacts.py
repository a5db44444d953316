"""Artifacts: named outputs (or inputs) of a task whose bytes live in the blob store."""

from __future__ import annotations

from sqlalchemy import select

from arno.blobstore import BlobStore
from arno.core.errors import InvalidInput, NotFound
from arno.core.ids import as_utc, utcnow
from arno.core.schemas import ArtifactCreate, ArtifactOut
from arno.db.engine import Database
from arno.db.models import ArtifactRow
from arno.services.principal import Principal
from arno.services.tasks import get_task_row


def _out(row: ArtifactRow) -> ArtifactOut:
    return ArtifactOut(
        task_id=row.task_id,
        name=row.name,
        type=row.type,
        mode=row.mode,
        file_name=row.file_name,
        content_type=row.content_type,
        size=row.size,
        hash=row.hash,
        uri=row.uri,
        preview=row.preview,
        metadata=row.meta or {},
        created_at=as_utc(row.created_at),
    )


def check_artifact_name(name: str) -> None:
    if not name or len(name) > 256 or any(ord(c) < 32 for c in name):
        raise InvalidInput(f"invalid artifact name {name!r}")


class ArtifactService:
    def __init__(self, db: Database, store: BlobStore) -> None:
        self.db = db
        self.store = store

    def register(self, task_id: str, name: str, req: ArtifactCreate, who: Principal) -> ArtifactOut:
        """Record an artifact whose bytes are already in the store (or an external URI).
        Re-registering a name replaces it, as re-uploading does in the SDK."""
        check_artifact_name(name)
        size = 0
        if req.hash:
            if not self.store.exists(req.hash):
                raise NotFound(f"blob {req.hash} is not stored; upload it first")
            size = self.store.size(req.hash)
        elif not req.uri:
            raise InvalidInput("an artifact needs a stored blob hash or an external uri")
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task)
            row = s.get(ArtifactRow, (task_id, name))
            if row is None:
                row = ArtifactRow(task_id=task_id, name=name)
                s.add(row)
            row.type = req.type
            row.mode = req.mode
            row.file_name = req.file_name
            row.content_type = req.content_type
            row.size = size
            row.hash = req.hash
            row.uri = req.uri or (f"arno://blobs/{req.hash}" if req.hash else "")
            row.preview = req.preview
            row.meta = req.metadata
            row.created_at = utcnow()
            s.flush()
            return _out(row)

    def list(self, task_id: str) -> list[ArtifactOut]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            rows = s.scalars(
                select(ArtifactRow).where(ArtifactRow.task_id == task_id).order_by(ArtifactRow.name)
            )
            return [_out(r) for r in rows]

    def get(self, task_id: str, name: str) -> ArtifactOut:
        with self.db.read() as s:
            get_task_row(s, task_id)
            row = s.get(ArtifactRow, (task_id, name))
            if row is None:
                raise NotFound(f"task {task_id} has no artifact {name!r}")
            return _out(row)

    def delete(self, task_id: str, name: str, who: Principal) -> None:
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task)
            row = s.get(ArtifactRow, (task_id, name))
            if row is None:
                raise NotFound(f"task {task_id} has no artifact {name!r}")
            s.delete(row)
