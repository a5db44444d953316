"""Creating many tasks in one request (``POST /api/v1/tasks/batch``): HPO trials, pipeline
steps, sweeps. Each item is the body of ``POST /api/v1/tasks``, or a clone of another task with
the item's own fields on top."""

from __future__ import annotations

from pydantic import Field, model_validator

from arno.core.limits import Id
from arno.core.schemas import TaskCreate, TaskOut, _Model

MAX_BATCH_TASKS = 1000
"""Tasks in one batch."""
MAX_BATCH_INPUTS = 200_000
"""Parameters and configuration items written by one batch, those a clone inherits included
(a base with many parameters cloned a thousand times is as much work as sending them)."""


class TaskBatchItem(TaskCreate):
    """One task of a batch. Without ``clone_of`` it is exactly the body of ``POST /tasks``.

    With ``clone_of`` it is a clone of that task, as ``POST /tasks/{id}/clone`` makes one (its
    script, type, project, tags, comment, user properties, parameters and configuration; the
    source as parent; the name with " (clone)"), and the fields given in the item are applied
    on top: ``name``, ``project``, ``type``, ``status``, ``comment``, ``parent_id`` and
    ``script`` replace the source's, ``tags`` replace its tags, ``hyperparams`` and
    ``configurations`` override its values key by key (section/name, name) and add new keys,
    ``user_properties`` are merged into its (as ``PATCH /tasks/{id}`` does) and ``runtime`` is
    the item's (a clone starts with none, as the clone route makes it)."""

    project: str | None = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=512)
    """Required unless ``clone_of`` is given (a clone stays in its source's project)."""
    name: str | None = Field(  # type: ignore[assignment]
        default=None, min_length=1, max_length=512)
    """Required unless ``clone_of`` is given."""
    clone_of: Id | None = None
    """Id of the task this one is a clone of."""

    @model_validator(mode="after")
    def _project_and_name(self) -> TaskBatchItem:
        if self.clone_of is None:
            missing = [f for f in ("project", "name") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"{' and '.join(missing)} required unless clone_of is given")
        return self


class TaskBatchCreate(_Model):
    tasks: list[TaskBatchItem] = Field(min_length=1, max_length=MAX_BATCH_TASKS)


class TaskBatchOut(_Model):
    tasks: list[TaskOut]
    """The created tasks, in the order of the request."""
