"""Tasks: creation, lookup, status moves, inputs (parameters, configuration, script), clone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from arno.core.errors import Conflict, Immutable, InvalidInput, NotFound
from arno.core.ids import as_utc, is_id, utcnow
from arno.core.schemas import (
    CloneRequest,
    ConfigurationItem,
    HyperParam,
    MetricSummary,
    StatusChange,
    TaskCreate,
    TaskDetail,
    TaskOut,
    TaskUpdate,
    encode_float,
)
from arno.core.schemas_batch import TaskBatchItem
from arno.core.status import EDITABLE, TaskStatus, check_move
from arno.db.engine import Database
from arno.db.models import (
    ConfigurationRow,
    HyperParamRow,
    ProjectRow,
    QueueEntryRow,
    SeriesRow,
    TaskRow,
    TaskTagRow,
    UserRow,
)
from arno.services.principal import Principal
from arno.services.projects import ensure_project
from arno.services.task_create import TaskCreator


def get_task_row(s: Session, task_id: str) -> TaskRow:
    row = s.get(TaskRow, task_id) if is_id(task_id) else None
    if row is None:
        raise NotFound(f"no task {task_id!r}")
    return row


def check_editable(row: TaskRow) -> None:
    if TaskStatus(row.status) not in EDITABLE:
        raise Immutable(f"task is {row.status}; clone it to change it")


def task_out(row: TaskRow, project: str, owner: str | None) -> TaskOut:
    return TaskOut(
        id=row.id,
        project_id=row.project_id,
        project=project,
        name=row.name,
        type=row.type,
        status=TaskStatus(row.status),
        status_message=row.status_message,
        tags=list(row.tags or []),
        comment=row.comment,
        archived=row.archived,
        parent_id=row.parent_id,
        owner_id=row.owner_id,
        owner=owner,
        created_by_task_id=row.created_by_task_id,
        created_at=as_utc(row.created_at),  # type: ignore[arg-type]
        started_at=as_utc(row.started_at),
        completed_at=as_utc(row.completed_at),
        updated_at=as_utc(row.updated_at),  # type: ignore[arg-type]
        last_iteration=row.last_iteration,
        script=row.script or {},
        user_properties=row.user_properties or {},
        runtime=row.runtime or {},
    )


def _names(s: Session, row: TaskRow) -> tuple[str, str | None]:
    project = s.get(ProjectRow, row.project_id)
    owner = s.get(UserRow, row.owner_id) if row.owner_id else None
    return (project.name if project else "", owner.username if owner else None)


def task_detail(s: Session, task_id: str, *, metrics: bool = True) -> TaskDetail:
    """The task with its inputs; ``metrics=False`` leaves out the metric summaries (an agent
    starting the task has no use for them)."""
    found = s.execute(
        select(TaskRow, ProjectRow.name, UserRow.username)
        .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
        .outerjoin(UserRow, UserRow.id == TaskRow.owner_id)
        .where(TaskRow.id == task_id)
    ).first() if is_id(task_id) else None
    if found is None:
        raise NotFound(f"no task {task_id!r}")
    return TaskDetail(
        **task_out(*found).model_dump(),
        hyperparams=TaskService._params(s, task_id),
        configurations=TaskService._configs(s, task_id),
        metrics=TaskService._metrics(s, task_id) if metrics else [],
    )


def _set_tags(s: Session, row: TaskRow, tags: list[str]) -> None:
    row.tags = list(tags)
    s.execute(delete(TaskTagRow).where(TaskTagRow.task_id == row.id))
    s.add_all(TaskTagRow(task_id=row.id, tag=t) for t in tags)


def _write_params(s: Session, task_id: str, params: Iterable[HyperParam]) -> None:
    for p in params:
        s.merge(
            HyperParamRow(
                task_id=task_id,
                section=p.section,
                name=p.name,
                value=p.value,
                type=p.type,
                description=p.description,
            )
        )


def _write_configs(s: Session, task_id: str, items: Iterable[ConfigurationItem]) -> None:
    for c in items:
        s.merge(
            ConfigurationRow(
                task_id=task_id, name=c.name, type=c.type, value=c.value, description=c.description
            )
        )


class TaskService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.creator = TaskCreator(db)

    # ---- create and read -------------------------------------------------------------------
    def create(self, req: TaskCreate, who: Principal) -> TaskOut:
        return self.creator.create(req, who)

    def create_many(self, items: Sequence[TaskBatchItem], who: Principal) -> list[TaskOut]:
        """Many tasks in one transaction (see ``task_create``); in the order given."""
        return self.creator.create_many(items, who)

    def get(self, task_id: str) -> TaskOut:
        with self.db.read() as s:
            row = get_task_row(s, task_id)
            return task_out(row, *_names(s, row))

    def detail(self, task_id: str) -> TaskDetail:
        with self.db.read() as s:
            return task_detail(s, task_id)

    @staticmethod
    def _params(s: Session, task_id: str) -> list[HyperParam]:
        rows = s.scalars(
            select(HyperParamRow)
            .where(HyperParamRow.task_id == task_id)
            .order_by(HyperParamRow.section, HyperParamRow.name)
        )
        return [
            HyperParam(
                section=r.section, name=r.name, value=r.value, type=r.type,
                description=r.description,
            )
            for r in rows
        ]

    @staticmethod
    def _configs(s: Session, task_id: str) -> list[ConfigurationItem]:
        rows = s.scalars(
            select(ConfigurationRow)
            .where(ConfigurationRow.task_id == task_id)
            .order_by(ConfigurationRow.name)
        )
        return [
            ConfigurationItem(name=r.name, type=r.type, value=r.value, description=r.description)
            for r in rows
        ]

    @staticmethod
    def _metrics(s: Session, task_id: str) -> list[MetricSummary]:
        rows = s.scalars(
            select(SeriesRow)
            .where(SeriesRow.task_id == task_id)
            .order_by(SeriesRow.metric, SeriesRow.variant)
        )
        return [
            MetricSummary(
                metric=r.metric,
                variant=r.variant,
                last=encode_float(r.last_value),
                min=encode_float(r.min_value) if r.count else None,
                max=encode_float(r.max_value) if r.count else None,
                last_iteration=r.last_iteration,
                count=r.count,
            )
            for r in rows
        ]

    def metrics(self, task_id: str) -> list[MetricSummary]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            return self._metrics(s, task_id)

    # ---- change ------------------------------------------------------------------------------
    def update(self, task_id: str, req: TaskUpdate, who: Principal) -> TaskOut:
        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            if row.status == TaskStatus.published and req.model_dump(exclude_none=True):
                raise Immutable("task is published; clone it to change it")
            if req.script is not None:
                check_editable(row)
                row.script = req.script.model_dump(exclude_none=True)
            if req.name is not None:
                row.name = req.name
            if req.comment is not None:
                row.comment = req.comment
            if req.type is not None:
                check_editable(row)
                row.type = req.type.value
            if req.tags is not None:
                _set_tags(s, row, req.tags)
            if req.user_properties is not None:
                row.user_properties = {**(row.user_properties or {}), **req.user_properties}
            if req.runtime is not None:
                row.runtime = {**(row.runtime or {}), **req.runtime}
            if req.last_iteration is not None:
                row.last_iteration = max(row.last_iteration or 0, req.last_iteration)
            if req.project is not None:
                row.project_id = ensure_project(s, req.project, row.owner_id).id
            if req.parent_id is not None:
                if req.parent_id == row.id:
                    raise InvalidInput("a task cannot be its own parent")
                row.parent_id = get_task_row(s, req.parent_id).id
            row.updated_at = utcnow()
            return task_out(row, *_names(s, row))

    def set_status(self, task_id: str, req: StatusChange, who: Principal) -> TaskOut:
        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            current = TaskStatus(row.status)
            if not (req.force and who.is_admin and current != TaskStatus.published):
                check_move(current, req.status)
            if req.status == TaskStatus.queued and current != TaskStatus.queued:
                raise Conflict(f"a task cannot go from {current} to queued by a status change: "
                               "enqueue it (POST /tasks/{id}/enqueue), which names its queue")
            if current == TaskStatus.queued and req.status != TaskStatus.queued:
                # out of its queue by any path, or its entry would be handed out later (and
                # block the next enqueue)
                s.execute(delete(QueueEntryRow).where(QueueEntryRow.task_id == task_id))
                row.queue_id = None
            now = utcnow()
            if req.status == TaskStatus.in_progress and row.started_at is None:
                row.started_at = now
            if req.status in (TaskStatus.completed, TaskStatus.failed, TaskStatus.stopped):
                row.completed_at = now
            if req.status == TaskStatus.created:
                row.started_at = row.completed_at = None
            row.status = req.status.value
            row.status_message = req.message
            row.updated_at = now
            return task_out(row, *_names(s, row))

    def set_archived(self, task_id: str, archived: bool, who: Principal) -> TaskOut:
        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            row.archived = archived
            row.updated_at = utcnow()
            return task_out(row, *_names(s, row))

    def delete(self, task_id: str, who: Principal, *, force: bool = False) -> list[str]:
        """Delete a task and its records; returns the blob hashes it referenced."""
        from arno.db.models import ArtifactRow, DatasetVersionRow, DebugSampleRow

        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            if row.status == TaskStatus.in_progress and not force:
                raise Conflict("task is running; stop it first or pass force")
            if row.status == TaskStatus.published and not force:
                raise Immutable("task is published; pass force to delete it")
            if s.get(DatasetVersionRow, task_id) is not None:
                raise Conflict(f"task {task_id} is a dataset version; delete it as a dataset "
                               "(`arno data delete`), which checks what depends on it")
            hashes = [
                h
                for h in s.scalars(select(ArtifactRow.hash).where(ArtifactRow.task_id == task_id))
                if h
            ] + [
                h
                for h in s.scalars(
                    select(DebugSampleRow.hash).where(DebugSampleRow.task_id == task_id)
                )
                if h
            ]
            s.delete(row)
            return hashes

    # ---- inputs ------------------------------------------------------------------------------
    def get_params(self, task_id: str) -> list[HyperParam]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            return self._params(s, task_id)

    def set_params(
        self, task_id: str, params: list[HyperParam], who: Principal, *, replace: bool = False
    ) -> list[HyperParam]:
        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            check_editable(row)
            if replace:
                s.execute(delete(HyperParamRow).where(HyperParamRow.task_id == task_id))
                s.flush()
            _write_params(s, task_id, params)
            row.updated_at = utcnow()
            s.flush()
            return self._params(s, task_id)

    def delete_params(self, task_id: str, keys: list[str], who: Principal) -> None:
        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            check_editable(row)
            for key in keys:
                section, _, name = key.partition("/")
                s.execute(
                    delete(HyperParamRow).where(
                        HyperParamRow.task_id == task_id,
                        HyperParamRow.section == section,
                        HyperParamRow.name == name,
                    )
                )

    def get_configs(self, task_id: str) -> list[ConfigurationItem]:
        with self.db.read() as s:
            get_task_row(s, task_id)
            return self._configs(s, task_id)

    def set_configs(
        self, task_id: str, items: list[ConfigurationItem], who: Principal
    ) -> list[ConfigurationItem]:
        with self.db.write() as s:
            row = get_task_row(s, task_id)
            who.require_task_owner(row)
            check_editable(row)
            _write_configs(s, task_id, items)
            row.updated_at = utcnow()
            s.flush()
            return self._configs(s, task_id)

    def clone(self, task_id: str, req: CloneRequest, who: Principal) -> TaskOut:
        """A new draft with the source's inputs; outputs (metrics, artifacts) stay behind."""
        return self.creator.clone(task_id, req, who)


def flat_params(params: list[HyperParam]) -> dict[str, Any]:
    return {f"{p.section}/{p.name}": p.value for p in params}
