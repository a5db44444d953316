"""``POST /api/v1/tasks/batch``: many tasks in one request and one transaction, plain or as
clones of another task with fields of their own on top. Against a live server on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import LiveServer

API = "/api/v1"
BATCH = f"{API}/tasks/batch"


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is ``status`` with the JSON error body ``{"error": {code, message}}``."""
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    body = resp.json()
    assert list(body) == ["error"], body
    err = body["error"]
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def _project() -> str:
    return f"batch/{uuid.uuid4().hex[:8]}"


def _params(n: int, seed: int) -> list[dict]:
    return [{"section": "General", "name": f"p{j}", "value": str(seed * 10 + j)}
            for j in range(n)]


def _count(client: httpx.Client, project: str) -> int:
    resp = client.get(f"{API}/tasks", params={"project": project, "limit": 1})
    assert resp.status_code == 200, resp.text
    return int(resp.json()["total"])


def _detail(client: httpx.Client, task_id: str) -> dict:
    resp = client.get(f"{API}/tasks/{task_id}")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _created(resp: httpx.Response) -> list[dict]:
    assert resp.status_code == 201, resp.text
    assert list(resp.json()) == ["tasks"]
    return list(resp.json()["tasks"])


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def test_a_batch_round_trips_in_request_order(admin):
    project = _project()
    items = [{"project": project, "name": f"trial {i}", "tags": [f"t{i}", "sweep"],
              "hyperparams": _params(5, i), "comment": f"c{i}"} for i in range(6)]
    items[2]["type"] = "testing"
    items[3]["configurations"] = [{"name": "prep", "value": "{\"k\": 3}"}]
    items[4]["script"] = {"entry_point": "train.py", "repository": "https://example.invalid/r"}
    items[5]["status"] = "in_progress"
    tasks = _created(admin.post(BATCH, json={"tasks": items}))
    single = admin.post(f"{API}/tasks", json={"project": project, "name": "single"})
    assert single.status_code == 201, single.text

    assert [t["name"] for t in tasks] == [f"trial {i}" for i in range(6)]
    assert len({t["id"] for t in tasks}) == 6
    assert all(set(t) == set(single.json()) for t in tasks)  # what POST /tasks answers
    for i, task in enumerate(tasks):
        stored = _detail(admin, task["id"])
        assert {k: stored[k] for k in task} == task  # the reply is what was stored
        assert task["project"] == project and task["owner"] == "admin"
        assert task["tags"] == [f"t{i}", "sweep"] and task["comment"] == f"c{i}"
        assert task["created_by_task_id"] is None and task["parent_id"] is None
        assert stored["hyperparams"] == [{**p, "type": "", "description": ""}
                                         for p in _params(5, i)]
    assert [t["type"] for t in tasks] == ["training"] * 2 + ["testing"] + ["training"] * 3
    assert _detail(admin, tasks[3]["id"])["configurations"][0]["value"] == "{\"k\": 3}"
    assert tasks[4]["script"]["entry_point"] == "train.py"
    assert tasks[5]["status"] == "in_progress" and tasks[5]["started_at"] is not None
    assert tasks[0]["status"] == "created" and tasks[0]["started_at"] is None

    # listed newest first, as if created one by one in the request's order
    listed = admin.get(f"{API}/tasks", params={"project": project, "limit": 10}).json()
    assert [t["name"] for t in listed["items"]] == ["single"] + [
        f"trial {i}" for i in reversed(range(6))]
    assert admin.get(f"{API}/tasks", params={"tag": "sweep", "project": project}
                     ).json()["total"] == 6
    # the project's counters include them
    proj = admin.get(f"{API}/projects/{project}").json()
    assert proj["task_count"] == 7


def test_a_clone_item_is_its_source_with_the_given_fields_on_top(admin):
    project = _project()
    src = admin.post(f"{API}/tasks", json={
        "project": project, "name": "base", "type": "testing", "tags": ["base"],
        "comment": "the base", "script": {"entry_point": "hpo.py", "commit": "abc123"},
        "hyperparams": [{"section": "Args", "name": "lr", "value": "0.1", "type": "float"},
                        {"section": "Args", "name": "epochs", "value": "10"},
                        {"section": "General", "name": "seed", "value": "1"}],
        "configurations": [{"name": "model", "value": "a: 1", "type": "yaml"}],
        "user_properties": {"team": "x", "keep": 1},
    })
    assert src.status_code == 201, src.text
    base = src.json()
    other = _project()
    tasks = _created(admin.post(BATCH, json={"tasks": [
        {"clone_of": base["id"]},
        {"clone_of": base["id"], "name": "trial lr=0.01", "tags": ["hpo"],
         "hyperparams": [{"section": "Args", "name": "lr", "value": "0.01"},
                         {"section": "Args", "name": "batch", "value": "64"}],
         "configurations": [{"name": "extra", "value": "{}"}],
         "user_properties": {"team": "y"}, "project": other},
        {"project": project, "name": "plain", "hyperparams": _params(1, 7)},
    ]}))
    plain_clone, trial, plain = tasks

    assert plain_clone["name"] == "base (clone)" and plain_clone["parent_id"] == base["id"]
    assert trial["name"] == "trial lr=0.01" and trial["parent_id"] == base["id"]
    for clone in (plain_clone, trial):
        assert clone["script"] == base["script"] and clone["type"] == "testing"
        assert clone["comment"] == "the base" and clone["status"] == "created"
    assert plain_clone["project"] == project and trial["project"] == other
    assert plain_clone["tags"] == ["base"] and trial["tags"] == ["hpo"]
    assert trial["user_properties"] == {"team": "y", "keep": 1}

    def params(task_id: str) -> dict[str, str]:
        return {f"{p['section']}/{p['name']}": p["value"]
                for p in _detail(admin, task_id)["hyperparams"]}

    assert params(plain_clone["id"]) == params(base["id"]) == {
        "Args/lr": "0.1", "Args/epochs": "10", "General/seed": "1"}
    assert params(trial["id"]) == {"Args/lr": "0.01", "Args/epochs": "10", "General/seed": "1",
                                   "Args/batch": "64"}
    assert {c["name"] for c in _detail(admin, trial["id"])["configurations"]} == {
        "model", "extra"}
    assert params(plain["id"]) == {"General/p0": "70"} and plain["parent_id"] is None
    # the source is untouched, and a clone made by the clone route is the same
    assert _detail(admin, base["id"])["hyperparams"][0]["value"] == "10"
    single = admin.post(f"{API}/tasks/{base['id']}/clone", json={}).json()
    skip = {"id", "created_at", "updated_at"}
    assert {k: v for k, v in single.items() if k not in skip} == {
        k: v for k, v in plain_clone.items() if k not in skip}


@pytest.mark.parametrize(("bad", "status", "field"), [
    ({"project": "p"}, 422, "name"),                               # schema: missing field
    ({"name": "n", "project": "p", "hyperparams": [{"section": "S"}]}, 422, "name"),
    ({"name": "n", "project": "a//b"}, 422, "project"),            # service: bad project path
    ({"name": "n", "project": "p", "status": "queued"}, 422, "status"),
    ({"name": "n", "project": "p", "parent_id": "f" * 32}, 404, "parent_id"),
    ({"clone_of": "f" * 32}, 404, "clone_of"),
    ({"clone_of": "not-an-id"}, 404, "clone_of"),
])
def test_one_bad_item_and_nothing_is_written(admin, bad, status, field):
    project = _project()
    items = [{"project": project, "name": f"ok {i}", "hyperparams": _params(2, i)}
             for i in range(4)]
    items.insert(2, {**bad, "project": project} if bad.get("project") == "p" else bad)
    resp = admin.post(BATCH, json={"tasks": items})
    err = _error(resp, status)
    if status == 422 and "details" in err and "errors" in err["details"]:  # the schema's
        assert err["details"]["errors"][0]["loc"][:3] == ["body", "tasks", "2"]
        assert field in err["message"]
    else:
        assert err["details"] == {"index": 2, "field": field}
        assert err["message"].startswith(f"tasks[2].{field}: ")
    assert _count(admin, project) == 0
    _error(admin.get(f"{API}/projects/{project}"), 404)  # not even its project


def test_the_size_of_a_batch_is_bounded(admin):
    project = _project()
    item = {"project": project, "name": "n"}
    err = _error(admin.post(BATCH, json={"tasks": [item] * 1001}), 422, "invalid_input")
    assert "1000" in err["message"]
    _error(admin.post(BATCH, json={"tasks": []}), 422, "invalid_input")
    _error(admin.post(BATCH, json={}), 422, "invalid_input")
    assert _count(admin, project) == 0
    tasks = _created(admin.post(BATCH, json={"tasks": [item] * 1000}))
    assert len(tasks) == len({t["id"] for t in tasks}) == _count(admin, project) == 1000


def test_the_clone_route_shares_the_path_and_its_answers(admin):
    """``POST /tasks/{id}/clone`` goes through the batch's code: its errors stay its own."""
    for missing in ("0" * 32, "a" * 100, "not-an-id"):
        err = _error(admin.post(f"{API}/tasks/{missing}/clone", json={}), 404, "not_found")
        assert "details" not in err and err["message"] == f"no task {missing!r}"
    _error(admin.post(f"{API}/tasks", json={"project": "p", "name": "n", "status": "queued"}),
           422, "invalid_input")


# ---- who may ---------------------------------------------------------------------------------


def test_no_credentials_is_401_and_writes_nothing(server):
    project = _project()
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        for body in ({"tasks": [{"project": project, "name": "x"}]}, {"tasks": "not a list"}):
            _error(anon.post(BATCH, json=body), 401, "unauthorized")
    with server.client(server.admin_key, "wrong-secret") as wrong:
        _error(wrong.post(BATCH, json={"tasks": [{"project": project, "name": "x"}]}), 401)
    with server.client() as admin:
        assert _count(admin, project) == 0


def test_owner_other_user_and_admin(server, admin):
    """Creating is open to every user, and so is cloning (reading is open to every user, and
    cloning is reading): the new tasks belong to the caller, the source is untouched. Only a
    task that does not exist cannot be cloned."""
    project = _project()
    alice = server.user(f"alice{uuid.uuid4().hex[:6]}")
    bob = server.user(f"bob{uuid.uuid4().hex[:6]}")
    with server.client(*alice) as owner, server.client(*bob) as other:
        base = owner.post(f"{API}/tasks", json={"project": project, "name": "alice's",
                                                "hyperparams": _params(2, 1)}).json()
        before = _detail(owner, base["id"])
        me = owner.get(f"{API}/me").json()
        for who in (owner, other, admin):
            caller = who.get(f"{API}/me").json()
            tasks = _created(who.post(BATCH, json={"tasks": [
                {"clone_of": base["id"], "hyperparams": [
                    {"section": "General", "name": "p0", "value": "99"}]},
                {"project": project, "name": "own"},
            ]}))
            assert [t["owner_id"] for t in tasks] == [caller["user_id"]] * 2
            assert tasks[0]["parent_id"] == base["id"]
            # the caller may change what it made
            assert who.patch(f"{API}/tasks/{tasks[0]['id']}", json={"comment": "mine"}
                             ).status_code == 200
        assert caller["user_id"] != me["user_id"]
        assert _detail(owner, base["id"]) == before
        # a clone of a task that does not exist
        err = _error(other.post(BATCH, json={"tasks": [{"clone_of": "0" * 32}]}), 404)
        assert err["details"] == {"index": 0, "field": "clone_of"}
        # another user still cannot change the owner's task
        _error(other.patch(f"{API}/tasks/{base['id']}", json={"comment": "x"}), 403)


def _run_credential(server: LiveServer, admin: httpx.Client) -> tuple[str, tuple[str, str]]:
    """A task queued and taken by a worker: (its id, the run credential it got)."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    assert admin.post(f"{API}/queues", json={"name": queue}).status_code == 201
    wid = f"w-{uuid.uuid4().hex[:8]}"
    assert admin.post(f"{API}/workers", json={"id": wid, "queues": [queue]}).status_code == 200
    tid = admin.post(f"{API}/tasks", json={"project": _project(), "name": "runner"}).json()["id"]
    r = admin.post(f"{API}/tasks/{tid}/enqueue", json={"queue": queue})
    assert r.status_code == 200, r.text
    reply = admin.post(f"{API}/workers/{wid}/dequeue", json={"queues": [queue], "wait": 5})
    assert reply.status_code == 200 and reply.json()["task"]["id"] == tid, reply.text
    cred = reply.json()["credential"]
    return tid, (cred["access_key"], cred["secret_key"])


def test_a_runs_credential_marks_what_it_creates(server, admin):
    base = admin.post(f"{API}/tasks", json={"project": _project(), "name": "step base"}).json()
    run_id, cred = _run_credential(server, admin)
    with server.client(*cred) as run:
        tasks = _created(run.post(BATCH, json={"tasks": [
            {"clone_of": base["id"], "name": "step 1"},
            {"project": "pipelines/steps", "name": "step 2"},
        ]}))
        assert [t["created_by_task_id"] for t in tasks] == [run_id, run_id]
        # what the run created it may change; the task it cloned it may not
        assert run.patch(f"{API}/tasks/{tasks[0]['id']}", json={"comment": "ok"}
                         ).status_code == 200
        _error(run.patch(f"{API}/tasks/{base['id']}", json={"comment": "no"}), 403)
