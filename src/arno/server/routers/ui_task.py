"""A task's page with its tabs, and the files it links to (console text, artifact bytes,
debug sample media)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from arno.core.errors import NotFound
from arno.core.files import safe_file_name
from arno.core.schemas import HyperParam
from arno.core.status import TaskStatus
from arno.server.deps import current_principal, get_services
from arno.server.ui.render import render
from arno.services import artifact_preview
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]

TABS = [
    ("execution", "Execution"), ("configuration", "Configuration"), ("artifacts", "Artifacts"),
    ("info", "Info"), ("console", "Console"), ("scalars", "Scalars"), ("plots", "Plots"),
    ("debug", "Debug samples"), ("models", "Models"),
]
CONSOLE_TAIL = 2000
MAX_POINTS = 2000
"""Points per series drawn on a chart (the full series is one click away)."""


def _sections(params: list[HyperParam]) -> list[tuple[str, list[HyperParam]]]:
    out: dict[str, list[HyperParam]] = {}
    for p in params:
        out.setdefault(p.section, []).append(p)
    return list(out.items())


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
def task_page(request: Request, task_id: str, svc: Svc, who: Who, tab: str = "",
              q: str = "", full: str = "") -> Response:
    task = svc.tasks.detail(task_id)
    tabs = dict(TABS)
    if tab not in tabs:
        tab = "scalars" if task.metrics else "execution"
    can_edit = who.is_admin or task.owner_id == who.user_id
    live = task.status in (TaskStatus.in_progress, TaskStatus.queued)
    ctx: dict[str, Any] = {
        "task": task, "tab": tab, "tabs": TABS, "can_edit": can_edit, "live": live,
        "editable": can_edit and task.status == TaskStatus.created,
        "queues": svc.queues.list() if can_edit and task.status == TaskStatus.created else [],
        "section": "tasks",
    }
    if tab == "execution":
        queue_name = None
        if task.status == TaskStatus.queued or task.runtime.get("queue"):
            queue_name = task.runtime.get("queue") or task.status_message
        ctx["queue_name"] = queue_name
    elif tab == "configuration":
        ctx["sections"] = _sections(task.hyperparams)
    elif tab == "artifacts":
        arts = svc.artifacts.list(task_id)
        previews: dict[str, dict[str, Any]] = {}
        for a in arts[:50]:
            if artifact_preview.is_image(a):
                previews[a.name] = {"image": True}
            elif (table := artifact_preview.table_head(svc.store, a)) is not None:
                previews[a.name] = {"table": table}
            elif (text := artifact_preview.text_head(svc.store, a)) is not None:
                previews[a.name] = {"text": text}
        ctx.update(artifacts=arts, previews=previews)
    elif tab == "info":
        ctx["single_values"] = svc.events.single_values(task_id)
    elif tab == "console":
        lines = svc.events.console(task_id, tail=True, limit=CONSOLE_TAIL, search=q or None)
        ctx.update(lines=lines, console_q=q, truncated=len(lines) >= CONSOLE_TAIL)
    elif tab == "scalars":
        ctx.update(full_metric=full, max_points=0 if full else MAX_POINTS)
    elif tab == "models":
        ctx["models"] = svc.models.task_models(task_id)
    return render(request, "task.html", **ctx)


@router.get("/tasks/{task_id}/console.txt")
def console_text(task_id: str, svc: Svc, who: Who) -> Response:
    svc.tasks.get(task_id)  # 404 before streaming starts

    def lines() -> Iterator[bytes]:
        after = 0
        while True:
            batch = svc.events.console(task_id, after=after, limit=10_000)
            if not batch:
                return
            for line in batch:
                text = line.text if line.text.endswith("\n") else line.text + "\n"
                yield text.encode("utf-8", errors="replace")
            after = batch[-1].id

    return StreamingResponse(
        lines(), media_type="text/plain; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{task_id}-console.txt"'},
    )


def _blob_response(svc: Services, hash_: str, media_type: str, disposition: str,
                   extra: dict[str, str]) -> Response:
    headers = {"content-disposition": disposition, "x-content-type-options": "nosniff",
               "cache-control": "private, max-age=3600", **extra}
    local = svc.store.local_path(hash_)
    if local is not None:
        return FileResponse(local, media_type=media_type, headers=headers)
    return StreamingResponse(svc.store.iter_chunks(hash_), media_type=media_type,
                             headers={**headers, "content-length": str(svc.store.size(hash_))})


@router.get("/tasks/{task_id}/artifact-file")
def artifact_file(task_id: str, name: str, svc: Svc, who: Who, inline: str = "") -> Response:
    """An artifact's bytes: a download, or shown in the page (images only)."""
    art = svc.artifacts.get(task_id, name)
    if not art.hash:
        raise NotFound(f"artifact {name!r} is stored outside Arno, at {art.uri}")
    filename = safe_file_name(art.file_name or art.name)  # never a path: one component
    show = bool(inline) and artifact_preview.is_image(art)
    media = art.content_type if show else "application/octet-stream"
    how = "inline" if show else "attachment"
    disposition = f"{how}; filename*=UTF-8''{quote(filename, safe='')}"
    return _blob_response(svc, art.hash, media, disposition,
                          {"content-security-policy": "sandbox"})


_KIND_TYPES = {"image": "image/png", "audio": "audio/wav", "video": "video/mp4",
               "html": "text/html"}


@router.get("/tasks/{task_id}/samples/{sample_id}")
def sample_file(task_id: str, sample_id: int, svc: Svc, who: Who) -> Response:
    """A debug sample's media. HTML is served sandboxed (scripts, no access to this site), so
    even opened on its own it cannot act as the signed-in user."""
    sample = svc.overview.sample(task_id, sample_id)
    if not sample.hash:
        raise NotFound("this sample is stored outside Arno")
    media = sample.content_type or _KIND_TYPES.get(sample.kind, "application/octet-stream")
    extra = {"content-security-policy": "sandbox"}
    if sample.kind == "html":  # shown in an <iframe> of the task page: framed by this site only
        extra = {"content-security-policy": "sandbox allow-scripts; frame-ancestors 'self'",
                 "x-frame-options": "SAMEORIGIN"}
    name = f"{sample.metric}-{sample.variant}-{sample.iteration}".replace("/", "_")
    return _blob_response(svc, sample.hash, media,
                          f"inline; filename*=UTF-8''{quote(safe_file_name(name), safe='')}",
                          extra)
