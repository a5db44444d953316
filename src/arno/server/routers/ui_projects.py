"""The projects tree: nested by "/", with task counts (own and with subprojects) and the
last activity under each project."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from arno.core.schemas import ProjectOut
from arno.server.deps import current_principal, get_services
from arno.server.ui.render import render
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)


@dataclass
class Node:
    path: str
    label: str
    depth: int
    own: int
    total: int
    last: datetime | None
    description: str


def project_tree(projects: list[ProjectOut]) -> list[Node]:
    """Depth-first rows of the tree, parents before children, alphabetical."""
    by_name = {p.name: p for p in projects}
    totals: dict[str, int] = {}
    lasts: dict[str, datetime | None] = {}
    for p in projects:
        parts = p.name.split("/")
        for i in range(1, len(parts) + 1):
            anc = "/".join(parts[:i])
            totals[anc] = totals.get(anc, 0) + p.task_count
            if p.last_activity and (lasts.get(anc) is None or p.last_activity > lasts[anc]):  # type: ignore[operator]
                lasts[anc] = p.last_activity
            lasts.setdefault(anc, None)
    nodes = []
    for name in sorted(totals, key=lambda n: n.split("/")):
        found = by_name.get(name)
        nodes.append(Node(name, name.rsplit("/", 1)[-1], name.count("/"),
                          found.task_count if found else 0, totals[name], lasts.get(name),
                          found.description if found else ""))
    return nodes


@router.get("/projects", response_class=HTMLResponse)
def projects_page(
    request: Request,
    svc: Annotated[Services, Depends(get_services)],
    who: Annotated[Principal, Depends(current_principal)],
) -> HTMLResponse:
    return render(request, "projects.html", section="projects",
                  nodes=project_tree(svc.projects.list()))
