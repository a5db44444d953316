"""Insecure direct object references: knowing (or guessing) the id of another user's task,
dataset version, API key or worker gives no power over it.

The server's rule (docs/security.md): reading is shared, changing is the owner's or an admin's.
For every changing route: no credentials -> 401, another user -> 403 (the server does not hide
that the thing exists: reading is shared anyway), the owner -> success, an admin -> success.
After each refused request the resource is compared with what it was before. On SQLite and
PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer

from arno.core.dataset_schemas import EMPTY_HASH


def _uid() -> str:
    return uuid.uuid4().hex[:8]


class World:
    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.owner_name = f"owner-{_uid()}"
        self.owner = self._client(*live.user(self.owner_name))
        self.other = self._client(*live.user(f"other-{_uid()}"))
        self.admin = live.client()
        self.anon = httpx.Client(base_url=live.url, timeout=30)
        self.queue = f"idor-{_uid()}"
        assert self.admin.post("/api/v1/queues", json={"name": self.queue}).status_code == 201

    def _client(self, key: str, secret: str) -> httpx.Client:
        return self.live.client(key, secret)

    def close(self) -> None:
        for c in (self.owner, self.other, self.admin, self.anon):
            c.close()

    # resources owned by the owner
    def task(self, **extra: Any) -> str:
        r = self.owner.post("/api/v1/tasks", json={
            "project": "idor/tasks", "name": f"t-{_uid()}", "comment": "original",
            "hyperparams": [{"section": "General", "name": "lr", "value": "0.1"}], **extra})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def task_state(self, tid: str) -> Any:
        r = self.admin.get(f"/api/v1/tasks/{tid}")
        if r.status_code == 404:
            return None
        return (r.json(), self.admin.get(f"/api/v1/tasks/{tid}/params").json(),
                self.admin.get(f"/api/v1/tasks/{tid}/artifacts").json(),
                self.admin.get(f"/api/v1/tasks/{tid}/console").json(),
                self.admin.get(f"/api/v1/queues/{self.queue}/entries").json())

    def dataset(self) -> str:
        r = self.owner.post("/api/v1/datasets", json={"name": f"d-{_uid()}",
                                                      "project": "idor/data"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def dataset_state(self, vid: str) -> Any:
        r = self.admin.get(f"/api/v1/datasets/{vid}")
        if r.status_code == 404:
            return None
        return r.json(), self.admin.get(f"/api/v1/datasets/{vid}/manifest").json()


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    w = World(server)
    try:
        yield w
    finally:
        w.close()


def refused_then_allowed(w: World, make: Callable[[], str], state: Callable[[str], Any],
                         method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,),
                         prepare: Callable[[str], None] | None = None) -> None:
    """``path`` (``{id}`` filled in) on a fresh resource: 401 without credentials, 403 for
    another user, each leaving the resource as it was; then it works for the owner, and for an
    admin on another fresh resource."""
    rid = make()
    if prepare:
        prepare(rid)
    url = path.format(id=rid)

    def kw() -> dict[str, Any]:
        return {} if body is None else {"json": body() if callable(body) else body}

    before = state(rid)
    r = w.anon.request(method, url, **kw())
    assert r.status_code == 401, (method, url, r.status_code, r.text)
    assert state(rid) == before, (method, url, "changed without credentials")
    r = w.other.request(method, url, **kw())
    assert r.status_code == 403, (method, url, r.status_code, r.text)
    assert r.json()["error"]["code"] == "forbidden"
    assert state(rid) == before, (method, url, "changed by another user")
    r = w.owner.request(method, url, **kw())
    assert r.status_code in ok, (method, url, "owner", r.status_code, r.text)
    assert state(rid) != before, (method, url, "the owner's change did nothing")
    rid2 = make()
    if prepare:
        prepare(rid2)
    before2 = state(rid2)
    r = w.admin.request(method, path.format(id=rid2), **kw())
    assert r.status_code in ok, (method, url, "admin", r.status_code, r.text)
    assert state(rid2) != before2


# ---- tasks ---------------------------------------------------------------------------------


def test_idor_another_users_task_cannot_be_edited_renamed_or_given_params(world):
    w = world
    refused_then_allowed(w, w.task, w.task_state, "PATCH", "/api/v1/tasks/{id}",
                         {"comment": "hijacked", "name": "hijacked"})
    refused_then_allowed(w, w.task, w.task_state, "PUT", "/api/v1/tasks/{id}/params",
                         {"params": [{"section": "General", "name": "lr", "value": "666"}]})
    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/archive",
                         {"archived": True})


def test_idor_another_users_task_cannot_be_deleted(world):
    w = world
    refused_then_allowed(w, w.task, w.task_state, "DELETE", "/api/v1/tasks/{id}", ok=(204,))


def test_idor_another_users_task_cannot_be_enqueued_aborted_or_reset(world):
    w = world
    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/enqueue",
                         {"queue": w.queue})

    def queued(tid: str) -> None:
        assert w.owner.post(f"/api/v1/tasks/{tid}/enqueue",
                            json={"queue": w.queue}).status_code == 200

    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/abort",
                         {"message": "stopped by someone else"}, prepare=queued)
    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/dequeue",
                         prepare=queued)

    def finished(tid: str) -> None:
        r = w.owner.post(f"/api/v1/tasks/{tid}/status", json={"status": "failed",
                                                               "force": True})
        assert r.status_code == 200, r.text

    # `arno task reset` is these two calls: back to draft, then its reports dropped
    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/status",
                         {"status": "created"}, prepare=finished)

    def reported(tid: str) -> None:
        r = w.owner.post(f"/api/v1/tasks/{tid}/events", json={
            "batch_id": uuid.uuid4().hex, "console": [{"text": "mine\n", "timestamp": 1.0}]})
        assert r.status_code == 200, r.text

    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/events/reset",
                         ok=(204,), prepare=reported)


def test_idor_another_users_task_cannot_receive_reports_or_artifacts(world):
    w = world
    refused_then_allowed(w, w.task, w.task_state, "POST", "/api/v1/tasks/{id}/events",
                         lambda: {"batch_id": uuid.uuid4().hex,
                                  "console": [{"text": "forged line\n", "timestamp": 1.0}]})
    refused_then_allowed(w, w.task, w.task_state, "PUT", "/api/v1/tasks/{id}/artifacts/model",
                         {"type": "file", "uri": "s3://elsewhere/model.bin"})

    def with_artifact(tid: str) -> None:
        assert w.owner.put(f"/api/v1/tasks/{tid}/artifacts/model", json={
            "type": "file", "uri": "s3://b/model.bin"}).status_code == 200

    refused_then_allowed(w, w.task, w.task_state, "DELETE", "/api/v1/tasks/{id}/artifacts/model",
                         ok=(204,), prepare=with_artifact)


def test_idor_cloning_another_users_task_is_allowed_and_the_clone_is_the_clones(world):
    """Reading is shared, so a clone (a new task, a copy of what anyone may read) is allowed;
    the clone belongs to whoever made it, and the original does not change."""
    w = world
    tid = w.task()
    before = w.task_state(tid)
    assert w.anon.post(f"/api/v1/tasks/{tid}/clone", json={}).status_code == 401
    r = w.other.post(f"/api/v1/tasks/{tid}/clone", json={"name": "my copy"})
    assert r.status_code == 201, r.text
    clone = r.json()
    other_id = w.other.get("/api/v1/me").json()["user_id"]
    assert clone["owner_id"] == other_id and clone["id"] != tid
    assert w.task_state(tid) == before
    # ... and the clone is the cloner's: its owner may change it, the original's may not
    assert w.other.patch(f"/api/v1/tasks/{clone['id']}", json={"comment": "mine"}
                         ).status_code == 200
    assert w.owner.patch(f"/api/v1/tasks/{clone['id']}", json={"comment": "x"}
                         ).status_code == 403


# ---- datasets ------------------------------------------------------------------------------

EMPTY_MANIFEST = {"files": [{"path": "empty.txt", "size": 0, "hash": EMPTY_HASH,
                             "pieces": []}]}


def test_idor_another_users_dataset_cannot_be_uploaded_finalized_or_deleted(world):
    w = world
    refused_then_allowed(w, w.dataset, w.dataset_state, "PUT", "/api/v1/datasets/{id}/manifest",
                         EMPTY_MANIFEST)

    def with_files(vid: str) -> None:
        assert w.owner.put(f"/api/v1/datasets/{vid}/manifest",
                           json=EMPTY_MANIFEST).status_code == 200

    refused_then_allowed(w, w.dataset, w.dataset_state, "POST", "/api/v1/datasets/{id}/finalize",
                         prepare=with_files)

    def final_dataset() -> str:
        vid = w.dataset()
        assert w.owner.put(f"/api/v1/datasets/{vid}/manifest",
                           json=EMPTY_MANIFEST).status_code == 200
        assert w.owner.post(f"/api/v1/datasets/{vid}/finalize").status_code == 200
        return vid

    refused_then_allowed(w, w.dataset, w.dataset_state, "DELETE", "/api/v1/datasets/{id}",
                         ok=(204,))
    refused_then_allowed(w, final_dataset, w.dataset_state, "DELETE", "/api/v1/datasets/{id}",
                         ok=(204,))
    # a child version of someone else's dataset is allowed (reading is shared) and is the
    # child's maker's; the parent stays as it was
    parent = final_dataset()
    before = w.dataset_state(parent)
    r = w.other.post("/api/v1/datasets", json={"name": "child", "project": "idor/other",
                                               "parents": [parent]})
    assert r.status_code == 201, r.text
    assert w.dataset_state(parent) == before


# ---- API keys ------------------------------------------------------------------------------


def _key_state(w: World, kid: str) -> Any:
    return next((k for k in w.admin.get("/api/v1/keys?all=true").json() if k["id"] == kid),
                None)


def test_idor_another_users_api_key_cannot_be_revoked_by_id_or_access_key(world):
    w = world
    for by in ("id", "access_key"):
        def make(by: str = by) -> str:
            r = w.owner.post("/api/v1/keys", json={"label": "victim"})
            assert r.status_code == 201
            return str(r.json()["id"])

        def state(kid: str) -> Any:
            return _key_state(w, kid)

        rid = make()
        ref = rid if by == "id" else state(rid)["access_key"]
        before = state(rid)
        assert w.anon.delete(f"/api/v1/keys/{ref}").status_code == 401
        r = w.other.delete(f"/api/v1/keys/{ref}")
        assert r.status_code == 403, (by, r.status_code, r.text)
        assert state(rid) == before and before["revoked_at"] is None
        assert w.owner.delete(f"/api/v1/keys/{ref}").status_code == 200
        assert state(rid)["revoked_at"] is not None
        rid2 = make()
        ref2 = rid2 if by == "id" else state(rid2)["access_key"]
        assert w.admin.delete(f"/api/v1/keys/{ref2}").status_code == 200
        assert state(rid2)["revoked_at"] is not None


def test_idor_key_listing_shows_only_your_own_keys(world):
    w = world
    owner_id = w.owner.get("/api/v1/me").json()["user_id"]
    assert w.owner.post("/api/v1/keys", json={"label": "listed"}).status_code == 201
    other_keys = w.other.get("/api/v1/keys").json()
    assert other_keys and all(k["user_id"] != owner_id for k in other_keys)
    assert w.other.get("/api/v1/keys", params={"all": "true"}).status_code == 403
    assert w.anon.get("/api/v1/keys").status_code == 401
    own = w.owner.get("/api/v1/keys").json()
    assert own and all(k["user_id"] == owner_id for k in own)
    assert all("secret" not in k and "secret_key" not in k for k in own)
    everyone = w.admin.get("/api/v1/keys", params={"all": "true"}).json()
    assert {k["user_id"] for k in everyone} > {owner_id}
    # a key made "for" someone else is an admin's act only
    r = w.other.post("/api/v1/keys", json={"user": w.owner_name, "label": "planted"})
    assert r.status_code == 403
    assert not [k for k in w.owner.get("/api/v1/keys").json() if k["label"] == "planted"]


# ---- workers -------------------------------------------------------------------------------


def _worker_state(w: World, wid: str) -> Any:
    found = next((x for x in w.admin.get("/api/v1/workers").json() if x["id"] == wid), None)
    if found is None:
        return None
    volatile = ("last_seen", "last_heartbeat", "stats", "updated_at")
    return {k: v for k, v in found.items() if k not in volatile}


def test_idor_another_users_worker_cannot_be_driven_or_unregistered(world):
    w = world
    w.queue = f"workers-{_uid()}"  # a queue of its own: nothing else waits in it
    assert w.admin.post("/api/v1/queues", json={"name": w.queue}).status_code == 201

    def make() -> str:
        wid = f"worker-{_uid()}"
        r = w.owner.post("/api/v1/workers", json={"id": wid, "queues": [w.queue],
                                                  "host": "owner-host"})
        assert r.status_code == 200, r.text
        return wid

    wid = make()
    tid = w.task()
    assert w.owner.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": w.queue}
                        ).status_code == 200
    calls = [
        ("POST", f"/api/v1/workers/{wid}/heartbeat", {"stats": {"cpu": 1}, "task_ids": []}),
        ("POST", f"/api/v1/workers/{wid}/dequeue", {"queues": [w.queue], "wait": 0}),
        ("POST", f"/api/v1/workers/{wid}/tasks/{tid}/done", {"exit_code": 0}),
        ("DELETE", f"/api/v1/workers/{wid}", None),
    ]
    for method, url, body in calls:
        kw = {"json": body} if body is not None else {}
        before = (_worker_state(w, wid), w.task_state(tid))
        assert w.anon.request(method, url, **kw).status_code == 401, url
        r = w.other.request(method, url, **kw)
        assert r.status_code == 403, (url, r.status_code, r.text)
        assert (_worker_state(w, wid), w.task_state(tid)) == before, url
    # the task is still queued: no one else took it through the worker
    assert w.task_state(tid)[0]["status"] == "queued"
    # another user cannot take over the worker's name either
    r = w.other.post("/api/v1/workers", json={"id": wid, "queues": [w.queue]})
    assert r.status_code == 409, r.text
    assert _worker_state(w, wid)["host"] == "owner-host"

    # the owner drives it: heartbeat, take the task, report its end, unregister
    assert w.owner.post(calls[0][1], json=calls[0][2]).status_code == 200
    got = w.owner.post(calls[1][1], json=calls[1][2]).json()
    assert got["task"] and got["task"]["id"] == tid
    assert w.owner.post(calls[2][1], json=calls[2][2]).status_code == 200
    assert w.task_state(tid)[0]["status"] == "completed"
    assert w.owner.delete(calls[3][1]).status_code == 204
    assert _worker_state(w, wid) is None

    # an admin may do the same to anyone's worker
    wid2 = make()
    tid2 = w.task()
    assert w.owner.post(f"/api/v1/tasks/{tid2}/enqueue", json={"queue": w.queue}
                        ).status_code == 200
    assert w.admin.post(f"/api/v1/workers/{wid2}/heartbeat", json={}).status_code == 200
    got = w.admin.post(f"/api/v1/workers/{wid2}/dequeue",
                       json={"queues": [w.queue], "wait": 0}).json()
    assert got["task"] and got["task"]["id"] == tid2
    assert w.admin.post(f"/api/v1/workers/{wid2}/tasks/{tid2}/done",
                        json={"exit_code": 1}).status_code == 200
    assert w.task_state(tid2)[0]["status"] == "failed"
    assert w.admin.delete(f"/api/v1/workers/{wid2}").status_code == 204
    assert _worker_state(w, wid2) is None
