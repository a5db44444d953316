"""Queues, workers and leases: a queued task goes to exactly one worker, which holds a lease
on it renewed by heartbeats; a task whose lease lapses is failed ("worker lost") or queued
again when it has retries left.

Dequeue is atomic: on SQLite every write transaction holds the database lock from its start
(``BEGIN IMMEDIATE``); on PostgreSQL the entry is taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from arno.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from arno.core.ids import as_utc, is_id, utcnow
from arno.core.schemas import DequeueReply, QueueEntryOut, QueueOut, WorkerOut, WorkerRegister
from arno.core.status import TaskStatus
from arno.db.engine import Database
from arno.db.models import ProjectRow, QueueEntryRow, QueueRow, TaskRow, UserRow, WorkerRow
from arno.db.notify import notify
from arno.services import queue_pop_pg, run_credentials
from arno.services.principal import Principal
from arno.services.tasks import get_task_row, task_detail

SYSTEM_QUEUES = ("default", "services")
WORKER_LOST = "worker lost: its lease expired"
OWNER_CACHE_SECONDS = 30.0
"""How long a worker's owner is remembered without a database read (a worker's owner only
changes when it is forgotten and registered again by someone else)."""



def find_queue(s: Session, ref: str) -> QueueRow:
    row = s.get(QueueRow, ref) if is_id(ref) else None
    if row is None:
        row = s.scalar(select(QueueRow).where(QueueRow.name == ref))
    if row is None:
        raise NotFound(f"no queue {ref!r}")
    return row


class QueueService:
    def __init__(self, db: Database, *, lease_seconds: float = 60.0,
                 worker_timeout: float = 120.0) -> None:
        self.db = db
        self.lease_seconds = lease_seconds
        self.worker_timeout = worker_timeout
        self._listeners: list[Callable[[], object]] = []
        self._listeners_lock = threading.Lock()
        self._owners: dict[str, tuple[str | None, float]] = {}  # worker id -> (user, until)

    # ---- wake-ups for long-polling workers ---------------------------------------------------
    def subscribe(self, callback: Callable[[], object]) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if callback in self._listeners:
                    self._listeners.remove(callback)

        return unsubscribe

    def wake(self) -> None:
        """Wake every long-polling worker of this process (after a task was queued here, or
        on notice from another server process)."""
        with self._listeners_lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback()

    # ---- queues ------------------------------------------------------------------------------
    def ensure_system_queues(self) -> None:
        with self.db.write() as s:
            for name in SYSTEM_QUEUES:
                if s.scalar(select(QueueRow).where(QueueRow.name == name)) is None:
                    s.add(QueueRow(name=name, system=True, created_at=utcnow()))

    def create(self, name: str, who: Principal) -> QueueOut:
        who.require_admin()
        with self.db.write() as s:
            if s.scalar(select(QueueRow).where(QueueRow.name == name)) is not None:
                raise Conflict(f"queue {name!r} already exists")
            row = QueueRow(name=name, created_at=utcnow())
            s.add(row)
            s.flush()
            return self._out(s, row)

    def list(self) -> list[QueueOut]:
        with self.db.read() as s:
            return [self._out(s, q) for q in s.scalars(select(QueueRow).order_by(QueueRow.name))]

    def get(self, ref: str) -> QueueOut:
        with self.db.read() as s:
            return self._out(s, find_queue(s, ref))

    def delete(self, ref: str, who: Principal, *, force: bool = False) -> None:
        who.require_admin()
        with self.db.write() as s:
            row = find_queue(s, ref)
            if row.system:
                raise Conflict(f"queue {row.name!r} is built in and cannot be deleted")
            waiting = s.scalar(select(func.count()).where(QueueEntryRow.queue_id == row.id)) or 0
            if waiting and not force:
                raise Conflict(f"queue {row.name!r} has {waiting} waiting task(s); pass force")
            for entry in s.scalars(select(QueueEntryRow).where(QueueEntryRow.queue_id == row.id)):
                task = s.get(TaskRow, entry.task_id)
                if task is not None:
                    task.status = TaskStatus.created.value
                    task.queue_id = None
            s.delete(row)

    def entries(self, ref: str) -> builtins.list[QueueEntryOut]:
        with self.db.read() as s:
            queue = find_queue(s, ref)
            rows = s.execute(
                select(QueueEntryRow, TaskRow.name, ProjectRow.name)
                .join(TaskRow, TaskRow.id == QueueEntryRow.task_id)
                .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
                .where(QueueEntryRow.queue_id == queue.id)
                .order_by(QueueEntryRow.priority.desc(), QueueEntryRow.id)
            ).all()
            return [
                QueueEntryOut(task_id=e.task_id, task_name=tname, project=pname,
                              priority=e.priority, enqueued_at=as_utc(e.enqueued_at),
                              position=i)
                for i, (e, tname, pname) in enumerate(rows)
            ]

    @staticmethod
    def _out(s: Session, row: QueueRow) -> QueueOut:
        length, oldest = s.execute(
            select(func.count(QueueEntryRow.id), func.min(QueueEntryRow.enqueued_at)).where(
                QueueEntryRow.queue_id == row.id
            )
        ).one()
        return QueueOut(id=row.id, name=row.name, system=row.system, length=length,
                        oldest_enqueued_at=as_utc(oldest),
                        created_at=as_utc(row.created_at))

    # ---- tasks in and out of queues ----------------------------------------------------------
    def enqueue(self, task_id: str, queue_ref: str, who: Principal, *, priority: int = 0,
                max_retries: int | None = None) -> str:
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task)
            queue = find_queue(s, queue_ref)
            status = TaskStatus(task.status)
            if status == TaskStatus.queued:
                current = s.get(QueueRow, task.queue_id) if task.queue_id else None
                raise Conflict(f"task is already queued in {current.name if current else '?'!r}")
            if status != TaskStatus.created:
                raise Conflict(f"task is {status}; reset or clone it to run it again")
            task.status = TaskStatus.queued.value
            task.queue_id = queue.id
            task.abort_requested = False
            task.status_message = f"queued in {queue.name}"
            if max_retries is not None:
                task.max_retries = max_retries
            task.updated_at = utcnow()
            # an entry left behind by an older server would break the unique task_id
            s.execute(delete(QueueEntryRow).where(QueueEntryRow.task_id == task.id))
            s.add(QueueEntryRow(queue_id=queue.id, task_id=task.id, priority=priority,
                                enqueued_at=utcnow()))
            name = queue.name
            notify(s, name)
        self.wake()
        return name

    def dequeue_task(self, task_id: str, who: Principal) -> None:
        """Take a queued task out of its queue; it goes back to ``created``."""
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task)
            if task.status != TaskStatus.queued:
                raise Conflict(f"task is {task.status}, not queued")
            s.execute(delete(QueueEntryRow).where(QueueEntryRow.task_id == task_id))
            task.status = TaskStatus.created.value
            task.queue_id = None
            task.status_message = ""
            task.updated_at = utcnow()

    def abort(self, task_id: str, who: Principal, message: str = "aborted") -> str:
        """Stop a task: a queued one leaves its queue, a running one is stopped by its agent."""
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task)
            status = TaskStatus(task.status)
            if status == TaskStatus.queued:
                s.execute(delete(QueueEntryRow).where(QueueEntryRow.task_id == task_id))
                self._finish(task, TaskStatus.stopped, message)
                return "stopped"
            if status == TaskStatus.in_progress:
                if task.worker_id:
                    task.abort_requested = True
                    task.status_message = f"{message} (stopping on {task.worker_id})"
                    return "stopping"
                self._finish(task, TaskStatus.stopped, message)
                run_credentials.revoke(s, task_id)
                return "stopped"
            raise Conflict(f"task is {status}; only queued or running tasks can be aborted")

    @staticmethod
    def _finish(task: TaskRow, status: TaskStatus, message: str) -> None:
        now = utcnow()
        task.status = status.value
        task.status_message = message
        task.completed_at = now
        task.updated_at = now
        task.worker_id = None
        task.lease_expires_at = None
        task.queue_id = None if status != TaskStatus.queued else task.queue_id

    def pop(self, worker_id: str, queues: builtins.list[str], who: Principal | None = None
            ) -> DequeueReply | None:
        """Give the next task of the first non-empty queue to ``worker_id``, leased: the
        task as the agent needs it to start, with the run credential its process reports
        with, or None when every queue is empty. ``who`` (None: the server itself) must own
        the worker."""
        if who is not None:
            self.check_worker_owner(worker_id, who)
        if not self._anything_waiting(queues):
            # a read, no write lock: every long poll woken by an enqueue looks, one takes it
            return None
        now = utcnow()
        lease = now + timedelta(seconds=self.lease_seconds)
        expires = run_credentials.expiry(lease, self.lease_seconds)
        if not self.db.is_sqlite:
            with self.db.autocommit() as conn:
                reply = queue_pop_pg.pop(conn, worker_id, queues, now=now, lease=lease,
                                         lease_seconds=self.lease_seconds)
            if reply is None or reply.task is None:
                return reply
            with self.db.write() as s:
                reply.credential = run_credentials.issue(
                    s, task_id=reply.task.id, worker_id=worker_id,
                    owner_id=reply.task.owner_id, expires_at=expires, now=now)
            return reply
        with self.db.write() as s:
            got = self._take_sqlite(s, worker_id, queues, now, lease)
            if got is None:
                return None
            detail = task_detail(s, got[0], metrics=False)
            credential = run_credentials.issue(s, task_id=detail.id, worker_id=worker_id,
                                               owner_id=detail.owner_id, expires_at=expires,
                                               now=now)
            return DequeueReply(task=detail, queue=got[1], lease_seconds=self.lease_seconds,
                                credential=credential)

    def _anything_waiting(self, queues: builtins.list[str]) -> bool:
        with self.db.read() as s:
            return s.scalar(
                select(QueueEntryRow.id)
                .join(QueueRow, QueueRow.id == QueueEntryRow.queue_id)
                .where(QueueRow.name.in_(queues)).limit(1)) is not None

    @staticmethod
    def _take_sqlite(s: Session, worker_id: str, queues: builtins.list[str], now: datetime,
                     lease: datetime) -> tuple[str, str] | None:
        """Under SQLite's write lock (``BEGIN IMMEDIATE``) nothing else can take the entry."""
        worker = s.get(WorkerRow, worker_id)
        if worker is None:
            raise NotFound(f"no worker {worker_id!r}; register it first")
        worker.last_seen_at = now
        for name in queues:
            queue = s.scalar(select(QueueRow).where(QueueRow.name == name))
            if queue is None:
                continue
            while True:
                entry = s.scalar(
                    select(QueueEntryRow).where(QueueEntryRow.queue_id == queue.id)
                    .order_by(QueueEntryRow.priority.desc(), QueueEntryRow.id).limit(1))
                if entry is None:
                    break
                task = s.get(TaskRow, entry.task_id)
                s.delete(entry)
                s.flush()
                if task is None or task.status != TaskStatus.queued:
                    continue  # left the queue meanwhile: the next entry
                task.status = TaskStatus.in_progress.value
                task.status_message = f"running on {worker_id}"
                task.worker_id = worker_id
                task.lease_expires_at = lease
                task.attempt = (task.attempt or 0) + 1
                task.started_at = now
                task.completed_at = None
                task.updated_at = now
                worker.task_ids = [*(worker.task_ids or []), task.id]
                return task.id, name
        return None

    def done(self, worker_id: str, task_id: str, exit_code: int, message: str,
             who: Principal | None = None) -> TaskStatus:
        """The agent's word on how the process ended; the task's own report wins if final.
        The run's credential stops working."""
        if who is not None:
            self.check_worker_owner(worker_id, who)
        with self.db.write() as s:
            # the worker's row first, as a heartbeat locks it (then its tasks): no deadlock
            worker = s.get(WorkerRow, worker_id, with_for_update=True)
            task = get_task_row(s, task_id)
            if worker is not None:
                worker.task_ids = [t for t in (worker.task_ids or []) if t != task_id]
            if task.worker_id != worker_id:
                return TaskStatus(task.status)
            run_credentials.revoke(s, task_id)
            if task.status == TaskStatus.in_progress:
                if task.abort_requested:
                    self._finish(task, TaskStatus.stopped, message or "aborted")
                elif exit_code == 0:
                    self._finish(task, TaskStatus.completed, message)
                else:
                    self._finish(task, TaskStatus.failed,
                                 message or f"process exited with code {exit_code}")
            else:
                task.worker_id = None
                task.lease_expires_at = None
            return TaskStatus(task.status)

    # ---- workers -----------------------------------------------------------------------------
    def register(self, req: WorkerRegister, who: Principal) -> WorkerOut:
        who.require_personal("register a worker")
        now = utcnow()
        with self.db.write() as s:
            row = s.get(WorkerRow, req.id)
            if row is None:
                row = WorkerRow(id=req.id, registered_at=now, task_ids=[])
                s.add(row)
            elif row.user_id not in (None, who.user_id) and not who.is_admin:
                raise Conflict(f"worker name {req.id!r} is taken by another user")
            row.user_id = who.user_id
            row.host = req.host
            row.queues = list(req.queues)
            row.gpus = list(req.gpus)
            row.info = req.info
            row.last_seen_at = now
            s.flush()
            out = self._worker_out(s, row)
        self._owners.pop(req.id, None)
        return out

    def heartbeat(self, worker_id: str, stats: dict[str, Any], task_ids: builtins.list[str],
                  who: Principal | None = None) -> builtins.list[str]:
        """Renew the worker and the leases of the tasks it runs (and their run credentials);
        return those to stop."""
        if who is not None:
            self.check_worker_owner(worker_id, who)
        now = utcnow()
        abort: list[str] = []
        with self.db.write() as s:
            # locked: the reaper may be forgetting this worker at this very moment
            row = s.get(WorkerRow, worker_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no worker {worker_id!r}; register it first")
            row.last_seen_at = now
            row.stats = stats
            for tid in task_ids:
                task = s.get(TaskRow, tid) if is_id(tid) else None
                if (task is None or task.worker_id != worker_id
                        or task.status != TaskStatus.in_progress or task.abort_requested):
                    abort.append(tid)
                    continue
                task.lease_expires_at = now + timedelta(seconds=self.lease_seconds)
                run_credentials.extend(s, tid, worker_id, run_credentials.expiry(
                    task.lease_expires_at, self.lease_seconds))
            row.task_ids = [t for t in task_ids if t not in abort] + [
                t for t in (row.task_ids or []) if t not in task_ids and _holds(s, t, worker_id)
            ]
        return abort

    def unregister(self, worker_id: str, who: Principal) -> None:
        who.require_personal("unregister a worker")
        with self.db.write() as s:
            row = s.get(WorkerRow, worker_id)
            if row is None:
                raise NotFound(f"no worker {worker_id!r}")
            if row.user_id != who.user_id:
                who.require_admin()
            s.delete(row)
        self._owners.pop(worker_id, None)

    def check_worker_owner(self, worker_id: str, who: Principal) -> None:
        """Only the user who registered a worker (or an admin) may act as it: take tasks,
        renew its leases, report its tasks' ends (403 for anyone else; 404 for no worker)."""
        who.require_personal("act as a worker")
        now = time.monotonic()
        hit = self._owners.get(worker_id)
        if hit is None or hit[1] < now:
            with self.db.read() as s:
                row = s.get(WorkerRow, worker_id)
                if row is None:
                    raise NotFound(f"no worker {worker_id!r}; register it first")
                owner = row.user_id
            if len(self._owners) > 10_000:
                self._owners.clear()
            self._owners[worker_id] = (owner, now + OWNER_CACHE_SECONDS)
        else:
            owner = hit[0]
        if owner != who.user_id and not who.is_admin:
            raise Forbidden(f"worker {worker_id!r} belongs to another user")

    def workers(self) -> builtins.list[WorkerOut]:
        with self.db.read() as s:
            return [self._worker_out(s, w)
                    for w in s.scalars(select(WorkerRow).order_by(WorkerRow.id))]

    @staticmethod
    def _worker_out(s: Session, row: WorkerRow) -> WorkerOut:
        user = s.get(UserRow, row.user_id) if row.user_id else None
        return WorkerOut(
            id=row.id, host=row.host, user=user.username if user else None,
            queues=list(row.queues or []), gpus=[str(g) for g in row.gpus or []],
            info=row.info or {}, stats=row.stats or {}, task_ids=list(row.task_ids or []),
            registered_at=as_utc(row.registered_at),
            last_seen_at=as_utc(row.last_seen_at),
        )

    # ---- the reaper --------------------------------------------------------------------------
    def reap(self) -> dict[str, int]:
        """Fail or requeue tasks whose lease lapsed; forget workers long silent."""
        now = utcnow()
        counts = {"failed": 0, "requeued": 0, "workers": 0}
        requeued = False
        with self.db.write() as s:
            q = select(TaskRow).where(
                TaskRow.status == TaskStatus.in_progress.value,
                TaskRow.lease_expires_at.is_not(None),
                TaskRow.lease_expires_at < now,
            )
            if s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update(skip_locked=True)
            for task in s.scalars(q).all():
                # a live worker's next heartbeat drops the task itself: skip it if busy
                lost_by = (s.get(WorkerRow, task.worker_id, with_for_update={"skip_locked": True})
                           if task.worker_id else None)
                if lost_by is not None:  # it no longer runs there
                    lost_by.task_ids = [t for t in (lost_by.task_ids or []) if t != task.id]
                run_credentials.revoke(s, task.id)
                if (task.attempt or 0) <= (task.max_retries or 0) and task.queue_id:
                    task.status = TaskStatus.queued.value
                    task.status_message = f"{WORKER_LOST}; queued again (attempt {task.attempt})"
                    task.worker_id = None
                    task.lease_expires_at = None
                    task.updated_at = now
                    s.add(QueueEntryRow(queue_id=task.queue_id, task_id=task.id, priority=0,
                                        enqueued_at=now))
                    counts["requeued"] += 1
                    requeued = True
                    notify(s)
                else:
                    self._finish(task, TaskStatus.failed, WORKER_LOST)
                    counts["failed"] += 1
            cutoff = now - timedelta(seconds=self.worker_timeout)
            for worker in s.scalars(select(WorkerRow).where(WorkerRow.last_seen_at < cutoff)):
                s.delete(worker)
                counts["workers"] += 1
        if requeued:
            self.wake()
        return counts


def _holds(s: Session, task_id: str, worker_id: str) -> bool:
    task = s.get(TaskRow, task_id) if is_id(task_id) else None
    return task is not None and task.worker_id == worker_id and task.status == "in_progress"


def check_queue_names(names: list[str]) -> None:
    for name in names:
        if not name or len(name) > 128:
            raise InvalidInput(f"invalid queue name {name!r}")
