"""Who is calling, and what they may do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from arno.core.errors import Forbidden


class TaskLike(Protocol):
    """What the ownership rule reads of a task (an ORM row or an API model)."""

    @property
    def id(self) -> str: ...
    @property
    def owner_id(self) -> str | None: ...
    @property
    def created_by_task_id(self) -> str | None: ...


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    role: str
    key_id: str | None = None
    run_task_id: str | None = None
    """Set for a task run's credential: the owner's rights on their own things, never an
    admin's, and no managing of keys, users or workers."""

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and self.run_task_id is None

    def require_personal(self, what: str) -> None:
        """Refuse what only a person's own credential may do (a task's run cannot)."""
        if self.run_task_id is not None:
            raise Forbidden(f"a task's run credential cannot {what}")

    def require_admin(self) -> None:
        if self.run_task_id is not None:
            raise Forbidden("a task's run credential has no admin rights")
        if not self.is_admin:
            raise Forbidden("only an admin may do this")

    def require_task_owner(self, task: TaskLike, what: str = "this task") -> None:
        """Refuse (403) a change to ``task`` by anyone but its owner or an admin. A task run's
        credential may change only its own task and the tasks and dataset versions it
        created."""
        if self.run_task_id is not None and self.run_task_id not in (
                task.id, task.created_by_task_id):
            raise Forbidden(f"a task's run may change only its own task and what it created, "
                            f"not {what}")
        if not self.is_admin and task.owner_id != self.user_id:
            raise Forbidden(f"only the owner of {what} or an admin may change it")
