"""Reported events of a task: batched ingest and reads."""

from __future__ import annotations

from typing import Annotated, Any

import pydantic_core
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from arno.core.errors import Immutable
from arno.core.limits import INT64_MAX, INT64_MIN
from arno.core.schemas import (
    BatchResult,
    ConsoleLineOut,
    DebugSampleOut,
    EventBatch,
    PlotOut,
    SingleValueOut,
)
from arno.core.status import TaskStatus
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(tags=["events"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its nested models written in place (no ``$ref``), for a
    request body FastAPI documents but does not parse itself."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.rsplit("/", 1)[1]])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


_BATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _inline_schema(EventBatch)}}}}


@router.post("/tasks/{task_id}/events", response_model=BatchResult, openapi_extra=_BATCH_BODY)
async def ingest(task_id: str, request: Request, svc: Svc, who: Who) -> BatchResult:
    """Store one batch of events (an ``EventBatch``). Sending the same ``batch_id`` again
    stores nothing twice."""
    raw = await request.body()
    return await run_in_threadpool(_ingest, svc, task_id, raw, who)


def _ingest(svc: Services, task_id: str, raw: bytes, who: Principal) -> BatchResult:
    # pydantic parses and validates the JSON in one pass: several times faster than
    # json.loads and then validating, which counts on batches of 100k points
    try:
        batch = EventBatch.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError([
            {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_url=False)
        ]) from None
    return svc.events.ingest(task_id, batch, who=who)


@router.post("/tasks/{task_id}/events/reset", status_code=204)
def reset_events(task_id: str, svc: Svc, who: Who) -> Response:
    """Forget everything the task reported (before it runs again)."""
    task = svc.tasks.get(task_id)
    who.require_task_owner(task)
    if task.status != TaskStatus.created:
        raise Immutable(f"task is {task.status}; reset it to a draft first")
    svc.events.reset_outputs(task_id)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/scalars")
def scalars(
    task_id: str,
    svc: Svc,
    who: Who,
    metric: str | None = None,
    variant: str | None = None,
    max_points: Annotated[int | None, Query(ge=0, le=INT64_MAX)] = None,
    timestamps: bool = False,
) -> Response:
    """Every series of the task (or one), ``x`` iterations and ``y`` values; with ``max_points``
    long series are reduced keeping each bucket's min and max."""
    series = svc.events.scalars(
        task_id, metric=metric, variant=variant, max_points=max_points, with_timestamps=timestamps
    )
    payload = [s.__dict__ if not hasattr(s, "model_dump") else s.model_dump() for s in series]
    # pydantic's encoder writes the same JSON as json.dumps, several times faster on long series
    return Response(pydantic_core.to_json(payload), media_type="application/json")


@router.get("/tasks/{task_id}/single_values", response_model=list[SingleValueOut])
def single_values(task_id: str, svc: Svc, who: Who) -> list[SingleValueOut]:
    return svc.events.single_values(task_id)


@router.get("/tasks/{task_id}/plots", response_model=list[PlotOut])
def plots(task_id: str, svc: Svc, who: Who, metric: str | None = None) -> list[PlotOut]:
    return svc.events.plots(task_id, metric=metric)


@router.get("/tasks/{task_id}/debug_samples", response_model=list[DebugSampleOut])
def debug_samples(
    task_id: str, svc: Svc, who: Who, metric: str | None = None,
    iteration: Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)] = None,
) -> list[DebugSampleOut]:
    return svc.events.debug_samples(task_id, metric=metric, iteration=iteration)


@router.get("/tasks/{task_id}/console", response_model=list[ConsoleLineOut])
def console(
    task_id: str,
    svc: Svc,
    who: Who,
    after: Annotated[int, Query(ge=INT64_MIN, le=INT64_MAX)] = 0,
    limit: Annotated[int, Query(ge=0, le=INT64_MAX)] = 1000,
    tail: bool = False,
    search: str | None = None,
) -> list[ConsoleLineOut]:
    """Console lines in order; ``after`` is the last line id seen (for following a live run),
    ``tail`` returns the last ``limit`` lines."""
    return svc.events.console(task_id, after=after, limit=limit, tail=tail, search=search)
