"""Models as the API shows them, who may change one, and the links between models and tasks:
a task's input models (used under a name of its choosing) and output models (those it
created), and a model's lineage (its creating task, that task's input datasets and models,
and the tasks that use it)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from arno.core.errors import Forbidden, InvalidInput, NotFound
from arno.core.ids import as_utc, is_id, utcnow
from arno.core.model_schemas import (
    LineageConsumer,
    LineageDataset,
    LineageTask,
    ModelLineage,
    ModelOut,
    ModelUseOut,
    NamedModel,
    TaskModels,
)
from arno.db.engine import Database
from arno.db.models import (
    DatasetRow,
    DatasetVersionRow,
    HyperParamRow,
    ModelRow,
    ModelUseRow,
    ProjectRow,
    TaskRow,
    UserRow,
)
from arno.services.principal import Principal
from arno.services.tasks import get_task_row

DATASETS_SECTION = "Datasets"
"""The hyperparameter section where a task records the dataset versions it used."""
MAX_USE_NAME = 256


def get_model_row(s: Session, model_id: str, *, lock: bool = False) -> ModelRow:
    row = (s.get(ModelRow, model_id, with_for_update=lock or None) if is_id(model_id)
           else None)
    if row is None:
        raise NotFound(f"no model {model_id!r}", details={"id": model_id})
    return row


def require_model_owner(who: Principal, row: ModelRow) -> None:
    """Refuse (403) a change by anyone but the model's owner or an admin; a task run's
    credential may change only the models its task created."""
    if who.run_task_id is not None and who.run_task_id not in (row.created_by_task_id,
                                                                row.task_id):
        raise Forbidden(f"a task's run may change only the models its task created, not "
                        f"model {row.id}")
    if not who.is_admin and row.owner_id != who.user_id:
        raise Forbidden(f"only the owner of model {row.id} or an admin may change it")


def model_outs(s: Session, rows: Sequence[ModelRow]) -> list[ModelOut]:
    """API models of ``rows`` (in their order), with project, owner and task names."""
    if not rows:
        return []
    projects = dict(s.execute(select(ProjectRow.id, ProjectRow.name).where(
        ProjectRow.id.in_({r.project_id for r in rows}))).tuples().all())
    owner_ids = {r.owner_id for r in rows if r.owner_id}
    owners = dict(s.execute(select(UserRow.id, UserRow.username).where(
        UserRow.id.in_(owner_ids))).tuples().all()) if owner_ids else {}
    task_ids = {r.task_id for r in rows if r.task_id}
    tasks = dict(s.execute(select(TaskRow.id, TaskRow.name).where(
        TaskRow.id.in_(task_ids))).tuples().all()) if task_ids else {}
    return [
        ModelOut(
            id=r.id, name=r.name, project=projects.get(r.project_id, ""),
            project_id=r.project_id, framework=r.framework, task_id=r.task_id,
            task_name=tasks.get(r.task_id) if r.task_id else None,
            owner=owners.get(r.owner_id) if r.owner_id else None, owner_id=r.owner_id,
            created_by_task_id=r.created_by_task_id, tags=list(r.tags or []),
            system_tags=list(r.system_tags or []), comment=r.comment,
            labels=dict(r.labels or {}), design=r.design, metadata=dict(r.meta or {}),
            uri=r.uri, weights_size=r.weights_size, weights_files=r.weights_files,
            weights_hash=r.weights_hash, package=r.package, iteration=r.iteration,
            parent_id=r.parent_id, published=r.published,
            published_at=as_utc(r.published_at), archived=r.archived,
            created_at=as_utc(r.created_at),
            updated_at=as_utc(r.updated_at),
        )
        for r in rows
    ]


class ModelLinks:
    """A task's input and output models, and lineage (``ModelService`` builds on it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _uses(s: Session, task_id: str) -> builtins.list[NamedModel]:
        pairs = s.execute(
            select(ModelUseRow.name, ModelRow).join(ModelRow, ModelRow.id == ModelUseRow.model_id)
            .where(ModelUseRow.task_id == task_id).order_by(ModelUseRow.name)).tuples().all()
        outs = model_outs(s, [m for _, m in pairs])
        return [NamedModel(name=name, model=out) for (name, _), out in zip(pairs, outs,
                                                                           strict=True)]

    def task_models(self, task_id: str) -> TaskModels:
        with self.db.read() as s:
            task = get_task_row(s, task_id)
            made = list(s.scalars(select(ModelRow).where(ModelRow.task_id == task.id)
                                  .order_by(ModelRow.created_at, ModelRow.id)))
            return TaskModels(
                input=self._uses(s, task.id),
                output=[NamedModel(name=o.name, model=o) for o in model_outs(s, made)],
            )

    def use_input(self, task_id: str, name: str, model_id: str, who: Principal) -> ModelUseOut:
        if not 1 <= len(name) <= MAX_USE_NAME:
            raise InvalidInput(f"name: an input model's name has 1 to {MAX_USE_NAME} characters",
                               details={"field": "name"})
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task, f"task {task.id}")
            model = get_model_row(s, model_id)
            use = s.get(ModelUseRow, (task.id, name))
            now = utcnow()
            if use is None:
                use = ModelUseRow(task_id=task.id, name=name, model_id=model.id, created_at=now)
                s.add(use)
            else:
                use.model_id, use.created_at = model.id, now
            s.flush()
            return ModelUseOut(task_id=task.id, name=name, model_id=model.id,
                               created_at=as_utc(now))

    def remove_input(self, task_id: str, name: str, who: Principal) -> None:
        with self.db.write() as s:
            task = get_task_row(s, task_id)
            who.require_task_owner(task, f"task {task.id}")
            use = s.get(ModelUseRow, (task.id, name))
            if use is None:
                raise NotFound(f"task {task.id} has no input model named {name!r}",
                               details={"name": name})
            s.delete(use)

    def lineage(self, model_id: str) -> ModelLineage:
        with self.db.read() as s:
            row = get_model_row(s, model_id)
            model = model_outs(s, [row])[0]
            task_out = None
            datasets: builtins.list[LineageDataset] = []
            inputs: builtins.list[NamedModel] = []
            if row.task_id:
                found = s.execute(
                    select(TaskRow.id, TaskRow.name, TaskRow.status, ProjectRow.name)
                    .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
                    .where(TaskRow.id == row.task_id)).first()
                if found is not None:
                    tid, tname, status, project = found
                    task_out = LineageTask(id=tid, name=tname, status=status, project=project)
                    datasets = self._datasets(s, tid)
                    inputs = self._uses(s, tid)
            consumers = [
                LineageConsumer(task_id=tid, task_name=tname, status=status, project=project,
                                name=name)
                for name, tid, tname, status, project in s.execute(
                    select(ModelUseRow.name, TaskRow.id, TaskRow.name, TaskRow.status,
                           ProjectRow.name)
                    .join(TaskRow, TaskRow.id == ModelUseRow.task_id)
                    .join(ProjectRow, ProjectRow.id == TaskRow.project_id)
                    .where(ModelUseRow.model_id == row.id)
                    .order_by(TaskRow.created_at, TaskRow.id, ModelUseRow.name))
            ]
            return ModelLineage(model=model, task=task_out, datasets=datasets,
                                input_models=inputs, consumers=consumers)

    @staticmethod
    def _datasets(s: Session, task_id: str) -> builtins.list[LineageDataset]:
        """The dataset versions the task recorded (``Datasets`` section: alias -> version
        id), with their dataset's name and version; one no longer stored keeps its id."""
        params = s.execute(select(HyperParamRow.name, HyperParamRow.value).where(
            HyperParamRow.task_id == task_id, HyperParamRow.section == DATASETS_SECTION)
            .order_by(HyperParamRow.name)).tuples().all()
        ids = [v.strip() for _, v in params if is_id(v.strip())]
        known = {
            vid: (name, version)
            for vid, name, version in s.execute(
                select(DatasetVersionRow.task_id, DatasetRow.name, DatasetVersionRow.version)
                .join(DatasetRow, DatasetRow.id == DatasetVersionRow.dataset_id)
                .where(DatasetVersionRow.task_id.in_(ids)))
        } if ids else {}
        out = []
        for alias, value in params:
            vid = value.strip()
            if not is_id(vid):
                continue
            name, version = known.get(vid, (None, None))
            out.append(LineageDataset(id=vid, name=name, version=version, alias=alias))
        return out
