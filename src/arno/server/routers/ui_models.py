"""Model registry pages: the models table (filters, sort, metadata columns, cursor pages, bulk
publish and archive) and one model's page (details, labels, metadata, design, lineage graph,
the creating task's scalars, consumers, and its owner's actions)."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from arno.core.errors import ArnoError, Forbidden, InvalidInput
from arno.core.model_schemas import ModelOut
from arno.server.deps import check_csrf, current_principal, get_services
from arno.server.routers.ui_auth import safe_next
from arno.server.ui import model_views as views
from arno.server.ui.render import render
from arno.services.container import Services
from arno.services.model_query import ModelQuery
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]

BULK_ACTIONS = {"publish": "Published", "archive": "Archived", "unarchive": "Restored"}
MAX_BULK = 500


def _query(state: views.ModelTableState) -> ModelQuery:
    f = state.filters()
    return ModelQuery(
        project=f["project"], tags=f["tag"], name=f["name"], frameworks=f["framework"],
        published=f["published"], archived=f["archived"], meta=f["meta"], sort=f["sort"],
        columns=f["column"], limit=f["limit"], cursor=f["cursor"],
    )


@router.get("/models", response_class=HTMLResponse)
def models_table(request: Request, svc: Svc, who: Who) -> Response:
    state = views.ModelTableState.parse(request.query_params, dict(request.cookies))
    page = svc.models.list(_query(state))
    resp = render(
        request, "models.html", section="models", state=state, page=page,
        columns=state.all_columns(), page_sizes=views.PAGE_SIZES, clear_url=state.clear_url(),
        meta_value=views.meta_value,
    )
    if "col" in request.query_params:  # remember this project's column set
        resp.set_cookie(views.ModelTableState.cookie_name(state.project),
                        json.dumps(state.columns), max_age=365 * 86400, httponly=True,
                        samesite="lax", path="/")
    return resp


@router.post("/models/bulk")
def bulk(
    request: Request,
    svc: Svc,
    who: Who,
    action: Annotated[str, Form()] = "",
    ids: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    next: Annotated[str, Form()] = "/models",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    target = safe_next(next)
    if action not in BULK_ACTIONS:
        raise InvalidInput(f"unknown action {action!r}")
    if not ids:
        return RedirectResponse(_with(target, "err", "Select some models first"),
                                status_code=303)
    ids = list(dict.fromkeys(ids))[:MAX_BULK]
    for model_id in ids:  # rights first: 403 before anything changes
        if not _can_change(who, svc.models.get(model_id)):
            raise Forbidden(f"only the owner of model {model_id} or an admin may change it")
    done, errors = 0, []
    for model_id in ids:
        try:
            if action == "publish":
                svc.models.publish(model_id, who)
            else:
                svc.models.set_archived(model_id, action == "archive", who)
            done += 1
        except ArnoError as exc:
            errors.append(exc.message)
    msg = f"{BULK_ACTIONS[action]} {done} model{'' if done == 1 else 's'}"
    if errors:
        return RedirectResponse(_with(target, "err", msg + "; " + "; ".join(errors[:3])),
                                status_code=303)
    return RedirectResponse(_with(target, "msg", msg), status_code=303)


def _can_change(who: Principal, model: ModelOut) -> bool:
    """The owner or an admin (the services refuse anyone else again on every change); a
    task run's credential only for the models its task created."""
    if who.run_task_id is not None and who.run_task_id not in (model.created_by_task_id,
                                                                model.task_id):
        return False
    return bool(who.is_admin or (model.owner_id and model.owner_id == who.user_id))


@router.get("/models/{model_id}", response_class=HTMLResponse)
def model_page(request: Request, model_id: str, svc: Svc, who: Who) -> Response:
    lineage = svc.models.lineage(model_id)
    model = lineage.model
    design_json = None
    if model.design:
        try:
            parsed = json.loads(model.design)
            design_json = json.dumps(parsed, indent=2, sort_keys=True) if isinstance(
                parsed, (dict, list)) else None
        except ValueError:
            design_json = None
    task = svc.tasks.detail(lineage.task.id) if lineage.task else None
    return render(
        request, "model.html", section="models", model=model, lineage=lineage,
        graph=views.lineage_graph(lineage), node_w=views.NODE_W, node_h=views.NODE_H,
        task=task, can_change=_can_change(who, model), design_json=design_json,
        labels=sorted((model.labels or {}).items(), key=lambda kv: (kv[1], kv[0])),
        metadata=sorted((model.metadata or {}).items()),
    )


@router.post("/models/{model_id}/action")
def model_action(
    request: Request,
    model_id: str,
    svc: Svc,
    who: Who,
    action: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    page = f"/models/{quote(model_id, safe='')}"
    if action == "publish":
        svc.models.publish(model_id, who)
        return RedirectResponse(_with(page, "msg", "Published"), status_code=303)
    if action in ("archive", "unarchive"):
        svc.models.set_archived(model_id, action == "archive", who)
        return RedirectResponse(_with(page, "msg", "Archived" if action == "archive"
                                      else "Restored"), status_code=303)
    if action == "delete":
        model = svc.models.get(model_id)
        svc.models.delete(model_id, who, force=True)
        return RedirectResponse(_with(f"/models?project={quote(model.project, safe='')}",
                                      "msg", f"Deleted model {model.name}"), status_code=303)
    raise InvalidInput(f"unknown action {action!r}")


def _with(target: str, key: str, value: str) -> str:
    base, _, query = target.partition("?")
    parts = [p for p in query.split("&") if p and not p.startswith(("msg=", "err="))]
    parts.append(f"{key}={quote(value)}")
    return base + "?" + "&".join(parts)
