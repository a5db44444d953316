"""The model registry: models, their weights, publishing, lineage, and a task's input and
output models. Any signed-in user reads; changes are the model's owner's or an admin's (a
task run's credential: only the models its task created)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from arno.core.limits import MAX_REGEX
from arno.core.model_schemas import (
    ModelArchive,
    ModelCreate,
    ModelLineage,
    ModelOut,
    ModelPage,
    ModelUpdate,
    ModelUseIn,
    ModelUseOut,
    TaskModels,
    WeightsOut,
    WeightsSet,
)
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.model_query import ModelQuery
from arno.services.principal import Principal

router = APIRouter(tags=["models"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]
UseName = Annotated[str, PathParam(min_length=1, max_length=256)]


def _json(model: BaseModel, status: int = 200) -> Response:
    """A response serialised straight from its model (no second validation)."""
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


@router.get("/models", response_model=ModelPage)
def list_models(
    svc: Svc,
    who: Who,
    project: str | None = None,
    include_subprojects: bool = True,
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    name: str | None = None,
    name_regex: Annotated[str | None, Query(max_length=MAX_REGEX)] = None,
    search: str | None = None,
    framework: Annotated[list[str], Query()] = [],  # noqa: B006
    owner: str | None = None,
    task: str | None = None,
    published: bool | None = None,
    archived: bool | None = False,
    include_archived: bool = False,
    meta: Annotated[list[str], Query()] = [],  # noqa: B006
    field: Annotated[list[str], Query()] = [],  # noqa: B006
    sort: Annotated[list[str], Query()] = [],  # noqa: B006
    column: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: int = 50,
    cursor: str | None = None,
) -> Response:
    """Filters combine with AND. ``tag`` "-x" means without x; ``meta`` and ``field`` take
    ``key<op>value`` (op: = != > < >= <= ~); ``sort`` a column or ``meta:key`` (``-`` for
    descending); ``column`` adds ``meta:key`` values per model. Archived models are left out
    unless ``archived`` (only them) or ``include_archived`` (both)."""
    return _json(svc.model_query.list(ModelQuery(
        project=project, include_subprojects=include_subprojects, tags=tag, name=name,
        name_regex=name_regex, search=search, frameworks=framework, owner=owner, task=task,
        published=published, archived=None if include_archived else archived, meta=meta,
        fields=field, sort=sort or ["-created_at"], columns=column, limit=limit,
        cursor=cursor,
    )))


@router.post("/models", response_model=ModelOut, status_code=201)
def create_model(body: ModelCreate, svc: Svc, who: Who) -> Response:
    """Every field in one request, weights included (their pieces uploaded first)."""
    return _json(svc.models.create(body, who), 201)


@router.get("/models/{model_id}", response_model=ModelOut)
def get_model(model_id: str, svc: Svc, who: Who) -> Response:
    return _json(svc.models.get(model_id))


@router.patch("/models/{model_id}", response_model=ModelOut)
def update_model(model_id: str, body: ModelUpdate, svc: Svc, who: Who) -> Response:
    """On a published model only tags, system_tags and comment change (else 409)."""
    return _json(svc.models.update(model_id, body, who))


@router.put("/models/{model_id}/weights", response_model=ModelOut)
def set_weights(model_id: str, body: WeightsSet, svc: Svc, who: Who) -> Response:
    """Stored files (pieces uploaded already; 422 names a missing one) or a registered URI
    (s3, gs, azure, http(s), arno). Replaces the model's weights; 409 once published."""
    return _json(svc.models.set_weights(model_id, body, who))


@router.get("/models/{model_id}/weights", response_model=WeightsOut)
def get_weights(model_id: str, svc: Svc, who: Who) -> Response:
    return _json(svc.models.weights(model_id))


@router.post("/models/{model_id}/publish", response_model=ModelOut)
def publish_model(model_id: str, svc: Svc, who: Who) -> Response:
    """Make the model immutable; 409 when it has no weights."""
    return _json(svc.models.publish(model_id, who))


@router.post("/models/{model_id}/archive", response_model=ModelOut)
def archive_model(model_id: str, body: ModelArchive, svc: Svc, who: Who) -> Response:
    return _json(svc.models.set_archived(model_id, body.archived, who))


@router.delete("/models/{model_id}", status_code=204)
def delete_model(model_id: str, svc: Svc, who: Who, force: bool = False) -> Response:
    """409 for a published model unless ``force``."""
    svc.models.delete(model_id, who, force=force)
    return Response(status_code=204)


@router.get("/models/{model_id}/lineage", response_model=ModelLineage)
def model_lineage(model_id: str, svc: Svc, who: Who) -> Response:
    """The creating task, its input datasets and models, and the tasks using this model."""
    return _json(svc.models.lineage(model_id))


@router.get("/tasks/{task_id}/models", response_model=TaskModels)
def task_models(task_id: str, svc: Svc, who: Who) -> Response:
    return _json(svc.models.task_models(task_id))


@router.put("/tasks/{task_id}/models/input/{name:path}", response_model=ModelUseOut)
def use_input_model(task_id: str, name: UseName, body: ModelUseIn, svc: Svc,
                    who: Who) -> Response:
    """The task uses the model under ``name`` (replacing what it used under that name)."""
    return _json(svc.models.use_input(task_id, name, body.model_id, who))


@router.delete("/tasks/{task_id}/models/input/{name:path}", status_code=204)
def remove_input_model(task_id: str, name: UseName, svc: Svc, who: Who) -> Response:
    svc.models.remove_input(task_id, name, who)
    return Response(status_code=204)
