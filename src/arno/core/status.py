"""Task status: one enum shared by server, client and UI, with the allowed moves."""

from __future__ import annotations

from enum import StrEnum

from arno.core.errors import Conflict


class TaskStatus(StrEnum):
    created = "created"
    queued = "queued"
    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"
    stopped = "stopped"
    published = "published"


class TaskType(StrEnum):
    training = "training"
    testing = "testing"
    inference = "inference"
    data_processing = "data_processing"
    application = "application"
    monitor = "monitor"
    controller = "controller"
    optimizer = "optimizer"
    service = "service"
    qc = "qc"
    custom = "custom"


S = TaskStatus
ALLOWED_MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.created: frozenset({S.queued, S.in_progress, S.stopped, S.failed, S.completed}),
    S.queued: frozenset({S.in_progress, S.created, S.stopped, S.failed}),
    S.in_progress: frozenset({S.completed, S.failed, S.stopped}),
    S.completed: frozenset({S.published, S.created}),
    S.failed: frozenset({S.created, S.completed}),
    S.stopped: frozenset({S.created, S.completed, S.failed}),
    S.published: frozenset(),
}
"""``created`` from a final state is a reset; a published task never changes again."""

EDITABLE: frozenset[TaskStatus] = frozenset({S.created, S.queued, S.in_progress})
"""States in which a task's inputs (parameters, configuration, script) may change."""

FINAL: frozenset[TaskStatus] = frozenset({S.completed, S.failed, S.stopped, S.published})


def check_move(current: TaskStatus, new: TaskStatus) -> None:
    if new == current:
        return
    if new not in ALLOWED_MOVES[current]:
        raise Conflict(f"a task cannot go from {current} to {new}")
