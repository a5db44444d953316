"""Projects."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from arno.core.schemas import ProjectCreate, ProjectOut
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(tags=["projects"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]


@router.get("/projects", response_model=list[ProjectOut])
def list_projects(svc: Svc, who: Who) -> list[ProjectOut]:
    return svc.projects.list()


@router.post("/projects", response_model=ProjectOut, status_code=201)
def create_project(body: ProjectCreate, svc: Svc, who: Who) -> ProjectOut:
    return svc.projects.create(body.name, body.description, who.user_id)


@router.get("/projects/{ref:path}", response_model=ProjectOut)
def get_project(ref: str, svc: Svc, who: Who) -> ProjectOut:
    return svc.projects.get(ref)
