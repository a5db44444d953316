"""The SQL of creating tasks: what a new task is built from (the tasks it clones, the parents it
names) read in a few set queries, and new tasks with their tags, parameters and configuration
written as one multi-row insert per table, however many tasks there are.

Core statements on the tables, not ORM objects: a unit-of-work flush per row (and the update
it would add for a column changed after the flush) costs more than the insert itself.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from arno.db.models import ConfigurationRow, HyperParamRow, ProjectRow, TaskRow, TaskTagRow

_TASKS = TaskRow.__table__
_TAGS = TaskTagRow.__table__
_PARAMS = HyperParamRow.__table__
_CONFIGS = ConfigurationRow.__table__


@dataclass
class CloneSource:
    """What a clone takes from its source task."""

    id: str
    name: str
    type: str
    comment: str
    project_id: str
    project: str
    tags: list[str]
    script: dict[str, Any]
    user_properties: dict[str, Any]
    params: list[dict[str, Any]] = field(default_factory=list)
    """Rows of the hyperparams table (section, name, value, type, description)."""
    configs: list[dict[str, Any]] = field(default_factory=list)
    """Rows of the configurations table (name, type, value, description)."""


def existing_task_ids(s: Session, ids: Collection[str]) -> set[str]:
    """Those of ``ids`` that name a task."""
    if not ids:
        return set()
    return set(s.scalars(select(TaskRow.id).where(TaskRow.id.in_(list(ids)))))


def clone_sources(s: Session, ids: Collection[str]) -> dict[str, CloneSource]:
    """The tasks of ``ids`` that exist, with their inputs: three queries for any number."""
    if not ids:
        return {}
    wanted = list(ids)
    found = {
        r.id: CloneSource(
            id=r.id, name=r.name, type=r.type, comment=r.comment or "",
            project_id=r.project_id, project=r.project, tags=list(r.tags or []),
            script=dict(r.script or {}), user_properties=dict(r.user_properties or {}),
        )
        for r in s.execute(
            select(TaskRow.id, TaskRow.name, TaskRow.type, TaskRow.comment, TaskRow.project_id,
                   ProjectRow.name.label("project"), TaskRow.tags, TaskRow.script,
                   TaskRow.user_properties)
            .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
            .where(TaskRow.id.in_(wanted))
        )
    }
    if found:
        for p in s.execute(select(_PARAMS).where(_PARAMS.c.task_id.in_(list(found)))
                           .order_by(_PARAMS.c.section, _PARAMS.c.name)).mappings():
            found[p["task_id"]].params.append(dict(p))
        for c in s.execute(select(_CONFIGS).where(_CONFIGS.c.task_id.in_(list(found)))
                           .order_by(_CONFIGS.c.name)).mappings():
            found[c["task_id"]].configs.append(dict(c))
    return found


def insert_tasks(s: Session, tasks: Sequence[dict[str, Any]], tags: Sequence[dict[str, Any]],
                 params: Sequence[dict[str, Any]], configs: Sequence[dict[str, Any]]) -> None:
    """Insert task rows (every column of ``tasks`` given, the same keys in each) and their
    tag, parameter and configuration rows: one executemany per table."""
    for table, rows in ((_TASKS, tasks), (_TAGS, tags), (_PARAMS, params), (_CONFIGS, configs)):
        if rows:
            s.execute(insert(table), list(rows))
