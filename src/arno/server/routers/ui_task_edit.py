"""Forms that change a task from its page: inputs (while a draft), name/comment/tags, and the
actions (enqueue, abort, clone, reset, archive, delete...). Every one checks the CSRF token;
the services check the caller's rights (403 for someone else's task)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from arno.core.errors import Conflict, InvalidInput
from arno.core.schemas import (
    CloneRequest,
    ConfigurationItem,
    HyperParam,
    StatusChange,
    TaskUpdate,
)
from arno.core.status import TaskStatus
from arno.server.deps import check_csrf, current_principal, get_services
from arno.server.routers.ui_auth import safe_next
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]
Strs = Annotated[list[str], Form()]


def _draft(svc: Services, task_id: str, who: Principal) -> None:
    task = svc.tasks.get(task_id)
    who.require_task_owner(task)
    if task.status != TaskStatus.created:
        raise Conflict(f"task is {task.status}: inputs change only while it is a draft; "
                       "clone or reset it first")


def _back(task_id: str, tab: str, msg: str) -> RedirectResponse:
    return RedirectResponse(f"/tasks/{task_id}?tab={tab}&msg={msg.replace(' ', '+')}",
                            status_code=303)


def _valid(make: Any) -> Any:
    try:
        return make()
    except ValidationError as exc:
        raise InvalidInput("; ".join(str(e["msg"]) for e in exc.errors()[:3])) from None


@router.post("/tasks/{task_id}/params")
def save_params(
    request: Request, task_id: str, svc: Svc, who: Who,
    section: Strs = [], name: Strs = [], value: Strs = [], delete: Strs = [],  # noqa: B006
    new_section: Annotated[str, Form()] = "", new_name: Annotated[str, Form()] = "",
    new_value: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    _draft(svc, task_id, who)
    if not len(section) == len(name) == len(value):
        raise InvalidInput("sections, names and values do not line up")
    current = {(p.section, p.name): p for p in svc.tasks.get_params(task_id)}
    changed = []
    for sec, nm, val in zip(section, name, value, strict=True):
        old = current.get((sec, nm))
        if f"{sec}/{nm}" in delete:
            continue
        if old is None or old.value != val:
            changed.append(_valid(lambda s=sec, n=nm, v=val, o=old: HyperParam(
                section=s, name=n, value=v, type=o.type if o else "",
                description=o.description if o else "")))
    if new_name.strip():
        changed.append(_valid(lambda: HyperParam(section=new_section.strip() or "General",
                                                 name=new_name.strip(), value=new_value)))
    if changed:
        svc.tasks.set_params(task_id, changed, who)
    if delete:
        svc.tasks.delete_params(task_id, list(delete), who)
    return _back(task_id, "configuration", "Hyperparameters saved")


@router.post("/tasks/{task_id}/configs")
def save_config(
    request: Request, task_id: str, svc: Svc, who: Who,
    name: Annotated[str, Form()], value: Annotated[str, Form()] = "",
    type: Annotated[str, Form()] = "dictionary", csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    _draft(svc, task_id, who)
    old = {c.name: c for c in svc.tasks.get_configs(task_id)}.get(name)
    item = _valid(lambda: ConfigurationItem(
        name=name, type=type, value=value.replace("\r\n", "\n"),
        description=old.description if old else ""))
    svc.tasks.set_configs(task_id, [item], who)
    return _back(task_id, "configuration", "Configuration saved")


@router.post("/tasks/{task_id}/properties")
def save_properties(
    request: Request, task_id: str, svc: Svc, who: Who,
    key: Strs = [], value: Strs = [],  # noqa: B006
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    props: dict[str, Any] = {}
    for k, v in zip(key, value, strict=False):
        if k.strip():
            props[k.strip()] = v
    svc.tasks.update(task_id, TaskUpdate(user_properties=props), who)
    return _back(task_id, "configuration", "Properties saved")


@router.post("/tasks/{task_id}/edit")
def edit_task(
    request: Request, task_id: str, svc: Svc, who: Who,
    name: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    update = _valid(lambda: TaskUpdate(
        name=name.strip() or None, comment=comment.replace("\r\n", "\n"),
        tags=[t.strip() for t in tags.split(",") if t.strip()]))
    svc.tasks.update(task_id, update, who)
    return _back(task_id, "info", "Saved")


@router.post("/tasks/{task_id}/action")
def task_action(
    request: Request, task_id: str, svc: Svc, who: Who,
    action: Annotated[str, Form()] = "", queue: Annotated[str, Form()] = "default",
    next: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, csrf_token)
    here = safe_next(next) if next else f"/tasks/{task_id}"
    sep = "&" if "?" in here else "?"
    if action == "enqueue":
        name = svc.queues.enqueue(task_id, queue or "default", who)
        msg = f"Queued in {name}"
    elif action == "dequeue":
        svc.queues.dequeue_task(task_id, who)
        msg = "Taken out of its queue"
    elif action == "abort":
        state = svc.queues.abort(task_id, who, f"aborted by {who.username}")
        msg = "Stopping" if state == "stopping" else "Stopped"
    elif action == "reset":
        svc.actions.reset(task_id, who)
        msg = "Reset to a draft"
    elif action == "publish":
        svc.tasks.set_status(task_id, StatusChange(status=TaskStatus.published), who)
        msg = "Published"
    elif action == "clone":
        clone = svc.tasks.clone(task_id, CloneRequest(), who)
        return RedirectResponse(f"/tasks/{clone.id}?tab=configuration&msg=Cloned",
                                status_code=303)
    elif action in ("archive", "unarchive"):
        svc.tasks.set_archived(task_id, action == "archive", who)
        msg = "Archived" if action == "archive" else "Restored"
    elif action == "delete":
        task = svc.tasks.get(task_id)
        svc.tasks.delete(task_id, who)
        return RedirectResponse("/tasks?" + urlencode({"project": task.project,
                                                       "msg": "Deleted"}), status_code=303)
    else:
        raise InvalidInput(f"unknown action {action!r}")
    return RedirectResponse(f"{here}{sep}msg={msg.replace(' ', '+')}", status_code=303)
