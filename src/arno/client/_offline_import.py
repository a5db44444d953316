"""``import_offline_task``: replay an offline task's recorded calls on a server.

A package is data from anywhere, replayed with the importer's credentials, so only what the
offline recorder itself writes is replayed, and only on the task the import creates:

    POST  tasks                              the task (once, first; no parent)
    PATCH tasks/<id>                         name, tags, comment, properties, script, runtime
    POST  tasks/<id>/status                  in_progress, completed, failed, stopped, published
    PUT   tasks/<id>/params                  parameters
    POST  tasks/<id>/params/delete           parameters removed
    PUT   tasks/<id>/configurations          configuration objects
    POST  tasks/<id>/archive                 archived or restored
    POST  tasks/<id>/events                  a batch of reports (debug samples: package blobs)
    PUT   tasks/<id>/artifacts/<name>        an artifact whose blob is in the package

``<id>`` is the recorded task's id, replaced by the new task's. Every body is validated
against the API's schema, and every blob a body refers to must be in the package. The whole
package is checked before the first request: a package with anything else changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, ValidationError

from arno.client._offline import FORMAT
from arno.client._offline_package import Package, PackageLimits, open_package
from arno.core.errors import InvalidInput
from arno.core.schemas import (
    ArtifactCreate,
    ConfigurationItem,
    EventBatch,
    HyperParam,
    StatusChange,
    TaskCreate,
    TaskUpdate,
)
from arno.core.status import TaskStatus

_ID = re.compile(r"[0-9a-f]{32}")
_CREATE_STATUSES = {TaskStatus.created, TaskStatus.in_progress}
_STATUSES = {TaskStatus.in_progress, TaskStatus.completed, TaskStatus.failed,
             TaskStatus.stopped, TaskStatus.published}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Params(_Body):
    params: list[HyperParam]
    replace: bool = False


class _ParamKeys(_Body):
    keys: list[str]


class _Configs(_Body):
    items: list[ConfigurationItem]


class _Archive(_Body):
    archived: bool = True


_ROUTES: dict[tuple[str, str], type[BaseModel]] = {
    ("PATCH", ""): TaskUpdate,
    ("POST", "/status"): StatusChange,
    ("PUT", "/params"): _Params,
    ("POST", "/params/delete"): _ParamKeys,
    ("PUT", "/configurations"): _Configs,
    ("POST", "/archive"): _Archive,
    ("POST", "/events"): EventBatch,
}


@dataclass
class _Call:
    method: str
    tail: str  # the path after ``tasks/<id>``, already quoted
    body: Any
    blobs: set[str]


class _Checker:
    def __init__(self, source: Path, package: Package, old_id: str) -> None:
        self.source = source
        self.package = package
        self.old_id = old_id

    def refuse(self, lineno: int, what: str) -> InvalidInput:
        return InvalidInput(f"{self.source.name}: calls.jsonl line {lineno}: {what}; "
                            "nothing was imported")

    def validate(self, lineno: int, model: type[BaseModel], body: Any) -> BaseModel:
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "body"
            raise self.refuse(lineno, f"invalid body ({where}: {err['msg']})") from None

    def blob(self, lineno: int, hash_: str | None, what: str) -> set[str]:
        if hash_ is None:
            return set()
        if hash_ not in self.package.blobs:
            raise self.refuse(lineno, f"{what} refers to blob {hash_}, which is not in the "
                                      "package")
        return {hash_}

    def create(self, lineno: int, body: Any) -> _Call:
        task = self.validate(lineno, TaskCreate, body)
        assert isinstance(task, TaskCreate)
        if task.parent_id is not None:
            raise self.refuse(lineno, "the task names a parent task")
        if task.status not in _CREATE_STATUSES:
            raise self.refuse(lineno, f"the task is created as {task.status.value}")
        return _Call("POST", "", body, set())

    def call(self, lineno: int, method: str, path: str, body: Any) -> _Call:
        prefix = f"tasks/{self.old_id}"
        tail = path[len(prefix):] if path.startswith(prefix) else None
        if tail is not None and tail.startswith("/artifacts/") and method == "PUT":
            return self.artifact(lineno, tail[len("/artifacts/"):], body)
        model = _ROUTES.get((method, tail)) if tail is not None else None
        if model is None:
            raise self.refuse(lineno, f"{method} {path} is not a call an offline task makes "
                                      "on its own task")
        checked = self.validate(lineno, model, body)
        blobs: set[str] = set()
        if isinstance(checked, StatusChange) and checked.status not in _STATUSES:
            raise self.refuse(lineno, f"status {checked.status.value} is not replayed")
        if isinstance(checked, EventBatch):
            for sample in checked.debug_samples:
                blobs |= self.sample(lineno, sample.hash, sample.url)
        return _Call(method, tail, body, blobs)

    def sample(self, lineno: int, hash_: str | None, url: str) -> set[str]:
        blobs = self.blob(lineno, hash_, "a debug sample")
        own = f"arno://blobs/{hash_}" if hash_ else None
        if url and url != own and not url.startswith(("http://", "https://")):
            raise self.refuse(lineno, f"a debug sample points at {url[:100]!r}")
        return blobs

    def artifact(self, lineno: int, name: str, body: Any) -> _Call:
        if (not name or len(name) > 256 or name in (".", "..") or "/" in name
                or any(ord(c) < 32 for c in name)):
            raise self.refuse(lineno, f"invalid artifact name {name[:100]!r}")
        art = self.validate(lineno, ArtifactCreate, body)
        assert isinstance(art, ArtifactCreate)
        if art.uri or art.hash is None:
            raise self.refuse(lineno, f"artifact {name!r} is not a blob in the package")
        blobs = self.blob(lineno, art.hash, f"artifact {name!r}")
        return _Call("PUT", f"/artifacts/{quote(name, safe='')}", body, blobs)


def _lines(source: Path, path: Path, limit: int) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as fh:
        lineno = 0
        while line := fh.readline(limit + 1):
            lineno += 1
            if len(line) > limit:
                raise InvalidInput(f"{source.name}: calls.jsonl line {lineno} is over {limit} "
                                   "bytes; nothing was imported")
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except ValueError:
                raise InvalidInput(f"{source.name}: calls.jsonl line {lineno} is not JSON; "
                                   "nothing was imported") from None


def _calls(checker: _Checker, path: Path, limit: int) -> Iterator[_Call]:
    """Every recorded call, checked; raises on the first that is refused."""
    created = False
    for lineno, raw in _lines(checker.source, path, limit):
        if not isinstance(raw, dict) or set(raw) != {"method", "path", "body"}:
            raise checker.refuse(lineno, "not a recorded call")
        method, path_, body = raw["method"], raw["path"], raw["body"]
        if not isinstance(method, str) or not isinstance(path_, str):
            raise checker.refuse(lineno, "not a recorded call")
        if method == "POST" and path_ == "tasks":
            if created:
                raise checker.refuse(lineno, "a second task is created")
            created = True
            yield checker.create(lineno, body)
            continue
        if not created:
            raise checker.refuse(lineno, "a call before the task is created")
        yield checker.call(lineno, method, path_, body)
    if not created:
        raise InvalidInput(f"{checker.source.name}: no task recorded; nothing was imported")


def _read_json(source: Path, path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InvalidInput(f"{source.name}: {path.name} cannot be read") from None


def import_offline_task(
    session: Any, source: Path, workdir: Path, limits: PackageLimits | None = None
) -> str:
    """Replay an offline task on the server behind ``session``; return the new task id.

    Refuses (``InvalidInput``, nothing sent) a package holding anything the offline recorder
    does not write; see the module's docstring."""
    limits = limits or PackageLimits()
    package = open_package(source, workdir, limits)
    root = package.root
    meta_path, calls_path = root / "meta.json", root / "calls.jsonl"
    if not meta_path.is_file() or not calls_path.is_file() or not (root / "task.json").is_file():
        raise InvalidInput(f"{source} is not an Arno offline task (no meta.json / calls.jsonl)")
    meta = _read_json(source, meta_path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InvalidInput(f"{source}: unsupported offline format")
    task = _read_json(source, root / "task.json")
    old_id = task.get("id") if isinstance(task, dict) else None
    if not isinstance(old_id, str) or not _ID.fullmatch(old_id):
        raise InvalidInput(f"{source.name}: task.json holds no task id; nothing was imported")
    checker = _Checker(source, package, old_id)

    needed: set[str] = set()
    for call in _calls(checker, calls_path, limits.max_call_bytes):  # all checked first
        needed |= call.blobs
    for hash_ in sorted(needed):
        session.upload_file(package.blobs[hash_])
    new_id: str | None = None
    for call in _calls(checker, calls_path, limits.max_call_bytes):
        if new_id is None:
            new_id = str(session.post("tasks", call.body)["id"])
            continue
        session.request(call.method, f"tasks/{new_id}{call.tail}", json_body=call.body,
                        retry=True)
    assert new_id is not None
    return new_id
