"""The task API, typed: every ``/tasks`` path the client uses is written here once.

``TaskClient`` sits on a session (``ApiSession``, ``OfflineSession``, or an ``ApiSession`` over
an ``httpx.MockTransport`` in tests) and returns the server's JSON as plain dicts and lists. The
SDK's ``Task`` is a facade over it; the CLI and the agent can call it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import quote

BATCH_LIMIT = 1000
"""Tasks ``POST /tasks/batch`` takes in one request."""


class Session(Protocol):
    offline: bool
    host: str

    def get(self, path: str, **params: Any) -> Any: ...

    def post(self, path: str, body: Any = None, *, retry: bool | None = None) -> Any: ...

    def put(self, path: str, body: Any) -> Any: ...

    def patch(self, path: str, body: Any) -> Any: ...

    def delete(self, path: str, **params: Any) -> None: ...


def _path(task_id: str, *rest: str) -> str:
    return "/".join(["tasks", quote(str(task_id), safe=""), *rest])


class TaskClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- records ---------------------------------------------------------------------------
    def get(self, task_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.session.get(_path(task_id))
        return info

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = self.session.post("tasks", body)
        return info

    def create_many(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Several tasks in as few requests as the batch limit allows, in order. An item with
        ``clone_of`` is a clone of that task with the item's fields applied."""
        out: list[dict[str, Any]] = []
        for start in range(0, len(bodies), BATCH_LIMIT):
            chunk = bodies[start:start + BATCH_LIMIT]
            out.extend(self.session.post("tasks/batch", {"tasks": chunk})["tasks"])
        return out

    def patch(self, task_id: str, body: dict[str, Any]) -> dict[str, Any]:
        info: dict[str, Any] = self.session.patch(_path(task_id), body) or {}
        return info

    def delete(self, task_id: str, *, force: bool = False) -> None:
        self.session.delete(_path(task_id), force=force or None)

    def page(self, **query: Any) -> dict[str, Any]:
        page: dict[str, Any] = self.session.get("tasks", **query)
        return page

    def iterate(self, **query: Any) -> Iterator[dict[str, Any]]:
        """Every task matching ``query``, following the pages' cursors."""
        cursor = None
        while True:
            page = self.page(cursor=cursor, **query)
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # ---- status and queues -----------------------------------------------------------------
    def set_status(self, task_id: str, status: str, *, message: str = "",
                   force: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {"status": status}
        if message:
            body["message"] = message[-4000:]
        if force:
            body["force"] = True
        info: dict[str, Any] = self.session.post(_path(task_id, "status"), body)
        return info

    def archive(self, task_id: str, archived: bool = True) -> dict[str, Any]:
        info: dict[str, Any] = self.session.post(_path(task_id, "archive"),
                                                 {"archived": archived})
        return info

    def clone(self, task_id: str, *, name: str | None = None, parent_id: str | None = None,
              project: str | None = None) -> dict[str, Any]:
        info: dict[str, Any] = self.session.post(
            _path(task_id, "clone"), {"name": name, "parent_id": parent_id, "project": project})
        return info

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0,
                max_retries: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"queue": queue, "priority": priority}
        if max_retries is not None:
            body["max_retries"] = max_retries
        info: dict[str, Any] = self.session.post(_path(task_id, "enqueue"), body)
        # the task keeps the queue it was sent to (get_executed_queue) after it leaves it
        info.update(self.patch(task_id, {"runtime": {"queue": queue}}))
        return info

    def dequeue(self, task_id: str) -> dict[str, Any]:
        info: dict[str, Any] = self.session.post(_path(task_id, "dequeue"), {})
        return info

    def abort(self, task_id: str, message: str) -> str:
        return str(self.session.post(_path(task_id, "abort"), {"message": message})["state"])

    def reset_events(self, task_id: str) -> None:
        self.session.post(_path(task_id, "events/reset"), {})

    # ---- inputs: parameters and configuration ----------------------------------------------
    def params(self, task_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "params"))
        return rows

    def set_params(self, task_id: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.put(_path(task_id, "params"), {"params": rows})

    def delete_params(self, task_id: str, keys: list[str]) -> None:
        self.session.post(_path(task_id, "params/delete"), {"keys": keys})

    def configurations(self, task_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "configurations"))
        return rows

    def set_configurations(self, task_id: str, items: list[dict[str, Any]]) -> None:
        self.session.put(_path(task_id, "configurations"), {"items": items})

    # ---- outputs: what was reported --------------------------------------------------------
    def artifacts(self, task_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "artifacts"))
        return rows

    def metrics(self, task_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "metrics"))
        return rows

    def scalars(self, task_id: str, *, max_points: int | None = None,
                timestamps: bool = False) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(
            _path(task_id, "scalars"), max_points=max_points, timestamps=timestamps)
        return rows

    def single_values(self, task_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "single_values"))
        return rows

    def plots(self, task_id: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "plots"))
        return rows

    def debug_samples(self, task_id: str, metric: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "debug_samples"),
                                                      metric=metric)
        return rows

    def console(self, task_id: str, *, limit: int, tail: bool = True) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get(_path(task_id, "console"), limit=limit,
                                                      tail=tail)
        return rows

    def delete_artifact(self, task_id: str, name: str) -> None:
        self.session.delete(_path(task_id, "artifacts", quote(name, safe="")))

    # ---- around a task: projects, queues, workers ------------------------------------------
    def projects(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get("projects")
        return rows

    def project(self, ref: str) -> dict[str, Any]:
        """A project by id or by its full name."""
        info: dict[str, Any] = self.session.get("projects/" + quote(ref, safe="/"))
        return info

    def queue(self, ref: str) -> dict[str, Any]:
        """A queue by id or name (with its ``length``)."""
        info: dict[str, Any] = self.session.get("queues/" + quote(ref, safe=""))
        return info

    def queues(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get("queues")
        return rows

    def queue_entries(self, ref: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get("queues/" + quote(ref, safe="") +
                                                      "/entries")
        return rows

    def workers(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.session.get("workers")
        return rows
