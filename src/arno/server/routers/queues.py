"""Queues, workers (agents), and moving tasks in and out of queues."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from arno.core.limits import MAX_TEXT
from arno.core.schemas import (
    DequeueReply,
    DequeueRequest,
    EnqueueRequest,
    Heartbeat,
    HeartbeatReply,
    QueueCreate,
    QueueEntryOut,
    QueueOut,
    TaskDone,
    TaskOut,
    WorkerOut,
    WorkerRegister,
)
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(tags=["queues"])
RECHECK_SECONDS = 5.0
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]


class AbortBody(BaseModel):
    message: str = Field(default="aborted", max_length=MAX_TEXT)


class AbortReply(BaseModel):
    state: str
    """"stopped" at once, or "stopping" while the agent ends the process."""


@router.get("/queues", response_model=list[QueueOut])
def list_queues(svc: Svc, who: Who) -> list[QueueOut]:
    return svc.queues.list()


@router.post("/queues", response_model=QueueOut, status_code=201)
def create_queue(body: QueueCreate, svc: Svc, who: Who) -> QueueOut:
    return svc.queues.create(body.name, who)


@router.get("/queues/{ref}", response_model=QueueOut)
def get_queue(ref: str, svc: Svc, who: Who) -> QueueOut:
    return svc.queues.get(ref)


@router.get("/queues/{ref}/entries", response_model=list[QueueEntryOut])
def queue_entries(ref: str, svc: Svc, who: Who) -> list[QueueEntryOut]:
    return svc.queues.entries(ref)


@router.delete("/queues/{ref}", status_code=204)
def delete_queue(ref: str, svc: Svc, who: Who, force: bool = False) -> Response:
    svc.queues.delete(ref, who, force=force)
    return Response(status_code=204)


@router.post("/tasks/{task_id}/enqueue", response_model=TaskOut)
def enqueue(task_id: str, body: EnqueueRequest, svc: Svc, who: Who) -> TaskOut:
    svc.queues.enqueue(task_id, body.queue, who, priority=body.priority,
                       max_retries=body.max_retries)
    return svc.tasks.get(task_id)


@router.post("/tasks/{task_id}/dequeue", response_model=TaskOut)
def dequeue_task(task_id: str, svc: Svc, who: Who) -> TaskOut:
    svc.queues.dequeue_task(task_id, who)
    return svc.tasks.get(task_id)


@router.post("/tasks/{task_id}/abort", response_model=AbortReply)
def abort(task_id: str, body: AbortBody, svc: Svc, who: Who) -> AbortReply:
    return AbortReply(state=svc.queues.abort(task_id, who, body.message))


@router.get("/workers", response_model=list[WorkerOut])
def list_workers(svc: Svc, who: Who) -> list[WorkerOut]:
    return svc.queues.workers()


@router.post("/workers", response_model=WorkerOut)
def register_worker(body: WorkerRegister, svc: Svc, who: Who) -> WorkerOut:
    return svc.queues.register(body, who)


@router.delete("/workers/{worker_id}", status_code=204)
def unregister_worker(worker_id: str, svc: Svc, who: Who) -> Response:
    svc.queues.unregister(worker_id, who)
    return Response(status_code=204)


@router.post("/workers/{worker_id}/heartbeat", response_model=HeartbeatReply)
def heartbeat(worker_id: str, body: Heartbeat, svc: Svc, who: Who) -> HeartbeatReply:
    abort = svc.queues.heartbeat(worker_id, body.stats, body.task_ids, who)
    return HeartbeatReply(abort=abort, lease_seconds=svc.queues.lease_seconds)


@router.post("/workers/{worker_id}/dequeue", response_model=DequeueReply)
async def dequeue(worker_id: str, body: DequeueRequest, request: Request, who: Who
                  ) -> DequeueReply | Response:
    """Long poll: answers with a leased task as soon as one is queued, or with no task after
    ``wait`` seconds."""
    svc: Services = request.app.state.services
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    unsubscribe = svc.queues.subscribe(lambda: loop.call_soon_threadsafe(wake.set))
    deadline = time.monotonic() + body.wait
    try:
        while True:
            wake.clear()
            got = await run_in_threadpool(svc.queues.pop, worker_id, body.queues, who)
            if got is not None:
                return Response(got.model_dump_json(), media_type="application/json")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or await request.is_disconnected():
                return DequeueReply(task=None, lease_seconds=svc.queues.lease_seconds)
            # woken by an enqueue here or, on PostgreSQL, in another server process; the
            # periodic re-check is only a safety net
            try:
                await asyncio.wait_for(wake.wait(), timeout=min(remaining, RECHECK_SECONDS))
            except TimeoutError:
                pass
    finally:
        unsubscribe()


@router.post("/workers/{worker_id}/tasks/{task_id}/done", response_model=TaskOut)
def task_done(worker_id: str, task_id: str, body: TaskDone, svc: Svc, who: Who) -> TaskOut:
    svc.queues.done(worker_id, task_id, body.exit_code, body.message, who)
    return svc.tasks.get(task_id)
