"""Bad input through the API: unknown ids, malformed or oversized bodies, changes a task's
state forbids. Each refusal leaves the stored data as it was."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import LiveServer, start_server

from arno.blobstore import hash_bytes

API = "/api/v1"
MISSING = "f" * 32
COMPLETED_MESSAGE = "task is completed; clone it to change it"


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    body = resp.json()
    assert list(body) == ["error"], body
    err = body["error"]
    assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def _task(c: httpx.Client, project: str = "bad/input", **extra) -> dict:
    body = {
        "project": project, "name": f"t-{uuid.uuid4().hex[:6]}",
        "hyperparams": [{"section": "General", "name": "lr", "value": "0.1", "type": "float"}],
        "configurations": [{"name": "prep", "value": "{\"scaler\": \"minmax\"}"}],
        "script": {"repository": "https://example.invalid/repo.git", "entry_point": "train.py"},
        **extra,
    }
    resp = c.post(f"{API}/tasks", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _status(c: httpx.Client, task_id: str, status: str) -> httpx.Response:
    return c.post(f"{API}/tasks/{task_id}/status", json={"status": status})


def _state(c: httpx.Client, task_id: str) -> dict:
    """Everything a user can read about a task, minus the update time."""
    detail = c.get(f"{API}/tasks/{task_id}").json()
    detail.pop("updated_at")
    return {
        "detail": detail,
        "scalars": c.get(f"{API}/tasks/{task_id}/scalars").json(),
        "console": c.get(f"{API}/tasks/{task_id}/console").json(),
        "single_values": c.get(f"{API}/tasks/{task_id}/single_values").json(),
        "plots": c.get(f"{API}/tasks/{task_id}/plots").json(),
        "artifacts": c.get(f"{API}/tasks/{task_id}/artifacts").json(),
    }


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


# ---- unknown ids ---------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", [MISSING, "not-an-id", "0" * 31 + "g"])
def test_unknown_task_is_404_everywhere(admin, task_id):
    t = f"{API}/tasks/{task_id}"
    calls = [
        ("GET", t, None),
        ("PATCH", t, {"name": "x"}),
        ("DELETE", t, None),
        ("POST", f"{t}/status", {"status": "queued"}),
        ("POST", f"{t}/archive", {"archived": True}),
        ("POST", f"{t}/clone", {}),
        ("GET", f"{t}/params", None),
        ("PUT", f"{t}/params", {"params": []}),
        ("GET", f"{t}/configurations", None),
        ("PUT", f"{t}/configurations", {"items": []}),
        ("GET", f"{t}/metrics", None),
        ("POST", f"{t}/events", {"batch_id": uuid.uuid4().hex}),
        ("GET", f"{t}/scalars", None),
        ("GET", f"{t}/console", None),
        ("GET", f"{t}/plots", None),
        ("GET", f"{t}/single_values", None),
        ("GET", f"{t}/debug_samples", None),
        ("GET", f"{t}/artifacts", None),
        ("GET", f"{t}/artifacts/model", None),
        ("PUT", f"{t}/artifacts/model", {"uri": "https://example.invalid/m"}),
        ("DELETE", f"{t}/artifacts/model", None),
    ]
    for method, path, body in calls:
        _error(admin.request(method, path, json=body), 404, "not_found")


def test_other_unknown_things_are_404(admin):
    _error(admin.get(f"{API}/projects/no/such/project"), 404, "not_found")
    _error(admin.delete(f"{API}/keys/NOSUCHKEY"), 404, "not_found")
    _error(admin.patch(f"{API}/users/nobody-{uuid.uuid4().hex[:6]}", json={"disabled": True}),
           404, "not_found")
    task = _task(admin)
    _error(admin.get(f"{API}/tasks/{task['id']}/artifacts/none"), 404, "not_found")
    _error(admin.get(f"{API}/blobs/{'a' * 64}"), 404)


# ---- malformed bodies ----------------------------------------------------------------------


def test_malformed_json_is_422(admin):
    task = _task(admin)
    before = _state(admin, task["id"])
    for method, path in [("POST", f"{API}/tasks"), ("PATCH", f"{API}/tasks/{task['id']}"),
                         ("POST", f"{API}/tasks/{task['id']}/events"),
                         ("PUT", f"{API}/tasks/{task['id']}/params")]:
        resp = admin.request(method, path, content=b'{"name": "x", ',
                             headers={"content-type": "application/json"})
        _error(resp, 422, "invalid_input")
    assert _state(admin, task["id"]) == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/tasks", {"name": "no project"}, "project"),
        ("/tasks", {"project": "p"}, "name"),
        ("/projects", {}, "name"),
        ("/users", {"password": "long-enough"}, "username"),
    ],
)
def test_missing_field_is_422_naming_it(admin, path, body, field):
    err = _error(admin.post(f"{API}{path}", json=body), 422, "invalid_input")
    assert field in err["message"]


def test_missing_event_field_is_422_naming_it(admin):
    task = _task(admin)
    err = _error(admin.post(f"{API}/tasks/{task['id']}/events", json={"console": []}), 422)
    assert "batch_id" in err["message"]
    err = _error(admin.put(f"{API}/tasks/{task['id']}/params",
                           json={"params": [{"section": "General", "value": "1"}]}), 422)
    assert "name" in err["message"]


def test_wrong_types_and_unknown_fields_are_422(admin):
    task = _task(admin)
    before = _state(admin, task["id"])
    _error(admin.patch(f"{API}/tasks/{task['id']}", json={"tags": "not-a-list"}), 422)
    _error(admin.patch(f"{API}/tasks/{task['id']}", json={"colour": "red"}), 422)
    _error(admin.post(f"{API}/tasks/{task['id']}/status", json={"status": "sleeping"}), 422)
    _error(admin.get(f"{API}/tasks", params={"limit": "many"}), 422)
    assert _state(admin, task["id"]) == before


def test_invalid_event_batch_stores_nothing(admin):
    task = _task(admin)
    before = _state(admin, task["id"])
    batch = {
        "batch_id": uuid.uuid4().hex,
        "console": [{"text": "would be stored", "timestamp": 1.0}],
        "single_values": [{"name": "acc", "value": 0.9, "timestamp": 1.0}],
        "scalars": [
            {"metric": "loss", "variant": "train", "iterations": [0, 1], "values": [1.0, 0.5],
             "timestamps": [1.0, 2.0]},
            {"metric": "loss", "variant": "val", "iterations": [0, 1], "values": [1.0],
             "timestamps": [1.0, 2.0]},
        ],
    }
    err = _error(admin.post(f"{API}/tasks/{task['id']}/events", json=batch), 422)
    assert "loss/val" in err["message"]
    assert _state(admin, task["id"]) == before
    # the same batch id, once corrected, is accepted: the refused one was not recorded
    batch["scalars"][1]["values"] = [1.0, 0.8]
    resp = admin.post(f"{API}/tasks/{task['id']}/events", json=batch)
    assert resp.status_code == 200 and resp.json()["duplicate"] is False


def test_refused_create_leaves_no_project_behind(admin):
    project = f"ghost-{uuid.uuid4().hex[:6]}/child"
    resp = admin.post(f"{API}/tasks", json={"project": project, "name": "x", "parent_id": MISSING})
    _error(resp, 404, "not_found")
    _error(admin.get(f"{API}/projects/{project}"), 404)
    _error(admin.get(f"{API}/projects/{project.split('/')[0]}"), 404)
    listed = admin.get(f"{API}/tasks", params={"project": project}).json()
    assert listed["total"] == 0


# ---- state that forbids a change -----------------------------------------------------------


def test_completed_task_inputs_are_immutable(admin):
    task = _task(admin)
    assert _status(admin, task["id"], "in_progress").status_code == 200
    assert _status(admin, task["id"], "completed").status_code == 200
    before = _state(admin, task["id"])
    t = f"{API}/tasks/{task['id']}"
    refused = [
        ("PUT", f"{t}/params", {"params": [{"section": "General", "name": "lr", "value": "9"}]}),
        ("PUT", f"{t}/params", {"params": [], "replace": True}),
        ("POST", f"{t}/params/delete", {"keys": ["General/lr"]}),
        ("PUT", f"{t}/configurations", {"items": [{"name": "prep", "value": "changed"}]}),
        ("PATCH", t, {"script": {"entry_point": "other.py"}}),
        ("PATCH", t, {"script": {"entry_point": "other.py"}, "comment": "and a comment"}),
    ]
    for method, path, body in refused:
        err = _error(admin.request(method, path, json=body), 409, "immutable")
        assert err["message"] == COMPLETED_MESSAGE, (method, path)
    assert _state(admin, task["id"]) == before
    # a clone is the way to change it
    clone = admin.post(f"{t}/clone", json={}).json()
    resp = admin.put(f"{API}/tasks/{clone['id']}/params",
                     json={"params": [{"section": "General", "name": "lr", "value": "9"}]})
    assert resp.status_code == 200
    assert admin.get(f"{t}/params").json()[0]["value"] == "0.1"


def test_completed_task_still_takes_notes(admin):
    task = _task(admin)
    assert _status(admin, task["id"], "completed").status_code == 200
    resp = admin.patch(f"{API}/tasks/{task['id']}", json={"comment": "good run", "tags": ["best"]})
    assert resp.status_code == 200
    assert resp.json()["comment"] == "good run" and resp.json()["tags"] == ["best"]


def test_published_task_rejects_events_and_changes(admin):
    task = _task(admin)
    ok = {"batch_id": uuid.uuid4().hex, "console": [{"text": "before", "timestamp": 1.0}]}
    assert admin.post(f"{API}/tasks/{task['id']}/events", json=ok).status_code == 200
    assert _status(admin, task["id"], "completed").status_code == 200
    assert _status(admin, task["id"], "published").status_code == 200
    before = _state(admin, task["id"])
    late = {"batch_id": uuid.uuid4().hex, "console": [{"text": "after", "timestamp": 2.0}],
            "scalars": [{"metric": "m", "variant": "v", "iterations": [1], "values": [1.0],
                         "timestamps": [2.0]}]}
    _error(admin.post(f"{API}/tasks/{task['id']}/events", json=late), 409, "immutable")
    _error(admin.patch(f"{API}/tasks/{task['id']}", json={"name": "renamed"}), 409, "immutable")
    _error(_status(admin, task["id"], "created"), 409)
    _error(admin.delete(f"{API}/tasks/{task['id']}"), 409)
    assert _state(admin, task["id"]) == before
    assert [line["text"] for line in before["console"]] == ["before"]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        (["completed"], "in_progress"),
        (["completed"], "queued"),
        (["in_progress"], "queued"),
        (["queued"], "published"),
        (["completed", "published"], "completed"),
    ],
)
def test_illegal_status_move_is_409(admin, path, illegal):
    task = _task(admin)
    for step in path:  # a task is queued by enqueue only (a status change has no queue)
        moved = (admin.post(f"{API}/tasks/{task['id']}/enqueue", json={}) if step == "queued"
                 else _status(admin, task["id"], step))
        assert moved.status_code == 200
    before = _state(admin, task["id"])
    err = _error(_status(admin, task["id"], illegal), 409, "conflict")
    assert path[-1] in err["message"] and illegal in err["message"]
    assert _state(admin, task["id"]) == before


def test_running_task_is_not_deleted_without_force(admin):
    task = _task(admin)
    assert _status(admin, task["id"], "in_progress").status_code == 200
    _error(admin.delete(f"{API}/tasks/{task['id']}"), 409, "conflict")
    assert admin.get(f"{API}/tasks/{task['id']}").status_code == 200
    assert admin.delete(f"{API}/tasks/{task['id']}", params={"force": True}).status_code == 204
    _error(admin.get(f"{API}/tasks/{task['id']}"), 404)


# ---- bodies over the configured limit ------------------------------------------------------


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("small-body-home")
    yield from start_server(home, None, "sqlite", max_body_bytes=10_000)


def _count(c: httpx.Client, project: str) -> int:
    return c.get(f"{API}/tasks", params={"project": project}).json()["total"]


def test_body_over_limit_is_413(small_server):
    with small_server.client() as c:
        big = {"project": "limits", "name": "big", "comment": "x" * 20_000}
        _error(c.post(f"{API}/tasks", json=big), 413, "payload_too_large")
        small = c.post(f"{API}/tasks", json={"project": "limits", "name": "small",
                                              "comment": "x" * 5_000})
        assert small.status_code == 201
        task_id = small.json()["id"]
        before = _state(c, task_id)
        batch = {"batch_id": uuid.uuid4().hex,
                 "console": [{"text": "y" * 20_000, "timestamp": 1.0}]}
        _error(c.post(f"{API}/tasks/{task_id}/events", json=batch), 413, "payload_too_large")
        assert _state(c, task_id) == before
        assert _count(c, "limits") == 1


def test_chunked_body_over_limit_is_413(small_server):
    import json

    body = json.dumps({"project": "chunked", "name": "big", "comment": "x" * 30_000}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    with small_server.client() as c:
        req = c.build_request("POST", f"{API}/tasks", content=chunks(),
                              headers={"content-type": "application/json"})
        assert "content-length" not in req.headers
        assert req.headers["transfer-encoding"] == "chunked"
        _error(c.send(req), 413, "payload_too_large")
        assert _count(c, "chunked") == 0
        # a small chunked body is fine
        ok = json.dumps({"project": "chunked", "name": "small"}).encode()
        resp = c.post(f"{API}/tasks", content=iter([ok[:10], ok[10:]]),
                      headers={"content-type": "application/json"})
        assert resp.status_code == 201, resp.text
        assert _count(c, "chunked") == 1


def test_blob_uploads_have_their_own_limit(small_server):
    data = b"z" * 50_000  # over the JSON body limit, well under the upload limit
    h = hash_bytes(data)
    with small_server.client() as c:
        resp = c.put(f"{API}/blobs/{h}", content=data)
        assert resp.status_code == 200, resp.text
        assert c.get(f"{API}/blobs/{h}").content == data
