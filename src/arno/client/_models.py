"""The model registry API, typed: every ``/models`` path (and a task's models) the client uses
is written here once. ``ModelClient`` returns the server's JSON as plain dicts; the SDK's
``Model``/``InputModel``/``OutputModel`` and the CLI sit on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from arno.client._tasks import Session


def _path(model_id: str, *rest: str) -> str:
    return "/".join(["models", quote(str(model_id), safe=""), *rest])


def _task_path(task_id: str, *rest: str) -> str:
    return "/".join(["tasks", quote(str(task_id), safe=""), "models", *rest])


class ModelClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- records -----------------------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """A model with every field (weights included) in one request."""
        info: dict[str, Any] = self.session.post("models", body)
        return info

    def list(self, **filters: Any) -> dict[str, Any]:
        """One page ``{items, total, next_cursor, columns}``; filters as ``GET /models`` takes
        them (lists for the repeatable ones)."""
        page: dict[str, Any] = self.session.get("models", **filters)
        return page

    def iterate(self, *, limit: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every model matching ``filters`` (at most ``limit``), page after page."""
        cursor: str | None = None
        given = 0
        while True:
            size = 500 if limit is None else max(1, min(500, limit - given))
            page = self.list(**filters, limit=size, cursor=cursor)
            for item in page["items"]:
                yield item
                given += 1
                if limit is not None and given >= limit:
                    return
            cursor = page.get("next_cursor")
            if not cursor or not page["items"]:
                return

    def get(self, model_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.session.get(_path(model_id))
        return info

    def update(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = self.session.patch(_path(model_id), body)
        return info

    def set_weights(self, model_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``{"uri": ...}`` (registered) or ``{"files": [...]}`` (pieces stored already)."""
        info: dict[str, Any] = self.session.put(_path(model_id, "weights"), body)
        return info

    def weights(self, model_id: str) -> dict[str, Any]:
        """``{uri, files, package, size, hash}``."""
        info: dict[str, Any] = self.session.get(_path(model_id, "weights"))
        return info

    def publish(self, model_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.session.post(_path(model_id, "publish"))
        return info

    def archive(self, model_id: str, archived: bool = True) -> dict[str, Any]:
        info: dict[str, Any] = self.session.post(_path(model_id, "archive"),
                                                 {"archived": archived})
        return info

    def delete(self, model_id: str, force: bool = False) -> None:
        self.session.delete(_path(model_id), force=force)

    def lineage(self, model_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.session.get(_path(model_id, "lineage"))
        return info

    # ---- a task's models ---------------------------------------------------------------------
    def task_models(self, task_id: str) -> dict[str, Any]:
        """``{"input": [{"name", "model"}], "output": [{"name", "model"}]}``."""
        info: dict[str, Any] = self.session.get(_task_path(task_id))
        return info

    def use_input(self, task_id: str, name: str, model_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.session.put(
            _task_path(task_id, "input", quote(name, safe="")), {"model_id": model_id})
        return info

    def remove_input(self, task_id: str, name: str) -> None:
        self.session.delete(_task_path(task_id, "input", quote(name, safe="")))
