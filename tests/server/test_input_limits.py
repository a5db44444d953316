"""Limits on what a request may store or ask for: regular expressions of bounded cost, depth
and size of free-form JSON, length of text, integers a column can hold; a queued task that
leaves its queue by any path can be queued again; credentials are checked before a body is.
Each refusal is a 422 (or 401) before anything is written, never a 500."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer

API = "/api/v1"


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    err = resp.json()["error"]
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def _task(c: httpx.Client, **extra: Any) -> dict:
    body = {"project": "limits", "name": f"t-{uuid.uuid4().hex[:8]}", **extra}
    resp = c.post(f"{API}/tasks", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _nested(depth: int) -> dict:
    """An object ``depth`` levels deep (itself the first)."""
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# ---- item 5: regular expressions ----------------------------------------------------------


def test_a_catastrophic_regex_answers_at_once(admin):
    """``^(a+)+$`` against a long run of a's followed by another letter takes a backtracking
    engine 2^n steps, holding the GIL (the whole server froze); RE2 is linear."""
    _task(admin, name="a" * 40 + "!")
    started = time.monotonic()
    resp = admin.get(f"{API}/tasks", params={"name_regex": "^(a+)+$", "limit": 5}, timeout=60)
    elapsed = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    # a backtracking engine needs about 2^40 steps here (hours): any bound tells them apart,
    # and a generous one keeps a loaded machine from failing the test
    assert elapsed < 20, f"regex filter took {elapsed:.1f} s"
    assert all(t["name"] != "a" * 40 + "!" for t in resp.json()["items"])


def test_regex_filters_still_match(admin):
    task = _task(admin, name=f"regex-{uuid.uuid4().hex[:6]}-run42")
    resp = admin.get(f"{API}/tasks", params={"name_regex": r"^regex-[0-9a-f]{6}-run4\d$",
                                             "limit": 1000})
    assert resp.status_code == 200, resp.text
    assert task["id"] in [t["id"] for t in resp.json()["items"]]


@pytest.mark.parametrize("pattern", ["(", "[a-", r"(a)\1", "a{1001}", "x" * 257])
def test_bad_or_long_regex_is_422(admin, pattern):
    _error(admin.get(f"{API}/tasks", params={"name_regex": pattern}), 422, "invalid_input")


def test_a_regex_at_the_length_limit_is_taken(admin):
    assert admin.get(f"{API}/tasks", params={"name_regex": "a?" * 128}).status_code == 200


# ---- item 6: depth and size of free-form JSON ---------------------------------------------


def test_deeply_nested_user_properties_are_refused_and_listing_survives(admin):
    before = admin.get(f"{API}/tasks", params={"limit": 1000}).json()["total"]
    _error(admin.post(f"{API}/tasks", json={"project": "limits", "name": "deep",
                                            "user_properties": _nested(300)}),
           422, "invalid_input")
    listing = admin.get(f"{API}/tasks", params={"limit": 1000})
    assert listing.status_code == 200, listing.text
    assert listing.json()["total"] == before  # nothing was stored
    assert _task(admin, user_properties=_nested(32))["user_properties"] == _nested(32)
    _error(admin.post(f"{API}/tasks", json={"project": "limits", "name": "deep",
                                            "user_properties": _nested(33)}), 422)


def _worker(c: httpx.Client, **extra: Any) -> httpx.Response:
    return c.post(f"{API}/workers", json={"id": f"w-{uuid.uuid4().hex[:8]}",
                                          "queues": ["default"], **extra})


@pytest.mark.parametrize("where", [
    "create.user_properties", "create.runtime", "create.script", "patch.user_properties",
    "patch.runtime", "worker.info", "heartbeat.stats", "artifact.metadata", "plot.figure",
])
@pytest.mark.parametrize("bad", ["deep", "large"])
def test_every_free_form_json_field_is_bounded(admin, where, bad):
    value: Any = _nested(40) if bad == "deep" else {"blob": "x" * (1024 * 1024 + 1)}
    if where == "plot.figure" and bad == "large":
        value = {"data": ["x" * (16 * 1024 * 1024 + 1)]}
    if where == "create.script" and bad == "large":
        value = {"extra": ["x" * (8 * 1024 * 1024 + 1)]}
    kind, field = where.split(".")
    if kind == "create":
        resp = admin.post(f"{API}/tasks", json={"project": "limits", "name": "j",
                                                field: value})
    elif kind == "patch":
        resp = admin.patch(f"{API}/tasks/{_task(admin)['id']}", json={field: value})
    elif kind == "worker":
        resp = _worker(admin, info=value)
    elif kind == "heartbeat":
        worker = _worker(admin).json()["id"]
        resp = admin.post(f"{API}/workers/{worker}/heartbeat", json={"stats": value})
    elif kind == "artifact":
        resp = admin.put(f"{API}/tasks/{_task(admin)['id']}/artifacts/m",
                         json={"uri": "https://example.invalid/m", "metadata": value})
    else:
        resp = admin.post(f"{API}/tasks/{_task(admin)['id']}/events", json={
            "batch_id": uuid.uuid4().hex, "plots": [
                {"metric": "m", "variant": "v", "figure": value, "timestamp": 1.0}]})
    _error(resp, 422, "invalid_input")


# ---- item 10: length of text ----------------------------------------------------------------


@pytest.mark.parametrize(("what", "size"), [
    ("worker.host", 257), ("param.value", 1024 * 1024 + 1), ("param.type", 65),
    ("config.value", 1024 * 1024 + 1), ("comment", 64 * 1024 + 1),
    ("status.message", 64 * 1024 + 1), ("project.description", 64 * 1024 + 1),
    ("artifact.uri", 8193), ("artifact.content_type", 129), ("sample.url", 8193),
    ("enqueue.queue", 129), ("abort.message", 64 * 1024 + 1), ("key.user", 129),
    ("tags", 257), ("tag.count", 257),
])
def test_long_text_is_refused(admin, what, size):
    text = "x" * size
    tid = _task(admin)["id"]
    if what == "worker.host":
        resp = _worker(admin, host=text)
    elif what.startswith("param."):
        param = {"section": "General", "name": "p", what.split(".")[1]: text}
        resp = admin.put(f"{API}/tasks/{tid}/params", json={"params": [param]})
    elif what == "config.value":
        resp = admin.put(f"{API}/tasks/{tid}/configurations",
                         json={"items": [{"name": "c", "value": text}]})
    elif what == "comment":
        resp = admin.patch(f"{API}/tasks/{tid}", json={"comment": text})
    elif what == "status.message":
        resp = admin.post(f"{API}/tasks/{tid}/status",
                          json={"status": "in_progress", "message": text})
    elif what == "project.description":
        resp = admin.post(f"{API}/projects", json={"name": "p-long", "description": text})
    elif what.startswith("artifact."):
        body = {"uri": "https://example.invalid/a", what.split(".")[1]: text}
        if what == "artifact.uri":
            body["uri"] = "https://example.invalid/" + text
        resp = admin.put(f"{API}/tasks/{tid}/artifacts/a", json=body)
    elif what == "sample.url":
        resp = admin.post(f"{API}/tasks/{tid}/events", json={
            "batch_id": uuid.uuid4().hex, "debug_samples": [
                {"metric": "m", "variant": "v", "url": text, "timestamp": 1.0}]})
    elif what == "enqueue.queue":
        resp = admin.post(f"{API}/tasks/{tid}/enqueue", json={"queue": text})
    elif what == "abort.message":
        resp = admin.post(f"{API}/tasks/{tid}/abort", json={"message": text})
    elif what == "key.user":
        resp = admin.post(f"{API}/keys", json={"user": text})
    elif what == "tags":
        resp = admin.patch(f"{API}/tasks/{tid}", json={"tags": [text]})
    else:
        resp = admin.patch(f"{API}/tasks/{tid}", json={"tags": [f"t{i}" for i in range(size)]})
    _error(resp, 422, "invalid_input")
    detail = admin.get(f"{API}/tasks/{tid}").json()
    assert detail["comment"] == "" and detail["status"] == "created" and detail["tags"] == []
    assert detail["hyperparams"] == [] and detail["configurations"] == []


# ---- item 12: integers, queue entries, credentials first -------------------------------------


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_422(admin, value):
    tid = _task(admin)["id"]
    _error(admin.patch(f"{API}/tasks/{tid}", json={"last_iteration": value}), 422)
    _error(admin.post(f"{API}/tasks/{tid}/events", json={
        "batch_id": uuid.uuid4().hex, "last_iteration": value}), 422)
    _error(admin.post(f"{API}/tasks/{tid}/events", json={
        "batch_id": uuid.uuid4().hex, "scalars": [
            {"metric": "m", "variant": "v", "iterations": [value], "values": [1.0],
             "timestamps": [1.0]}]}), 422)
    _error(admin.post(f"{API}/tasks/{tid}/enqueue", json={"priority": value}), 422)
    assert admin.get(f"{API}/tasks/{tid}").json()["status"] == "created"
    ok = admin.patch(f"{API}/tasks/{tid}", json={"last_iteration": 2**63 - 1})
    assert ok.status_code == 200 and ok.json()["last_iteration"] == 2**63 - 1


@pytest.mark.parametrize(("path", "params"), [
    ("console", {"after": 2**70}), ("console", {"limit": 2**70}), ("console", {"limit": -1}),
    ("scalars", {"max_points": 2**70}), ("debug_samples", {"iteration": 2**70}),
    ("files", {"limit": 2**70}), ("files", {"offset": 2**63}), ("versions", {"limit": 2**70}),
])
def test_query_integers_beyond_64_bits_are_422(admin, path, params):
    tid = _task(admin)["id"]
    url = {"files": f"{API}/datasets/{{vid}}/files", "versions": f"{API}/datasets",
           }.get(path, f"{API}/tasks/{tid}/{path}")
    if "{vid}" in url:
        vid = admin.post(f"{API}/datasets", json={"name": "d", "project": "limits"}).json()["id"]
        url = url.format(vid=vid)
    _error(admin.get(url, params=params), 422, "invalid_input")


@pytest.mark.parametrize("text", [f"last_iteration>{2**70}", "last_iteration<nan"])
def test_a_last_iteration_filter_beyond_64_bits_is_refused(server, text):
    """(The web UI's task list filters on columns.)"""
    from arno.core.errors import InvalidInput
    from arno.services.task_query import TaskQuery

    with pytest.raises(InvalidInput, match="last_iteration"):
        server.services.query.list(TaskQuery(fields=[text]))


def _entries(c: httpx.Client, queue: str = "default") -> list[str]:
    resp = c.get(f"{API}/queues/{queue}/entries")
    assert resp.status_code == 200, resp.text
    return [e["task_id"] for e in resp.json()]


@pytest.mark.parametrize("leave", ["created", "stopped", "failed", "in_progress"])
def test_a_task_leaving_queued_by_status_leaves_its_queue(admin, leave):
    tid = _task(admin)["id"]
    assert admin.post(f"{API}/tasks/{tid}/enqueue", json={}).status_code == 200
    assert tid in _entries(admin)
    moved = admin.post(f"{API}/tasks/{tid}/status", json={"status": leave})
    assert moved.status_code == 200, moved.text
    assert tid not in _entries(admin)
    assert moved.json()["status"] == leave
    if leave != "created":
        assert admin.post(f"{API}/tasks/{tid}/status",
                          json={"status": "created", "force": True}).status_code == 200
    again = admin.post(f"{API}/tasks/{tid}/enqueue", json={})
    assert again.status_code == 200, again.text
    assert _entries(admin).count(tid) == 1
    assert admin.post(f"{API}/tasks/{tid}/dequeue").status_code == 200


def test_enqueue_takes_the_place_of_a_stale_entry(server, admin):
    """An entry an older server left behind (its task back to created) does not make the
    next enqueue fail."""
    from sqlalchemy import select

    from arno.db.models import QueueEntryRow, QueueRow

    tid = _task(admin)["id"]
    with server.services.db.write() as s:
        default = s.scalar(select(QueueRow.id).where(QueueRow.name == "default"))
        s.add(QueueEntryRow(queue_id=default, task_id=tid, priority=0))
    resp = admin.post(f"{API}/tasks/{tid}/enqueue", json={"priority": 3})
    assert resp.status_code == 200, resp.text
    assert _entries(admin).count(tid) == 1
    assert admin.post(f"{API}/tasks/{tid}/dequeue").status_code == 200


def test_queued_is_reached_only_by_enqueue(admin):
    _error(admin.post(f"{API}/tasks", json={"project": "limits", "name": "q",
                                            "status": "queued"}), 422)
    tid = _task(admin)["id"]
    _error(admin.post(f"{API}/tasks/{tid}/status", json={"status": "queued"}), 409)
    _error(admin.post(f"{API}/tasks/{tid}/status", json={"status": "queued", "force": True}),
           409)
    assert admin.get(f"{API}/tasks/{tid}").json()["status"] == "created"


# ---- found by the API fuzzer (tests/security/test_api_fuzz.py) --------------------------------


def test_clone_under_an_unknown_parent_is_404(admin):
    tid = _task(admin)["id"]
    _error(admin.post(f"{API}/tasks/{tid}/clone", json={"parent_id": "f" * 32}), 404)
    clone = admin.post(f"{API}/tasks/{tid}/clone", json={})
    assert clone.status_code == 201 and clone.json()["parent_id"] == tid


def test_a_clone_of_a_longest_name_fits_the_column(admin):
    src = _task(admin, name="n" * 512)
    clone = admin.post(f"{API}/tasks/{src['id']}/clone", json={})
    assert clone.status_code == 201, clone.text
    assert len(clone.json()["name"]) <= 512 and clone.json()["name"].endswith(" (clone)")


def test_blob_answers_are_documented_as_bytes(admin):
    spec = admin.get(f"{API}/openapi.json").json()
    blob = spec["paths"]["/api/v1/blobs/{hash}"]
    assert list(blob["get"]["responses"]["200"]["content"]) == ["application/octet-stream"]
    assert blob["head"]["responses"]["200"].get("content", {}) == {}
    assert blob["get"]["parameters"][0]["schema"]["pattern"] == "^[0-9a-f]{64}$"
    _error(admin.get(f"{API}/blobs/{'A' * 64}"), 422, "invalid_input")


BAD_BODIES = [
    ("POST", "/tasks", b"{not json"),
    ("POST", "/tasks", b'{"project": 1}'),
    ("PATCH", f"/tasks/{'f' * 32}", b'{"last_iteration": "x"}'),
    ("PUT", f"/tasks/{'f' * 32}/params", b"[]"),
    ("POST", "/workers", b"\xff\xfe"),
    ("POST", f"/tasks/{'f' * 32}/events", b"{"),
    ("POST", "/datasets", b"{"),
    ("POST", "/datasets/pieces/missing", b"{"),
    ("POST", "/keys", b'{"user": []}'),
    ("GET", "/tasks?limit=x", b""),
    ("GET", "/no/such/route", b""),
    ("DELETE", "/tasks", b""),
    ("PUT", "/blobs/not-a-hash", b"x"),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES)
def test_no_credentials_is_401_whatever_the_body(server, method, path, body):
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        resp = anon.request(method, API + path, content=body,
                            headers={"content-type": "application/json"})
    _error(resp, 401, "unauthorized")
    assert "www-authenticate" in resp.headers


@pytest.mark.parametrize(("method", "path", "body"), BAD_BODIES[:3])
def test_wrong_credentials_is_401_whatever_the_body(server, method, path, body):
    with httpx.Client(base_url=server.url, timeout=30, auth=("nobody", "wrong")) as anon:
        resp = anon.request(method, API + path, content=body,
                            headers={"content-type": "application/json"})
    _error(resp, 401, "unauthorized")


def test_with_credentials_a_bad_body_is_still_422(admin):
    _error(admin.post(f"{API}/tasks", content=b"{not json",
                      headers={"content-type": "application/json"}), 422, "invalid_input")
