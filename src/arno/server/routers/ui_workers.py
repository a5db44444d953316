"""Workers (agents) with their stats and current tasks, and queues with their waiting tasks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from arno.core.errors import ArnoError
from arno.server.deps import current_principal, get_services
from arno.server.ui.render import render
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)


@router.get("/workers", response_class=HTMLResponse)
def workers_page(
    request: Request,
    svc: Annotated[Services, Depends(get_services)],
    who: Annotated[Principal, Depends(current_principal)],
) -> HTMLResponse:
    workers = svc.queues.workers()
    running = {}
    for w in workers:
        for tid in w.task_ids:
            try:
                running[tid] = svc.tasks.get(tid)
            except ArnoError:
                pass
    queues = [(q, svc.queues.entries(q.id)) for q in svc.queues.list()]
    return render(request, "workers.html", section="workers", workers=workers,
                  running=running, queues=queues)
