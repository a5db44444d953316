"""A minimal web page (the full UI lands with its own issue): what is running, and where."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from arno import __version__
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal
from arno.services.task_query import TaskQuery

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def index(
    svc: Annotated[Services, Depends(get_services)],
    who: Annotated[Principal, Depends(current_principal)],
) -> HTMLResponse:
    projects = svc.projects.list()
    page = svc.query.list(TaskQuery(limit=20))
    e = html.escape
    proj_rows = "".join(
        f"<tr><td>{e(p.name)}</td><td>{p.task_count}</td></tr>" for p in projects
    ) or "<tr><td colspan=2>No projects yet</td></tr>"
    task_rows = "".join(
        f"<tr><td><code>{e(t.id)}</code></td><td>{e(t.project)}</td><td>{e(t.name)}</td>"
        f"<td>{e(t.status)}</td><td>{e(', '.join(t.tags))}</td>"
        f"<td>{t.last_iteration if t.last_iteration is not None else ''}</td></tr>"
        for t in page.items
    ) or "<tr><td colspan=6>No tasks yet</td></tr>"
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Arno</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#222}}
table{{border-collapse:collapse;margin-bottom:2rem}}td,th{{border:1px solid #ccc;padding:4px 8px;
text-align:left}}th{{background:#f4f4f4}}</style></head><body>
<h1>Arno <small>{e(__version__)}</small></h1>
<p>Signed in as <b>{e(who.username)}</b>. API: <a href="/api/v1/docs">/api/v1/docs</a>.</p>
<h2>Projects</h2><table><tr><th>Project</th><th>Tasks</th></tr>{proj_rows}</table>
<h2>Recent tasks ({page.total})</h2><table><tr><th>Id</th><th>Project</th><th>Name</th>
<th>Status</th><th>Tags</th><th>Iteration</th></tr>{task_rows}</table>
</body></html>"""
    return HTMLResponse(body)
