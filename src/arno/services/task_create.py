"""Creating tasks: one (``POST /tasks``), a clone (``POST /tasks/{id}/clone``) or many in one
transaction (``POST /tasks/batch``: HPO trials, pipeline steps), all by the same path.

Every item is checked before anything is written (its status, the task it clones, its parent,
its project's name); then all the tasks, tags, parameters and configuration items go into the
database as one multi-row insert per table (``db.task_inserts``), and the replies are built from
the values written, not read back. A batch is one transaction: one bad item, nothing written.

The tasks of a batch get creation times one microsecond apart in request order, so a listing
sorted by creation time shows them in the order they were asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from arno.core.errors import ArnoError, InvalidInput, NotFound
from arno.core.ids import is_id, new_id, utcnow
from arno.core.schemas import CloneRequest, TaskCreate, TaskOut
from arno.core.schemas_batch import MAX_BATCH_INPUTS, TaskBatchItem
from arno.core.status import TaskStatus
from arno.db.engine import Database
from arno.db.task_inserts import CloneSource, clone_sources, existing_task_ids, insert_tasks
from arno.services.principal import Principal
from arno.services.projects import ensure_project

_QUEUED = "a task is queued by POST /tasks/{id}/enqueue, not created so"
_TICK = timedelta(microseconds=1)


class _Where:
    """Names the failing item in a batch's errors ("tasks[3].clone_of: ..." with the index and
    field in the details); a single create or clone keeps the plain message."""

    def __init__(self, batch: bool) -> None:
        self.batch = batch

    def error(self, cls: type[ArnoError], index: int, field: str, message: str) -> ArnoError:
        if not self.batch:
            return cls(message)
        return cls(f"tasks[{index}].{field}: {message}", details={"index": index, "field": field})


def _clone_name(src: CloneSource) -> str:
    return f"{src.name[:504]} (clone)"  # within the column's 512


class TaskCreator:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, req: TaskCreate, who: Principal) -> TaskOut:
        return self._create([req], who, _Where(batch=False))[0]

    def clone(self, task_id: str, req: CloneRequest, who: Principal) -> TaskOut:
        """A new draft with the source's inputs; outputs (metrics, artifacts) stay behind."""
        if not is_id(task_id):
            raise NotFound(f"no task {task_id!r}")
        item = TaskBatchItem.model_validate({"clone_of": task_id,
                                             **req.model_dump(exclude_none=True)})
        return self._create([item], who, _Where(batch=False))[0]

    def create_many(self, items: Sequence[TaskBatchItem], who: Principal) -> list[TaskOut]:
        return self._create(items, who, _Where(batch=True))

    def _create(self, items: Sequence[TaskCreate], who: Principal, where: _Where
                ) -> list[TaskOut]:
        for i, item in enumerate(items):
            if item.status == TaskStatus.queued:
                raise where.error(InvalidInput, i, "status", _QUEUED)
        with self.db.write() as s:
            sources = self._sources(s, items, where)
            self._check_parents(s, items, where)
            projects = self._projects(s, items, who, where)
            now = utcnow()
            tasks: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            params: list[dict[str, Any]] = []
            configs: list[dict[str, Any]] = []
            outs = []
            for i, item in enumerate(items):
                clone_of = getattr(item, "clone_of", None)
                src = sources[clone_of] if clone_of else None
                row, project, item_tags, item_params, item_configs = _plan(
                    item, src, projects, who, now + i * _TICK)
                tasks.append(row)
                tags += ({"task_id": row["id"], "tag": t} for t in item_tags)
                params += item_params
                configs += item_configs
                outs.append((row, project))
                if len(params) + len(configs) > MAX_BATCH_INPUTS:
                    raise where.error(InvalidInput, i, "hyperparams",
                                      f"the batch writes over {MAX_BATCH_INPUTS} parameters and "
                                      "configuration items; send it in smaller batches")
            insert_tasks(s, tasks, tags, params, configs)
        return [_out(row, project, who.username) for row, project in outs]

    @staticmethod
    def _sources(s: Session, items: Sequence[TaskCreate], where: _Where
                 ) -> dict[str, CloneSource]:
        wanted = {c for it in items if (c := getattr(it, "clone_of", None))}
        found = clone_sources(s, [c for c in wanted if is_id(c)])
        for i, item in enumerate(items):
            clone_of = getattr(item, "clone_of", None)
            if clone_of and clone_of not in found:
                # reading is open to every user, so cloning too: any task found may be cloned
                raise where.error(NotFound, i, "clone_of", f"no task {clone_of!r}")
        return found

    @staticmethod
    def _check_parents(s: Session, items: Sequence[TaskCreate], where: _Where) -> None:
        wanted = {it.parent_id for it in items if it.parent_id is not None}
        found = existing_task_ids(s, [p for p in wanted if is_id(p)])
        for i, item in enumerate(items):
            if item.parent_id is not None and item.parent_id not in found:
                raise where.error(NotFound, i, "parent_id", f"no task {item.parent_id!r}")

    @staticmethod
    def _projects(s: Session, items: Sequence[TaskCreate], who: Principal, where: _Where
                  ) -> dict[str, tuple[str, str]]:
        """Project name as given -> (id, name), creating missing ones (a clone without a
        project of its own is filed under its source's)."""
        projects: dict[str, tuple[str, str]] = {}
        for i, item in enumerate(items):
            if item.project is None or item.project in projects:
                continue
            try:
                row = ensure_project(s, item.project, who.user_id)
            except InvalidInput as exc:
                raise where.error(InvalidInput, i, "project", exc.message) from None
            projects[item.project] = (row.id, row.name)
        return projects


def _plan(item: TaskCreate, src: CloneSource | None, projects: dict[str, tuple[str, str]],
          who: Principal, now: datetime
          ) -> tuple[dict[str, Any], str, list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of one new task: (task row, project name, tags, parameter rows, configuration
    rows)."""
    given = item.model_fields_set
    task_id = new_id()
    script = item.script.model_dump(exclude_none=True) if item.script else {}
    if src is None:
        project_id, project = projects[item.project]  # type: ignore[index]
        name, type_, comment, parent_id = item.name, item.type.value, item.comment, item.parent_id
        tags, user_properties, runtime = list(item.tags), item.user_properties, item.runtime
        params: dict[tuple[str, str], dict[str, Any]] = {}
        configs: dict[str, dict[str, Any]] = {}
    else:
        project_id, project = (projects[item.project] if item.project
                               else (src.project_id, src.project))
        name = item.name or _clone_name(src)
        type_ = item.type.value if "type" in given else src.type
        comment = item.comment if "comment" in given else src.comment
        parent_id = item.parent_id or src.id
        tags = list(item.tags) if "tags" in given else list(src.tags)
        if "script" not in given:
            script = dict(src.script)
        user_properties = {**src.user_properties, **item.user_properties}
        runtime = dict(item.runtime)
        params = {(p["section"], p["name"]): {**p, "task_id": task_id} for p in src.params}
        configs = {c["name"]: {**c, "task_id": task_id} for c in src.configs}
    for p in item.hyperparams:  # the last of a key wins
        params[(p.section, p.name)] = {"task_id": task_id, "section": p.section, "name": p.name,
                                       "value": p.value, "type": p.type,
                                       "description": p.description}
    for c in item.configurations:
        configs[c.name] = {"task_id": task_id, "name": c.name, "type": c.type, "value": c.value,
                           "description": c.description}
    row = {
        "id": task_id, "project_id": project_id, "name": name, "type": type_,
        "status": item.status.value, "status_message": "", "tags": tags, "comment": comment,
        "archived": False, "parent_id": parent_id, "owner_id": who.user_id,
        "created_by_task_id": who.run_task_id, "created_at": now, "updated_at": now,
        "started_at": now if item.status == TaskStatus.in_progress else None,
        "completed_at": None, "last_iteration": None, "script": script,
        "user_properties": user_properties, "runtime": runtime,
    }
    return row, project, tags, list(params.values()), list(configs.values())


def _out(row: dict[str, Any], project: str, owner: str | None) -> TaskOut:
    return TaskOut(project=project, owner=owner, status=TaskStatus(row["status"]),
                   **{k: v for k, v in row.items() if k != "status"})
