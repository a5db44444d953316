"""Handing out a task on PostgreSQL in one statement.

An agent asking for work costs one round trip per queue it serves: the statement takes the
entry, leases its task, records it on the worker and reads back what the agent needs to start
it (the task, its parameters and configuration). The statement runs on its own (no
surrounding transaction): it is atomic by itself, ``SKIP LOCKED`` keeps competing agents from
waiting on each other, and an entry whose task is no longer queued is dropped on the way.

Lock order matches the rest of the queue code: the entry, then its task, then the worker row;
a heartbeat locks the worker and then only tasks the agent already holds, so the two never
wait on each other in a cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, text

from arno.core.errors import NotFound
from arno.core.schemas import ConfigurationItem, DequeueReply, HyperParam, TaskDetail
from arno.services.tasks import task_out

_POP = text("""
WITH entry AS (
    DELETE FROM queue_entries WHERE id = (
        SELECT e.id FROM queue_entries e
        WHERE e.queue_id = (SELECT id FROM queues WHERE name = :queue)
          AND EXISTS (SELECT 1 FROM workers WHERE id = :w)
        ORDER BY e.priority DESC, e.id
        LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING task_id, queue_id
), leased AS (
    UPDATE tasks SET status = 'in_progress', status_message = :msg, worker_id = :w,
        lease_expires_at = :lease, attempt = COALESCE(attempt, 0) + 1, started_at = :now,
        completed_at = NULL, updated_at = :now
    FROM entry WHERE tasks.id = entry.task_id AND tasks.status = 'queued'
    RETURNING tasks.*
), worker AS (
    UPDATE workers SET last_seen_at = :now,
        task_ids = (COALESCE(task_ids::jsonb, '[]'::jsonb)
                    || COALESCE((SELECT jsonb_agg(id) FROM leased), '[]'::jsonb))::json
    WHERE id = :w RETURNING id
)
SELECT leased.*, (SELECT count(*) FROM worker) AS worker_found,
       (SELECT task_id FROM entry) AS entry_task_id, q.name AS queue_name,
       p.name AS project_name, u.username AS owner_name,
       (SELECT json_agg(json_build_array(h.section, h.name, h.value, h.type, h.description)
                        ORDER BY h.section, h.name)
        FROM hyperparams h WHERE h.task_id = leased.id) AS params_json,
       (SELECT json_agg(json_build_array(c.name, c.type, c.value, c.description)
                        ORDER BY c.name)
        FROM configurations c WHERE c.task_id = leased.id) AS configs_json
FROM (SELECT 1) AS one
LEFT JOIN leased ON true
LEFT JOIN queues q ON q.id = (SELECT queue_id FROM entry)
LEFT JOIN projects p ON p.id = leased.project_id
LEFT JOIN users u ON u.id = leased.owner_id
""")

def _pop_one(conn: Connection, params: dict[str, Any]) -> Row[Any] | None:
    for _ in range(100):  # entries whose task left the queue meanwhile are dropped: go on
        row = conn.execute(_POP, params).one()
        if not row.worker_found:
            raise NotFound(f"no worker {params['w']!r}; register it first")
        if row.entry_task_id is None:
            return None
        if row.id is not None:
            return row
    return None


def pop(conn: Connection, worker_id: str, queues: list[str], *, now: datetime,
        lease: datetime, lease_seconds: float) -> DequeueReply | None:
    """Lease the next task of the first listed queue with one to ``worker_id`` (``conn`` in
    autocommit mode); None when every queue is empty. Each queue costs one statement, an
    index probe in hand-out order."""
    row = None
    for queue in queues:  # in the worker's order of preference
        row = _pop_one(conn, {"queue": queue, "w": worker_id, "now": now, "lease": lease,
                              "msg": f"running on {worker_id}"})
        if row is not None:
            break
    if row is None:
        return None
    params_out = [HyperParam(section=sec, name=name, value=value, type=type_, description=desc)
                  for sec, name, value, type_, desc in row.params_json or []]
    configs = [ConfigurationItem(name=name, type=type_, value=value, description=desc)
               for name, type_, value, desc in row.configs_json or []]
    base = task_out(row, row.project_name or "", row.owner_name)  # type: ignore[arg-type]
    detail = TaskDetail(**base.model_dump(), hyperparams=params_out, configurations=configs,
                        metrics=[])
    return DequeueReply(task=detail, queue=row.queue_name, lease_seconds=lease_seconds)
