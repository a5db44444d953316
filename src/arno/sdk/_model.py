"""The model registry in the SDK, with ClearML's names: ``Model`` (a registered model, read
mostly), ``InputModel`` (a model a task uses) and ``OutputModel`` (a model a task creates, in
:mod:`arno.sdk._model_output`).

A task's use of an input model is recorded under a name (``PUT /tasks/{id}/models/input/
{name}``); under an agent, ``connect`` takes the model the server holds under that name, so
swapping the input model of a cloned task changes what the script loads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from arno.core.errors import ArnoError, NotFound
from arno.sdk import _context
from arno.sdk._model_base import (
    BaseModel,
    ModelList,
    check_labels,
    client,
    design_text,
    log,
)

if TYPE_CHECKING:
    from arno.sdk._task import Task

DEFAULT_IMPORT_PROJECT = "Models"
"""Project of an imported model when neither ``project`` nor a current task names one."""


class Model(BaseModel):
    """A registered model, by id: ``Model(model_id)``; unknown ids raise NotFound."""

    def __init__(self, model_id: str) -> None:
        self._session = _context.session()
        self._info = _get(self._session, model_id)

    @classmethod
    def _wrap(cls, info: dict[str, Any], session: Any = None) -> Model:
        model = cls.__new__(cls)
        model._session = session if session is not None else _context.session()
        model._info = info
        return model

    @staticmethod
    def query_models(project_name: str | None = None, model_name: str | None = None,
                     tags: Sequence[str] | None = None, only_published: bool = False,
                     include_archived: bool = False, max_results: int | None = None,
                     metadata: dict[str, str] | None = None) -> list[Model]:
        """Models matching every filter, newest first: ``project_name`` (exactly, with its
        subprojects), ``model_name`` (part of the name), ``tags`` (all of them; ``-tag``:
        without it), ``metadata`` (each key with that value)."""
        session = _context.session()
        filters: dict[str, Any] = {"sort": ["-created_at"]}
        if project_name:
            filters["project"] = project_name
        if model_name:
            filters["name"] = model_name
        if tags:
            filters["tag"] = list(tags)
        if only_published:
            filters["published"] = True
        if include_archived:
            filters["include_archived"] = True
        if metadata:
            filters["meta"] = [f"{k}={v}" for k, v in metadata.items()]
        rows = client(session).iterate(limit=max_results, **filters)
        return [Model._wrap(row, session) for row in rows]

    @staticmethod
    def remove(model: str | BaseModel, delete_weights_file: bool = True, force: bool = False,
               raise_on_errors: bool = False) -> bool:
        """Delete a model (a published one only with ``force``). Weights stored in Arno go
        with it once no other model or dataset holds their pieces; files at a registered URI
        are left where they are. Returns False on failure unless ``raise_on_errors``."""
        model_id = model.id if isinstance(model, BaseModel) else str(model)
        try:
            client().delete(model_id, force=force)
        except ArnoError as exc:
            if raise_on_errors:
                raise
            log.warning("arno: model %s was not removed: %s", model_id, exc)
            return False
        return True


def _get(session: Any, model_id: str) -> dict[str, Any]:
    try:
        return client(session).get(model_id)
    except NotFound:
        raise NotFound(f"no model {model_id!r}", details={"id": model_id}) from None


class InputModel(Model):
    """A model a task uses: by id, or the newest model of ``name`` in ``project`` (with all
    of ``tags``; only published ones with ``only_published``)."""

    def __init__(self, model_id: str | None = None, name: str | None = None,
                 project: str | None = None, tags: Sequence[str] | None = None,
                 only_published: bool = False) -> None:
        self._session = _context.session()
        if model_id:
            self._info = _get(self._session, model_id)
            return
        if not name and not project and not tags:
            raise ArnoError("InputModel needs model_id, or name (with project, tags)")
        filters: dict[str, Any] = {"sort": ["-created_at"]}
        if name:
            filters["name_regex"] = f"^{re.escape(name)}$"
        if project:
            filters["project"] = project
            filters["include_subprojects"] = False
        if tags:
            filters["tag"] = list(tags)
        if only_published:
            filters["published"] = True
        page = client(self._session).list(**filters, limit=1)
        if not page["items"]:
            where = f" in project {project!r}" if project else ""
            raise NotFound(f"no {'published ' if only_published else ''}model named "
                           f"{name!r}{where}" + (f" with tags {list(tags)}" if tags else ""))
        self._info = page["items"][0]

    @classmethod
    def import_model(cls, weights_url: str, config_text: str | None = None,
                     config_dict: dict[str, Any] | None = None,
                     label_enumeration: Mapping[str, int] | None = None, name: str | None = None,
                     project: str | None = None, tags: list[str] | None = None,
                     comment: str | None = None, is_package: bool = False,
                     create_as_published: bool = False, framework: str | None = None
                     ) -> InputModel:
        """Register weights at ``weights_url`` (s3, gs, azure, http(s)) as a model, nothing
        uploaded. A model already registered at that URI is reused (as ClearML does)."""
        session = _context.session()
        models = client(session)
        found = models.list(field=[f"uri={weights_url}"], include_archived=True,
                            sort=["-created_at"], limit=1)["items"]
        if found:
            return cls._wrap(found[0], session)  # type: ignore[return-value]
        from arno.sdk._task import Task

        current = Task.current_task()
        body: dict[str, Any] = {
            "name": name or weights_url.rstrip("/").rsplit("/", 1)[-1] or "Imported model",
            "project": project or (current.get_project_name() if current else
                                   DEFAULT_IMPORT_PROJECT),
            "framework": str(framework or ""), "tags": list(tags or []),
            "comment": comment or "", "labels": check_labels(label_enumeration),
            "design": design_text(config_text, config_dict) or "",
            "weights": {"uri": weights_url, "package": bool(is_package)},
        }
        info = models.create(body)
        model = cls._wrap(info, session)
        if create_as_published:
            model.publish()
        return model  # type: ignore[return-value]

    @classmethod
    def load_model(cls, weights_url: str, load_archived: bool = False) -> InputModel | None:
        """The model registered at ``weights_url``, or None."""
        session = _context.session()
        found = client(session).list(field=[f"uri={weights_url}"], sort=["-created_at"],
                                     include_archived=load_archived, limit=1)["items"]
        return cls._wrap(found[0], session) if found else None  # type: ignore[return-value]

    def connect(self, task: Task, name: str | None = None,
                ignore_remote_overrides: bool = False) -> None:
        """Record that ``task`` uses this model under ``name`` (default: the model's name).
        Run by an agent, the model the task holds under that name on the server is taken
        instead (unless ``ignore_remote_overrides``): this object becomes that model."""
        use = name or self.name or "Input Model"
        models = client(task._session)
        remote = getattr(task, "_parameters", None)
        if remote is not None and remote.remote is not None and not ignore_remote_overrides:
            held = {u["name"]: u["model"] for u in models.task_models(task.id)["input"]}
            if use in held:
                if held[use]["id"] != self.id:
                    log.info("arno: input model %r is %s on the server; using it",
                             use, held[use]["id"])
                    self._info = held[use]
                return
        models.use_input(task.id, use, self.id)


from arno.sdk._model_output import OutputModel  # noqa: E402 - it builds on the classes above

__all__ = ["InputModel", "Model", "ModelList", "OutputModel"]
