"""Changing a dataset after it was made: its name and project (every version at once, as
ClearML's ``Dataset.rename`` and ``move_to_project``) and a draft version's version string.

Who may: the owner of every version of the dataset, or an admin; a task run's credential only
through a version its task created. A finalized version's version string never changes (409).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError as DuplicateRow
from sqlalchemy.orm import Session

from arno.core.dataset_schemas import DatasetVersionOut
from arno.core.errors import Conflict, Forbidden, Immutable, NotFound
from arno.core.ids import utcnow
from arno.db.engine import Database
from arno.db.models import DatasetRow, DatasetVersionRow, ProjectRow, TaskRow
from arno.services.dataset_query import get_version_row, version_outs, version_task
from arno.services.principal import Principal
from arno.services.projects import ensure_project


class DatasetChange(BaseModel):
    """``name`` and ``project`` apply to the whole dataset (all its versions); ``version`` to
    the version named in the path, which must be a draft."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=512)
    project: str | None = Field(default=None, min_length=1, max_length=512)
    version: str | None = Field(default=None, min_length=1, max_length=64)

    @model_validator(mode="after")
    def _something(self) -> DatasetChange:
        if self.name is None and self.project is None and self.version is None:
            raise ValueError("give at least one of name, project, version")
        if self.name is not None and not self.name.strip():
            raise ValueError("name is blank")
        if self.version is not None and not self.version.strip():
            raise ValueError("version is blank")
        return self


def _require_dataset_owner(s: Session, dataset: DatasetRow, vid: str, who: Principal) -> None:
    who.require_task_owner(version_task(s, vid), "this dataset version")
    if who.is_admin:
        return
    others = s.scalar(select(TaskRow.id).join(
        DatasetVersionRow, DatasetVersionRow.task_id == TaskRow.id).where(
        DatasetVersionRow.dataset_id == dataset.id,
        (TaskRow.owner_id != who.user_id) | TaskRow.owner_id.is_(None)).limit(1))
    if others is not None or dataset.owner_id not in (None, who.user_id):
        raise Forbidden("only an admin may rename or move a dataset that has versions of "
                        "other users")


def change_dataset(db: Database, vid: str, req: DatasetChange, who: Principal
                   ) -> DatasetVersionOut:
    with db.write() as s:
        row = get_version_row(s, vid, lock=True)
        dataset = s.get(DatasetRow, row.dataset_id, with_for_update=True)
        if dataset is None:  # pragma: no cover - a version always has its dataset
            raise NotFound(f"no dataset version {vid!r}")
        if req.name is not None or req.project is not None:
            _require_dataset_owner(s, dataset, vid, who)
        else:
            who.require_task_owner(version_task(s, vid), "this dataset version")
        if req.version is not None and req.version != row.version:
            if row.state == "final":
                raise Immutable(f"dataset version {vid} is finalized; its version string "
                                f"{row.version!r} cannot change")
            if s.scalar(select(DatasetVersionRow.task_id).where(
                    DatasetVersionRow.dataset_id == dataset.id,
                    DatasetVersionRow.version == req.version)) is not None:
                raise Conflict(f"dataset {dataset.name!r} already has version {req.version}")
            row.version = req.version
        if req.name is not None or req.project is not None:
            _rename(s, dataset, req.name, req.project, who)
        s.flush()
        return version_outs(s, [row])[0]


def _rename(s: Session, dataset: DatasetRow, name: str | None, project: str | None,
            who: Principal) -> None:
    new_name = name if name is not None else dataset.name
    proj_id = ensure_project(s, project, who.user_id).id if project else dataset.project_id
    if (new_name, proj_id) == (dataset.name, dataset.project_id):
        return
    taken = s.scalar(select(DatasetRow.id).where(
        DatasetRow.project_id == proj_id, DatasetRow.name == new_name,
        DatasetRow.id != dataset.id))
    if taken is not None:
        where = s.scalar(select(ProjectRow.name).where(ProjectRow.id == proj_id))
        raise Conflict(f"project {where!r} already has a dataset named {new_name!r}")
    try:
        with s.begin_nested():
            dataset.name, dataset.project_id = new_name, proj_id
            s.flush()
    except DuplicateRow:  # renamed to the same name at the same moment by another request
        raise Conflict(f"a dataset named {new_name!r} was just made there; "
                       "choose another name") from None
    ids = select(DatasetVersionRow.task_id).where(DatasetVersionRow.dataset_id == dataset.id)
    s.execute(update(TaskRow).where(TaskRow.id.in_(ids)).values(
        name=new_name, project_id=proj_id, updated_at=utcnow()))
