"""The experiment table (per project or across all) and what it does to selected tasks."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from arno.core.status import TaskStatus, TaskType
from arno.server.deps import check_csrf, current_principal, get_services
from arno.server.routers.ui_auth import safe_next
from arno.server.ui.render import render, seconds_text, span_seconds
from arno.server.ui.table import PAGE_SIZES, TableState
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]


@router.get("/tasks", response_class=HTMLResponse)
def task_table(request: Request, svc: Svc, who: Who) -> Response:
    state = TableState.parse(request.query_params, dict(request.cookies))
    page = svc.query.list(state.query())
    crumbs = []
    if state.project:
        parts = state.project.split("/")
        crumbs = [{"label": p, "path": "/".join(parts[: i + 1])} for i, p in enumerate(parts)]
    clear = TableState(project=state.project, sort=state.sort, columns=state.columns,
                       limit=state.limit, archived=state.archived)
    resp = render(
        request, "tasks.html", section="tasks", state=state, page=page,
        columns=state.all_columns(), statuses=list(TaskStatus), types=list(TaskType),
        page_sizes=PAGE_SIZES, crumbs=crumbs, clear_url=clear.url(),
    )
    if "col" in request.query_params:  # remember this project's column set
        resp.set_cookie(TableState.cookie_name(state.project), json.dumps(state.columns),
                        max_age=365 * 86400, httponly=True, samesite="lax", path="/")
    return resp


@router.get("/tasks/columns.json")
def column_keys(svc: Svc, who: Who, project: str | None = None) -> JSONResponse:
    """Keys for the column picker: ``param:Section/name`` and ``metric:title/series[:agg]``."""
    keys = svc.overview.column_keys(project or None)
    out = [f"param:{k}" for k in keys["params"]]
    for k in keys["metrics"]:
        out += [f"metric:{k}", f"metric:{k}:min", f"metric:{k}:max"]
    return JSONResponse({"columns": out})


@router.get("/tasks/live.json")
def live(svc: Svc, who: Who, ids: str = "") -> JSONResponse:
    """Status, iteration and duration of the given tasks, for refreshing a page in place."""
    out = []
    for b in svc.overview.briefs(ids.split(",")):
        b["duration"] = seconds_text(span_seconds(b["started_at"], b["completed_at"],
                                                  b["status"]))
        for key in ("started_at", "completed_at", "updated_at"):
            b[key] = b[key].isoformat() if b[key] else None
        out.append(b)
    return JSONResponse({"tasks": out}, headers={"cache-control": "no-store"})


@router.post("/tasks/bulk")
def bulk(
    request: Request,
    svc: Svc,
    who: Who,
    action: Annotated[str, Form()] = "",
    ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    tag: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/tasks",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    target = safe_next(next)
    if not ids:
        return RedirectResponse(_with(target, "err", "Select some tasks first"), status_code=303)
    result = svc.actions.bulk(ids, action, who, tag=tag)
    verb = {"archive": "Archived", "unarchive": "Restored", "delete": "Deleted",
            "tag": "Tagged", "untag": "Untagged"}[action]
    msg = f"{verb} {result.done} task{'' if result.done == 1 else 's'}"
    if result.errors:
        return RedirectResponse(_with(target, "err", msg + "; " + "; ".join(result.errors[:3])),
                                status_code=303)
    return RedirectResponse(_with(target, "msg", msg), status_code=303)


def _with(target: str, key: str, value: str) -> str:
    base, _, query = target.partition("?")
    parts = [p for p in query.split("&") if p and not p.startswith(("msg=", "err="))]
    parts.append(f"{key}={quote(value)}")
    return base + "?" + "&".join(parts)
