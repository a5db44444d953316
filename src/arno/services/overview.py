"""Summaries for the web UI's overview pages: counts by status, the keys (hyperparameters and
metrics) a project's tasks have, and the live state of a few tasks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from arno.core.errors import NotFound
from arno.core.ids import as_utc, is_id
from arno.core.schemas import DebugSampleOut
from arno.db.engine import Database
from arno.db.models import (
    DebugSampleRow,
    HyperParamRow,
    ProjectRow,
    SeriesRow,
    TaskRow,
    UserRow,
)

KEYS_FROM_TASKS = 2000
"""Column keys are gathered from the newest tasks of the scope (fast on any table size)."""


class OverviewService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def status_counts(self) -> dict[str, int]:
        with self.db.read() as s:
            rows = s.execute(
                select(TaskRow.status, func.count()).where(TaskRow.archived.is_(False))
                .group_by(TaskRow.status)
            ).all()
            return {status: n for status, n in rows}

    def user_count(self) -> int:
        with self.db.read() as s:
            return s.scalar(select(func.count()).select_from(UserRow)) or 0

    def _scope(self, project: str | None) -> Any:
        q = select(TaskRow.id).join(ProjectRow, ProjectRow.id == TaskRow.project_id)
        if project:
            name = project.strip().strip("/")
            q = q.where(or_(ProjectRow.name == name, ProjectRow.name.like(f"{name}/%")))
        return q.order_by(TaskRow.created_at.desc()).limit(KEYS_FROM_TASKS)

    def column_keys(self, project: str | None) -> dict[str, list[str]]:
        """Hyperparameter keys ("Section/name") and metric keys ("title/series") that the
        newest tasks of the project (and its subprojects) have, for choosing table columns."""
        with self.db.read() as s:
            ids = s.scalars(self._scope(project)).all()
            params: set[str] = set()
            metrics: set[str] = set()
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                params.update(
                    f"{sec}/{name}"
                    for sec, name in s.execute(
                        select(HyperParamRow.section, HyperParamRow.name)
                        .where(HyperParamRow.task_id.in_(chunk)).distinct()
                    )
                )
                metrics.update(
                    f"{m}/{v}"
                    for m, v in s.execute(
                        select(SeriesRow.metric, SeriesRow.variant)
                        .where(SeriesRow.task_id.in_(chunk)).distinct()
                    )
                )
            return {"params": sorted(params), "metrics": sorted(metrics)}

    def sample(self, task_id: str, sample_id: int) -> DebugSampleOut:
        with self.db.read() as s:
            r = s.get(DebugSampleRow, sample_id)
            if r is None or r.task_id != task_id:
                raise NotFound(f"task {task_id} has no debug sample {sample_id}")
            return DebugSampleOut(
                id=r.id, metric=r.metric, variant=r.variant, iteration=r.iteration, kind=r.kind,
                hash=r.hash, url=r.url, content_type=r.content_type, size=r.size,
                timestamp=r.timestamp,
            )

    def briefs(self, ids: list[str]) -> list[dict[str, Any]]:
        """Status, iteration and times of the given tasks (unknown ids are left out)."""
        ids = [i for i in ids if is_id(i)][:500]
        if not ids:
            return []
        with self.db.read() as s:
            rows = s.scalars(select(TaskRow).where(TaskRow.id.in_(ids))).all()
            return [
                {
                    "id": r.id,
                    "status": r.status,
                    "status_message": r.status_message,
                    "last_iteration": r.last_iteration,
                    "started_at": as_utc(r.started_at),
                    "completed_at": as_utc(r.completed_at),
                    "updated_at": as_utc(r.updated_at),
                }
                for r in rows
            ]
