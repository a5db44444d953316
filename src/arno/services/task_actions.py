"""Actions the web UI offers on tasks that take more than one service call: reset a task to a
draft, and the same change applied to many selected tasks."""

from __future__ import annotations

from dataclasses import dataclass, field

from arno.core.errors import ArnoError, Conflict, InvalidInput
from arno.core.schemas import StatusChange, TaskUpdate
from arno.core.status import TaskStatus
from arno.services.events import EventService
from arno.services.principal import Principal
from arno.services.queues import QueueService
from arno.services.tasks import TaskService

BULK_ACTIONS = ("archive", "unarchive", "delete", "tag", "untag")


@dataclass
class BulkResult:
    done: int = 0
    errors: list[str] = field(default_factory=list)


class TaskActions:
    def __init__(self, tasks: TaskService, events: EventService, queues: QueueService) -> None:
        self.tasks = tasks
        self.events = events
        self.queues = queues

    def reset(self, task_id: str, who: Principal) -> None:
        """Back to ``created`` with its reported outputs cleared, ready to run again."""
        task = self.tasks.get(task_id)
        who.require_task_owner(task)
        if task.status == TaskStatus.in_progress:
            raise Conflict("task is running; abort it first")
        if task.status == TaskStatus.queued:
            self.queues.dequeue_task(task_id, who)
        elif task.status != TaskStatus.created:
            self.tasks.set_status(task_id, StatusChange(status=TaskStatus.created,
                                                        message="reset"), who)
        self.events.reset_outputs(task_id)

    def bulk(self, ids: list[str], action: str, who: Principal, tag: str = "") -> BulkResult:
        if action not in BULK_ACTIONS:
            raise InvalidInput(f"unknown action {action!r}")
        tag = tag.strip()
        if action in ("tag", "untag") and not tag:
            raise InvalidInput("give a tag")
        for task_id in ids:  # all or nothing as far as rights go: 403 before any change
            who.require_task_owner(self.tasks.get(task_id), f"task {task_id}")
        result = BulkResult()
        for task_id in ids:
            try:
                if action in ("archive", "unarchive"):
                    self.tasks.set_archived(task_id, action == "archive", who)
                elif action == "delete":
                    self.tasks.delete(task_id, who)
                else:
                    current = self.tasks.get(task_id)
                    tags = [t for t in current.tags if t != tag]
                    if action == "tag":
                        tags.append(tag)
                    self.tasks.update(task_id, TaskUpdate(tags=tags), who)
                result.done += 1
            except ArnoError as exc:
                result.errors.append(f"{task_id}: {exc.message}")
        return result
