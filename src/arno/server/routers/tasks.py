"""Tasks: CRUD, status, inputs, listing with filters and sorting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from arno.core.limits import MAX_LIST, MAX_REGEX
from arno.core.schemas import (
    CloneRequest,
    ConfigurationItem,
    HyperParam,
    MetricSummary,
    StatusChange,
    TaskCreate,
    TaskDetail,
    TaskOut,
    TaskPage,
    TaskUpdate,
)
from arno.core.schemas_batch import TaskBatchCreate, TaskBatchOut
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal
from arno.services.task_query import TaskQuery

router = APIRouter(tags=["tasks"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]


class ParamsBody(BaseModel):
    params: list[HyperParam] = Field(max_length=MAX_LIST)
    replace: bool = False


class ConfigsBody(BaseModel):
    items: list[ConfigurationItem] = Field(max_length=MAX_LIST)


class ArchiveBody(BaseModel):
    archived: bool = True


@router.get("/tasks", response_model=TaskPage)
def list_tasks(
    svc: Svc,
    who: Who,
    project: str | None = None,
    include_subprojects: bool = True,
    status: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    tag: Annotated[list[str], Query()] = [],  # noqa: B006
    type: Annotated[list[str], Query()] = [],  # noqa: B006
    owner: str | None = None,
    name: str | None = None,
    name_regex: Annotated[str | None, Query(max_length=MAX_REGEX)] = None,
    search: str | None = None,
    param: Annotated[list[str], Query()] = [],  # noqa: B006
    metric: Annotated[list[str], Query()] = [],  # noqa: B006
    archived: bool | None = False,
    include_archived: bool = False,
    include_datasets: bool = False,
    sort: Annotated[list[str], Query()] = [],  # noqa: B006
    column: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: int = 50,
    cursor: str | None = None,
) -> TaskPage:
    """Filters combine with AND. ``param`` / ``metric`` take ``key<op>value``; ``sort`` takes a
    column, ``param:Section/name`` or ``metric:title/series[:min|:max]``, ``-`` for descending.
    ``archived`` true lists only archived tasks; ``include_archived`` lists both. Dataset
    versions (tasks of their own) are left out unless ``include_datasets``."""
    return svc.query.list(
        TaskQuery(
            project=project,
            include_subprojects=include_subprojects,
            status=status,
            tags=tag,
            types=type,
            owner=owner,
            name=name,
            name_regex=name_regex,
            search=search,
            params=param,
            metrics=metric,
            archived=None if include_archived else archived,
            include_datasets=include_datasets,
            sort=sort or ["-created_at"],
            columns=column,
            limit=limit,
            cursor=cursor,
        )
    )


def _created(model: BaseModel) -> Response:
    """201 with ``model`` as JSON, serialized once: a route that returns the model has FastAPI
    validate it again against its response model (on a worker thread, for a sync route) before
    serializing it, which on the create routes cost as much as the insert."""
    return Response(model.model_dump_json(), status_code=201, media_type="application/json")


@router.post("/tasks", response_model=TaskOut, status_code=201)
def create_task(body: TaskCreate, svc: Svc, who: Who) -> Response:
    return _created(svc.tasks.create(body, who))


@router.post("/tasks/batch", response_model=TaskBatchOut, status_code=201)
def create_tasks(body: TaskBatchCreate, svc: Svc, who: Who) -> Response:
    """Up to 1000 tasks in one transaction; the reply lists them in the order of the request.
    An item with ``clone_of`` is a clone of that task with the item's fields on top. Every item
    is checked before anything is written: one bad item (named by its index) and none is
    created."""
    return _created(TaskBatchOut(tasks=svc.tasks.create_many(body.tasks, who)))


@router.get("/tasks/{task_id}", response_model=TaskDetail)
def get_task(task_id: str, svc: Svc, who: Who) -> TaskDetail:
    return svc.tasks.detail(task_id)


@router.patch("/tasks/{task_id}", response_model=TaskOut)
def update_task(task_id: str, body: TaskUpdate, svc: Svc, who: Who) -> TaskOut:
    return svc.tasks.update(task_id, body, who)


@router.delete("/tasks/{task_id}", status_code=204)
def delete_task(task_id: str, svc: Svc, who: Who, force: bool = False) -> Response:
    svc.tasks.delete(task_id, who, force=force)
    return Response(status_code=204)


@router.post("/tasks/{task_id}/status", response_model=TaskOut)
def set_status(task_id: str, body: StatusChange, svc: Svc, who: Who) -> TaskOut:
    return svc.tasks.set_status(task_id, body, who)


@router.post("/tasks/{task_id}/archive", response_model=TaskOut)
def archive(task_id: str, body: ArchiveBody, svc: Svc, who: Who) -> TaskOut:
    return svc.tasks.set_archived(task_id, body.archived, who)


@router.post("/tasks/{task_id}/clone", response_model=TaskOut, status_code=201)
def clone(task_id: str, body: CloneRequest, svc: Svc, who: Who) -> Response:
    return _created(svc.tasks.clone(task_id, body, who))


@router.get("/tasks/{task_id}/params", response_model=list[HyperParam])
def get_params(task_id: str, svc: Svc, who: Who) -> list[HyperParam]:
    return svc.tasks.get_params(task_id)


@router.put("/tasks/{task_id}/params", response_model=list[HyperParam])
def set_params(task_id: str, body: ParamsBody, svc: Svc, who: Who) -> list[HyperParam]:
    return svc.tasks.set_params(task_id, body.params, who, replace=body.replace)


class ParamKeys(BaseModel):
    keys: list[Annotated[str, Field(max_length=1024)]] = Field(max_length=MAX_LIST)


@router.post("/tasks/{task_id}/params/delete", status_code=204)
def delete_params(task_id: str, body: ParamKeys, svc: Svc, who: Who) -> Response:
    svc.tasks.delete_params(task_id, body.keys, who)
    return Response(status_code=204)


@router.get("/tasks/{task_id}/configurations", response_model=list[ConfigurationItem])
def get_configs(task_id: str, svc: Svc, who: Who) -> list[ConfigurationItem]:
    return svc.tasks.get_configs(task_id)


@router.put("/tasks/{task_id}/configurations", response_model=list[ConfigurationItem])
def set_configs(task_id: str, body: ConfigsBody, svc: Svc, who: Who) -> list[ConfigurationItem]:
    return svc.tasks.set_configs(task_id, body.items, who)


@router.get("/tasks/{task_id}/metrics", response_model=list[MetricSummary])
def metrics(task_id: str, svc: Svc, who: Who) -> list[MetricSummary]:
    return svc.tasks.metrics(task_id)
