"""The web UI's dashboard, and the list of every UI router (one module per page group)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from arno.server.deps import current_principal, get_services
from arno.server.routers import (
    ui_auth,
    ui_compare,
    ui_datasets,
    ui_models,
    ui_projects,
    ui_task,
    ui_task_edit,
    ui_tasks,
    ui_workers,
)
from arno.server.ui.render import render
from arno.services.container import Services
from arno.services.principal import Principal
from arno.services.task_query import TaskQuery

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request,
    svc: Annotated[Services, Depends(get_services)],
    who: Annotated[Principal, Depends(current_principal)],
) -> HTMLResponse:
    counts = svc.overview.status_counts()
    projects = sorted(
        svc.projects.list(),
        key=lambda p: (p.last_activity is not None, p.last_activity or p.created_at),
        reverse=True,
    )
    return render(
        request, "dashboard.html", section="home",
        counts=counts, total_tasks=sum(counts.values()), project_count=len(projects),
        projects=projects[:8],
        running=svc.query.list(TaskQuery(status=["in_progress"], sort=["-started_at"],
                                         limit=10)).items,
        recent=svc.query.list(TaskQuery(sort=["-updated_at"], limit=10)).items,
        queues=svc.queues.list(), workers=svc.queues.workers(),
    )


routers = [
    router,
    ui_auth.router,
    ui_projects.router,
    ui_tasks.router,
    ui_task.router,
    ui_task_edit.router,
    ui_compare.router,
    ui_datasets.router,
    ui_models.router,
    ui_workers.router,
]
