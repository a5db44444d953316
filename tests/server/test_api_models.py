"""The model registry's API against a live server on SQLite and PostgreSQL: a model made with
every field in one request, changes, publishing (then immutable), weights stored in Arno
(pieces uploaded with the client's own helpers) or at a registered URI, garbage collection of
the packs a model needs, lineage, a task's input and output models, and who may do what on
every route (no credentials, another user, the owner, an admin, a task run's credential)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.conftest import LiveServer
from tests.services.dataset_helpers import age_packs, pack_stored
from tests.services.dataset_helpers import publish as publish_dataset

from arno.client import ApiSession
from arno.client._dataset_files import LocalFile, hash_one, piece_spans
from arno.client._dataset_upload import send_pieces
from arno.db.models import ModelPackRefRow

API = "/api/v1"


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


def _ok(resp: httpx.Response, status: int = 200) -> dict:
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    return resp.json() if resp.content else {}


def _project() -> str:
    return f"models/{uuid.uuid4().hex[:8]}"


def upload_weights(server: LiveServer, key: str, secret: str, files: dict[str, Path]
                   ) -> list[dict]:
    """Pieces of local ``files`` (name in the model -> path) sent the way the client sends a
    dataset's; returns their manifest entries."""
    hashed = [hash_one(LocalFile(name, str(path), path.stat().st_size, 0))
              for name, path in files.items()]
    session = ApiSession(server.url, key, secret)
    try:
        send_pieces(session, piece_spans((h.entry(), h.source_info()) for h in hashed))
    finally:
        session.close()
    return [h.entry() for h in hashed]


def model_packs(server: LiveServer, model_id: str) -> set[str]:
    with server.services.db.read() as s:
        return set(s.scalars(select(ModelPackRefRow.pack_hash).where(
            ModelPackRefRow.model_id == model_id)))


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c


@pytest.fixture(scope="module")
def alice_key(server: LiveServer) -> tuple[str, str]:
    return server.user(f"alice{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def alice(server: LiveServer, alice_key) -> Iterator[httpx.Client]:
    with server.client(*alice_key) as c:
        yield c


@pytest.fixture(scope="module")
def bob(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client(*server.user(f"bob{uuid.uuid4().hex[:6]}")) as c:
        yield c


@pytest.fixture(scope="module")
def anonymous(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def _task(client: httpx.Client, project: str | None = None, **body) -> dict:
    return _ok(client.post(f"{API}/tasks", json={"project": project or _project(),
                                                  "name": "trainer", **body}), 201)


def _model(client: httpx.Client, **body) -> dict:
    body.setdefault("project", _project())
    body.setdefault("name", "net")
    return _ok(client.post(f"{API}/models", json=body), 201)


def _big_file(tmp: Path, name: str, size: int) -> Path:
    path = tmp / name
    path.write_bytes(os.urandom(size))
    return path


# ---- create, read, change ----------------------------------------------------------------------


def test_create_with_every_field_in_one_request(server, alice, alice_key, tmp_path):
    task = _task(alice)
    parent = _model(alice, name="base")
    files = upload_weights(server, *alice_key,
                           {"model.pt": _big_file(tmp_path, "model.pt", 3 << 20)})
    assert len(files[0]["pieces"]) > 1
    project = _project()
    body = {
        "project": project, "name": "resnet", "task_id": task["id"], "framework": "PyTorch",
        "tags": ["best", "v1", "best"], "system_tags": ["auto"], "comment": "trained well",
        "labels": {"background": 0, "cat": 1}, "design": '{"layers": 50}',
        "metadata": {"epochs": 10, "lr": {"value": "0.01", "type": "float"}},
        "iteration": 1200, "parent_id": parent["id"],
        "weights": {"files": files},
    }
    m = _ok(alice.post(f"{API}/models", json=body), 201)
    assert m["project"] == project and m["name"] == "resnet" and m["framework"] == "PyTorch"
    assert m["task_id"] == task["id"] and m["task_name"] == "trainer"
    assert m["tags"] == ["best", "v1"] and m["system_tags"] == ["auto"]
    assert m["comment"] == "trained well" and m["labels"] == {"background": 0, "cat": 1}
    assert m["design"] == '{"layers": 50}'
    assert m["metadata"] == {"epochs": {"key": "epochs", "type": "int", "value": 10},
                             "lr": {"key": "lr", "type": "float", "value": "0.01"}}
    assert m["iteration"] == 1200 and m["parent_id"] == parent["id"]
    assert m["uri"] == f"arno://models/{m['id']}" and m["weights_files"] == 1
    assert m["weights_size"] == 3 << 20 and m["weights_hash"] == files[0]["hash"]
    assert m["package"] is False and m["published"] is False and m["archived"] is False
    assert m["owner"] and m["owner_id"] and m["created_by_task_id"] is None
    assert _ok(alice.get(f"{API}/models/{m['id']}")) == m
    w = _ok(alice.get(f"{API}/models/{m['id']}/weights"))
    assert w == {"uri": m["uri"], "files": files, "package": False, "size": 3 << 20,
                 "hash": files[0]["hash"]}
    # without a project, the model goes to its task's project
    m2 = _ok(alice.post(f"{API}/models", json={"name": "x", "task_id": task["id"]}), 201)
    assert m2["project"] == task["project"]


def test_bad_input_is_refused_naming_the_field(server, alice, alice_key):
    m = _model(alice)
    cases = [
        ({"name": "x"}, "project"),  # neither project nor task
        ({"project": "p", "name": ""}, "name"),
        ({"project": "p", "name": "x" * 513}, "name"),
        ({"project": "p", "name": "x", "labels": {"a": "one"}}, "labels"),
        ({"project": "p", "name": "x", "metadata": {"k": "v" * (2 << 20)}}, "metadata"),
        ({"project": "p", "name": "x", "metadata": {"k" * 300: 1}}, "metadata"),
        ({"project": "p", "name": "x", "comment": "c" * (65 * 1024)}, "comment"),
        ({"project": "p", "name": "x", "design": "d" * (1024 * 1024 + 1)}, "design"),
        ({"project": "p", "name": "x", "tags": ["t"] * 300}, "tags"),
        ({"project": "p", "name": "x", "iteration": 2**63}, "iteration"),
        ({"project": "p", "name": "x", "surprise": 1}, "surprise"),
        ({"project": "p", "name": "x", "weights": {"uri": "file:///etc/passwd"}}, "uri"),
    ]
    for body, field in cases:
        err = _error(alice.post(f"{API}/models", json=body), 422, "invalid_input")
        assert field in err["message"], (field, err)
    # unknown ids are named
    for path in (f"models/{'f' * 32}", "models/nope", f"models/{'f' * 32}/lineage",
                 f"models/{'f' * 32}/weights", f"tasks/{'e' * 32}/models"):
        err = _error(alice.get(f"{API}/{path}"), 404, "not_found")
        assert path.split("/")[1] in err["message"]
    err = _error(alice.post(f"{API}/models", json={"project": "p", "name": "x",
                                                   "task_id": "e" * 32}), 404)
    assert "e" * 32 in err["message"]
    err = _error(alice.post(f"{API}/models", json={"project": "p", "name": "x",
                                                   "parent_id": "d" * 32}), 404)
    assert "d" * 32 in err["message"]
    err = _error(alice.patch(f"{API}/models/{m['id']}", json={"parent_id": m["id"]}), 422)
    assert "parent_id" in err["message"]
    # weights: neither or both sources, an empty list, an external file
    for body in ({}, {"uri": "s3://b/k", "files": []}, {"files": []},
                 {"files": [{"path": "a", "size": 1, "uri": "s3://b/a"}]},
                 {"files": [{"path": "../a", "size": 0}]}):
        _error(alice.put(f"{API}/models/{m['id']}/weights", json=body), 422)
    assert _ok(alice.get(f"{API}/models/{m['id']}"))["uri"] == ""


def test_update_and_metadata(alice):
    m = _model(alice, metadata={"a": 1, "b": 2})
    up = _ok(alice.patch(f"{API}/models/{m['id']}", json={
        "name": "renamed", "comment": "c", "tags": ["x"], "system_tags": ["s"],
        "framework": "Keras", "labels": {"dog": 3}, "design": "cfg", "project": "models/moved",
        "iteration": 5, "metadata_set": {"c": {"value": 3.5}}, "metadata_remove": ["a"],
    }))
    assert up["name"] == "renamed" and up["comment"] == "c" and up["tags"] == ["x"]
    assert up["system_tags"] == ["s"] and up["framework"] == "Keras"
    assert up["labels"] == {"dog": 3} and up["design"] == "cfg"
    assert up["project"] == "models/moved" and up["iteration"] == 5
    assert set(up["metadata"]) == {"b", "c"}
    assert up["metadata"]["c"] == {"key": "c", "type": "float", "value": 3.5}
    up = _ok(alice.patch(f"{API}/models/{m['id']}", json={"metadata": {"only": "one"}}))
    assert list(up["metadata"]) == ["only"]
    assert up["updated_at"] >= m["updated_at"]


def test_publish_makes_the_model_immutable(alice):
    m = _model(alice)
    err = _error(alice.post(f"{API}/models/{m['id']}/publish"), 409, "conflict")
    assert "has no weights" in err["message"]
    _ok(alice.put(f"{API}/models/{m['id']}/weights",
                  json={"uri": "s3://bucket/model.pt", "iteration": 7}))
    pub = _ok(alice.post(f"{API}/models/{m['id']}/publish"))
    assert pub["published"] and pub["published_at"] and pub["iteration"] == 7
    assert _ok(alice.post(f"{API}/models/{m['id']}/publish")) == pub  # again: unchanged
    for body in ({"name": "other"}, {"labels": {"a": 1}}, {"metadata_set": {"k": 1}},
                 {"comment": "fine", "design": "not fine"}, {"project": "elsewhere"}):
        err = _error(alice.patch(f"{API}/models/{m['id']}", json=body), 409, "immutable")
        assert m["id"] in err["message"]
    _error(alice.put(f"{API}/models/{m['id']}/weights", json={"uri": "s3://b/other"}), 409,
           "immutable")
    assert _ok(alice.get(f"{API}/models/{m['id']}")) == pub  # nothing changed
    changed = _ok(alice.patch(f"{API}/models/{m['id']}",
                              json={"tags": ["prod"], "system_tags": ["x"], "comment": "ok"}))
    assert changed["tags"] == ["prod"] and changed["comment"] == "ok"
    archived = _ok(alice.post(f"{API}/models/{m['id']}/archive", json={"archived": True}))
    assert archived["archived"] is True
    _error(alice.delete(f"{API}/models/{m['id']}"), 409)
    assert alice.get(f"{API}/models/{m['id']}").status_code == 200
    _ok(alice.delete(f"{API}/models/{m['id']}", params={"force": True}), 204)
    _error(alice.get(f"{API}/models/{m['id']}"), 404)


# ---- weights -----------------------------------------------------------------------------------


def test_weights_from_uploaded_pieces_and_a_new_version(server, alice, alice_key, tmp_path):
    m = _model(alice)
    v1 = upload_weights(server, *alice_key, {"w.bin": _big_file(tmp_path, "w1", 2 << 20)})
    out = _ok(alice.put(f"{API}/models/{m['id']}/weights", json={"files": v1, "iteration": 1}))
    assert out["uri"] == f"arno://models/{m['id']}" and out["weights_hash"] == v1[0]["hash"]
    first = model_packs(server, m["id"])
    assert first
    # a package: two files, the hash is the manifest's
    v2 = upload_weights(server, *alice_key, {"dir/a.bin": _big_file(tmp_path, "a", 1500),
                                             "dir/b.json": _big_file(tmp_path, "b", 300)})
    out = _ok(alice.put(f"{API}/models/{m['id']}/weights", json={"files": v2}))
    assert out["package"] is True and out["weights_files"] == 2 and out["weights_size"] == 1800
    assert out["weights_hash"] not in (v2[0]["hash"], v2[1]["hash"]) and out["iteration"] == 1
    second = model_packs(server, m["id"])
    assert second and not second & first  # the refs were replaced
    w = _ok(alice.get(f"{API}/models/{m['id']}/weights"))
    assert w["files"] == sorted(v2, key=lambda f: f["path"]) and w["package"] is True
    # registered: no files, no packs
    out = _ok(alice.put(f"{API}/models/{m['id']}/weights",
                        json={"uri": "https://example.com/m.onnx"}))
    assert out["uri"] == "https://example.com/m.onnx" and out["weights_hash"] is None
    assert model_packs(server, m["id"]) == set()
    assert _ok(alice.get(f"{API}/models/{m['id']}/weights"))["files"] is None


def test_registered_uris_accepted_and_refused(alice):
    m = _model(alice)
    for uri in ("s3://bucket/a/model.pt", "gs://b/m", "azure://acct/c/m", "http://h/m",
                "https://h.example/m?x=1", f"arno://models/{m['id']}"):
        assert _ok(alice.put(f"{API}/models/{m['id']}/weights", json={"uri": uri}))["uri"] == uri
    for uri in ("file:///etc/passwd", "/etc/passwd", "model.pt", "ftp://h/m", "s3://",
                "FILE:///x", "C:\\models\\m.pt", ""):
        err = _error(alice.put(f"{API}/models/{m['id']}/weights", json={"uri": uri}), 422)
        assert "uri" in err["message"], err
    assert _ok(alice.get(f"{API}/models/{m['id']}"))["uri"] == f"arno://models/{m['id']}"


def test_a_missing_piece_is_refused_naming_it(server, alice, alice_key, tmp_path):
    m = _model(alice)
    files = upload_weights(server, *alice_key, {"ok.bin": _big_file(tmp_path, "ok", 100)})
    ghost = "ab" * 32
    bad = [*files, {"path": "ghost.bin", "size": 10, "hash": ghost, "pieces": [ghost]}]
    err = _error(alice.put(f"{API}/models/{m['id']}/weights", json={"files": bad}), 422)
    assert ghost in err["message"] and "ghost.bin" in err["message"]
    _error(alice.post(f"{API}/models", json={"project": "p", "name": "x",
                                             "weights": {"files": bad}}), 422)
    wrong = [{**files[0], "size": 99}]
    err = _error(alice.put(f"{API}/models/{m['id']}/weights", json={"files": wrong}), 422)
    assert "ok.bin" in err["message"]
    assert _ok(alice.get(f"{API}/models/{m['id']}"))["uri"] == ""
    assert model_packs(server, m["id"]) == set()


def test_gc_keeps_a_pack_only_a_model_needs_until_the_model_goes(server, admin, alice,
                                                                  alice_key, tmp_path):
    m = _model(alice)
    files = upload_weights(server, *alice_key, {"gc.bin": _big_file(tmp_path, "gc", 5000)})
    _ok(alice.put(f"{API}/models/{m['id']}/weights", json={"files": files}))
    packs = model_packs(server, m["id"])
    age_packs(server, list(packs))
    _ok(admin.post(f"{API}/datasets/gc"))
    assert all(pack_stored(server, p) for p in packs)
    # a new version leaves the old packs to the collector (they are old: they go at once)
    other = upload_weights(server, *alice_key, {"gc.bin": _big_file(tmp_path, "gc2", 5000)})
    _ok(alice.put(f"{API}/models/{m['id']}/weights", json={"files": other}))
    assert not any(pack_stored(server, p) for p in packs)
    packs = model_packs(server, m["id"])
    age_packs(server, list(packs))
    _ok(admin.post(f"{API}/datasets/gc"))
    assert all(pack_stored(server, p) for p in packs)
    # a second model sharing the packs keeps them when the first goes
    twin = _model(alice, weights={"files": other})
    _ok(alice.delete(f"{API}/models/{m['id']}"), 204)
    assert all(pack_stored(server, p) for p in packs)
    _ok(alice.delete(f"{API}/models/{twin['id']}"), 204)
    assert not any(pack_stored(server, p) for p in packs)
    assert not any(server.services.store.exists(p) for p in packs)


# ---- lineage and a task's models -----------------------------------------------------------------


def test_lineage_and_task_models(server, admin, alice, tmp_path):
    from tests.services.dataset_helpers import build, unique

    content = build({"train.csv": os.urandom(200)})
    version = publish_dataset(admin, unique(), content.files, content.pack)
    base = _model(alice, name="pretrained", weights={"uri": "s3://b/base.pt"})
    trainer = _task(alice, hyperparams=[
        {"section": "Datasets", "name": "train", "value": version["id"]},
        {"section": "Datasets", "name": "gone", "value": "c" * 32},
        {"section": "General", "name": "lr", "value": "0.1"},
    ])
    _ok(alice.put(f"{API}/tasks/{trainer['id']}/models/input/backbone",
                  json={"model_id": base["id"]}))
    first = _model(alice, name="first", task_id=trainer["id"])
    out = _model(alice, name="trained", task_id=trainer["id"])
    consumer = _task(alice, project="models/serving")
    use = _ok(alice.put(f"{API}/tasks/{consumer['id']}/models/input/serve",
                        json={"model_id": out["id"]}))
    assert use["task_id"] == consumer["id"] and use["model_id"] == out["id"]

    lin = _ok(alice.get(f"{API}/models/{out['id']}/lineage"))
    assert lin["model"] == out
    assert lin["task"] == {"id": trainer["id"], "name": "trainer", "status": "created",
                           "project": trainer["project"]}
    assert lin["datasets"] == [
        {"id": "c" * 32, "name": None, "version": None, "alias": "gone"},
        {"id": version["id"], "name": version["name"], "version": version["version"],
         "alias": "train"},
    ]
    assert [(i["name"], i["model"]["id"]) for i in lin["input_models"]] == [
        ("backbone", base["id"])]
    assert lin["consumers"] == [{"task_id": consumer["id"], "task_name": "trainer",
                                 "status": "created", "project": "models/serving",
                                 "name": "serve"}]
    lin = _ok(alice.get(f"{API}/models/{base['id']}/lineage"))
    assert lin["task"] is None and lin["datasets"] == [] and lin["input_models"] == []
    assert [c["task_id"] for c in lin["consumers"]] == [trainer["id"]]

    tm = _ok(alice.get(f"{API}/tasks/{trainer['id']}/models"))
    assert [(i["name"], i["model"]["id"]) for i in tm["input"]] == [("backbone", base["id"])]
    assert [(o["name"], o["model"]["id"]) for o in tm["output"]] == [
        ("first", first["id"]), ("trained", out["id"])]
    # a name used again points at the new model; a use removed goes
    _ok(alice.put(f"{API}/tasks/{trainer['id']}/models/input/backbone",
                  json={"model_id": first["id"]}))
    tm = _ok(alice.get(f"{API}/tasks/{trainer['id']}/models"))
    assert [i["model"]["id"] for i in tm["input"]] == [first["id"]]
    _ok(alice.delete(f"{API}/tasks/{trainer['id']}/models/input/backbone"), 204)
    # a name with a slash and a space, as the client quotes it
    _ok(alice.put(f"{API}/tasks/{trainer['id']}/models/input/my%20net%2Fv2",
                  json={"model_id": base["id"]}))
    assert [i["name"] for i in _ok(alice.get(f"{API}/tasks/{trainer['id']}/models"))["input"]
            ] == ["my net/v2"]
    _ok(alice.delete(f"{API}/tasks/{trainer['id']}/models/input/my%20net%2Fv2"), 204)
    assert _ok(alice.get(f"{API}/tasks/{trainer['id']}/models"))["input"] == []
    err = _error(alice.delete(f"{API}/tasks/{trainer['id']}/models/input/backbone"), 404)
    assert "backbone" in err["message"]
    err = _error(alice.put(f"{API}/tasks/{trainer['id']}/models/input/x",
                           json={"model_id": "9" * 32}), 404)
    assert "9" * 32 in err["message"]

    # the consumer task goes: its use goes; the creating task goes: its models stay
    _ok(alice.delete(f"{API}/tasks/{consumer['id']}"), 204)
    assert _ok(alice.get(f"{API}/models/{out['id']}/lineage"))["consumers"] == []
    _ok(alice.delete(f"{API}/tasks/{trainer['id']}"), 204)
    kept = _ok(alice.get(f"{API}/models/{out['id']}"))
    assert kept["task_id"] is None and kept["task_name"] is None
    assert _ok(alice.get(f"{API}/models/{out['id']}/lineage"))["task"] is None


# ---- rights ------------------------------------------------------------------------------------


def _routes(model_id: str, task_id: str) -> list[tuple[str, str, dict | None, bool]]:
    """(method, path, body, changes) for every model route."""
    m = f"{API}/models/{model_id}"
    t = f"{API}/tasks/{task_id}/models"
    return [
        ("GET", f"{API}/models", None, False),
        ("GET", m, None, False),
        ("GET", f"{m}/weights", None, False),
        ("GET", f"{m}/lineage", None, False),
        ("GET", t, None, False),
        ("PATCH", m, {"comment": "changed"}, True),
        ("PUT", f"{m}/weights", {"uri": "s3://b/new"}, True),
        ("POST", f"{m}/archive", {"archived": False}, True),
        ("PUT", f"{t}/input/in", {"model_id": model_id}, True),
        ("DELETE", f"{t}/input/in", None, True),
        ("POST", f"{m}/publish", None, True),
        ("DELETE", f"{m}?force=true", None, True),
    ]


def _call(client: httpx.Client, method: str, path: str, body: dict | None) -> httpx.Response:
    return client.request(method, path, json=body) if body is not None else client.request(
        method, path)


def test_rights_on_every_route(server, admin, alice, bob, anonymous):
    task = _task(alice)
    for who in ("owner", "admin"):
        m = _model(alice, task_id=task["id"])
        routes = _routes(m["id"], task["id"])
        for method, path, body, _ in routes:
            _error(_call(anonymous, method, path, body), 401, "unauthorized")
        _error(anonymous.post(f"{API}/models", json={"project": "p", "name": "x"}), 401)
        for method, path, body, changes in routes:
            resp = _call(bob, method, path, body)
            if changes:
                _error(resp, 403, "forbidden")
            else:
                assert resp.status_code == 200, (method, path, resp.text)
        assert _ok(bob.get(f"{API}/models/{m['id']}"))["comment"] == ""
        # another user cannot make a model for a task not theirs
        _error(bob.post(f"{API}/models", json={"name": "x", "task_id": task["id"]}), 403)
        # but may make one of their own
        _model(bob)
        client = alice if who == "owner" else admin
        for method, path, body, _ in routes:
            resp = _call(client, method, path, body)
            assert resp.status_code in (200, 204), (who, method, path, resp.text)
        _error(client.get(f"{API}/models/{m['id']}"), 404)


def _run_credential(admin: httpx.Client) -> tuple[str, tuple[str, str]]:
    """A task queued and taken by a worker: (its id, the run credential it got)."""
    queue = f"q-{uuid.uuid4().hex[:8]}"
    assert admin.post(f"{API}/queues", json={"name": queue}).status_code == 201
    wid = f"w-{uuid.uuid4().hex[:8]}"
    assert admin.post(f"{API}/workers", json={"id": wid, "queues": [queue]}).status_code == 200
    tid = _task(admin)["id"]
    _ok(admin.post(f"{API}/tasks/{tid}/enqueue", json={"queue": queue}))
    reply = _ok(admin.post(f"{API}/workers/{wid}/dequeue", json={"queues": [queue], "wait": 5}))
    assert reply["task"]["id"] == tid
    cred = reply["credential"]
    return tid, (cred["access_key"], cred["secret_key"])


def test_a_runs_credential_changes_only_its_tasks_models(server, admin):
    run_id, cred = _run_credential(admin)
    others = _model(admin)  # the same owner, but not the run's
    other_task = _task(admin)
    with server.client(*cred) as run:
        mine = _model(run, task_id=run_id)
        assert mine["created_by_task_id"] == run_id and mine["task_id"] == run_id
        loose = _model(run)  # no task: still marked as the run's
        assert loose["created_by_task_id"] == run_id
        by_task = _model(admin, task_id=run_id)  # made by the owner for the run's task
        for m in (mine, loose, by_task):
            for method, path, body, _ in _routes(m["id"], run_id):
                resp = _call(run, method, path, body)
                assert resp.status_code in (200, 204), (method, path, resp.text)
        for method, path, body, changes in _routes(others["id"], other_task["id"]):
            resp = _call(run, method, path, body)
            if changes:
                _error(resp, 403, "forbidden")
            else:
                assert resp.status_code == 200, (method, path, resp.text)
        _error(run.post(f"{API}/models", json={"name": "x", "task_id": other_task["id"]}), 403)
