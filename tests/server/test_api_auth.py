"""Who may call what: credentials on every API route, roles, keys, and task ownership.
Runs against a live server on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from arno.blobstore import hash_bytes
from arno.services.throttle import LoginThrottle

API = "/api/v1"
_PLACEHOLDERS = {"task_id": "0" * 32, "hash": "0" * 64}


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict:
    """The response is ``status`` with the JSON error body ``{"error": {code, message}}``."""
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: {resp.text}"
    body = resp.json()
    assert list(body) == ["error"], body
    err = body["error"]
    assert isinstance(err["code"], str) and err["code"]
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def _api_routes(server) -> list[tuple[str, str]]:
    """Every (method, concrete path) the server publishes under /api/v1, from its OpenAPI."""
    with server.client() as c:
        resp = c.get(f"{API}/openapi.json")
    assert resp.status_code == 200
    routes = []
    for path, ops in resp.json()["paths"].items():
        if not path.startswith(API):
            continue
        concrete = re.sub(r"\{(\w+)\}", lambda m: _PLACEHOLDERS.get(m[1], "x"), path)
        routes += [(method.upper(), concrete) for method in ops]
    routes += [("GET", f"{API}/openapi.json"), ("GET", f"{API}/docs")]
    return routes


def _new_task(client: httpx.Client, name: str = "auth task") -> dict:
    resp = client.post(f"{API}/tasks", json={
        "project": "auth/ownership", "name": name, "tags": ["t0"],
        "hyperparams": [{"section": "General", "name": "lr", "value": "0.1"}],
        "configurations": [{"name": "prep", "value": "{}"}],
    })
    assert resp.status_code == 201, resp.text
    return resp.json()


def _unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def test_health_needs_no_credentials(server):
    resp = httpx.get(f"{server.url}/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.json()["database"] == "ok"


def test_openapi_walk_covers_the_api(server):
    routes = _api_routes(server)
    paths = {p for _, p in routes}
    # a sanity check that the walk below is not vacuous
    assert len(routes) >= 30
    assert f"{API}/tasks" in paths and f"{API}/blobs/{'0' * 64}" in paths


def test_every_api_route_refuses_missing_and_wrong_credentials(server, monkeypatch):
    routes = _api_routes(server)
    # hundreds of failures on purpose: lift the failed-login limit (tested in test_web_security)
    monkeypatch.setattr(server.services, "login_throttle",
                        LoginThrottle(per_login=10**6, per_address=10**6))
    attempts = {
        "no credentials": None,
        "wrong secret": (server.admin_key, "not-the-secret"),
        "unknown key": ("NOSUCHKEY", "whatever"),
    }
    for label, auth in attempts.items():
        with httpx.Client(base_url=server.url, auth=auth, timeout=60) as c:
            for method, path in routes:
                resp = c.request(method, path)
                if method == "HEAD":  # a HEAD answer has no body to carry the error
                    assert resp.status_code == 401, (label, method, path)
                    continue
                err = _error(resp, 401, "unauthorized")
                assert resp.headers.get("www-authenticate", "").lower().startswith("basic"), (
                    label, method, path)
                assert err, (label, method, path)


def test_wrong_password_is_refused(server):
    with httpx.Client(base_url=server.url, auth=("admin", "not-the-password")) as c:
        _error(c.get(f"{API}/me"), 401, "unauthorized")
        _error(c.get(f"{API}/tasks"), 401, "unauthorized")


def test_web_page_needs_credentials(server):
    assert httpx.get(f"{server.url}/").status_code == 401
    resp = httpx.get(f"{server.url}/", auth=(server.admin_key, server.admin_secret))
    assert resp.status_code == 200
    assert "Arno" in resp.text


def test_malformed_authorization_header_is_401(server):
    for header in ("Basic !!!not-base64!!!", "Basic " + "bm9jb2xvbg==", "Bearer abc"):
        resp = httpx.get(f"{server.url}{API}/me", headers={"authorization": header})
        _error(resp, 401, "unauthorized")


def test_username_and_password_work(server):
    with httpx.Client(base_url=server.url, auth=("admin", "admin-password")) as c:
        me = c.get(f"{API}/me")
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    assert me.json()["role"] == "admin"


def test_revoked_key_is_refused(server):
    name = _unique("rev")
    key, secret = server.user(name)
    with server.client(key, secret) as c:
        assert c.get(f"{API}/me").json()["username"] == name
        own = c.get(f"{API}/keys").json()
        (row,) = [k for k in own if k["access_key"] == key]
        resp = c.delete(f"{API}/keys/{row['id']}")
        assert resp.status_code == 200
        assert resp.json()["revoked_at"] is not None
        # the very next request with the same key fails, however recently it succeeded
        _error(c.get(f"{API}/me"), 401, "unauthorized")
    with server.client() as admin:
        listed = {k["access_key"]: k for k in admin.get(f"{API}/keys", params={"all": True}).json()}
    assert listed[key]["revoked_at"] is not None


def test_disabled_user_is_refused_until_enabled(server):
    name = _unique("dis")
    key, secret = server.user(name)
    with server.client(key, secret) as user, server.client() as admin:
        assert user.get(f"{API}/me").status_code == 200
        resp = admin.patch(f"{API}/users/{name}", json={"disabled": True})
        assert resp.status_code == 200 and resp.json()["disabled"] is True
        _error(user.get(f"{API}/me"), 401, "unauthorized")
        with httpx.Client(base_url=server.url, auth=(name, f"{name}-password")) as by_password:
            _error(by_password.get(f"{API}/me"), 401, "unauthorized")
        assert admin.patch(f"{API}/users/{name}", json={"disabled": False}).status_code == 200
        assert user.get(f"{API}/me").status_code == 200


def test_admin_cannot_disable_themselves(server):
    with server.client() as admin:
        _error(admin.patch(f"{API}/users/admin", json={"disabled": True}), 403, "forbidden")
        assert admin.get(f"{API}/me").status_code == 200


def test_user_role_cannot_manage_users(server):
    name = _unique("plain")
    wanted = _unique("wanted")
    key, secret = server.user(name)
    with server.client(key, secret) as c:
        _error(c.get(f"{API}/users"), 403, "forbidden")
        _error(c.post(f"{API}/users", json={"username": wanted, "password": "p" * 10}),
               403, "forbidden")
        _error(c.patch(f"{API}/users/admin", json={"disabled": True}), 403, "forbidden")
        _error(c.get(f"{API}/keys", params={"all": True}), 403, "forbidden")
        _error(c.post(f"{API}/keys", json={"user": "admin"}), 403, "forbidden")
    with server.client() as admin:
        users = {u["username"]: u for u in admin.get(f"{API}/users").json()}
    assert not users["admin"]["disabled"]
    assert wanted not in users


def test_user_manages_own_keys(server):
    name = _unique("keys")
    key, secret = server.user(name)
    with server.client(key, secret) as c:
        created = c.post(f"{API}/keys", json={"label": "laptop"})
        assert created.status_code == 201, created.text
        new = created.json()
        assert new["secret_key"] and new["username"] == name and new["label"] == "laptop"
        with server.client(new["access_key"], new["secret_key"]) as c2:
            assert c2.get(f"{API}/me").json()["username"] == name
        mine = c.get(f"{API}/keys").json()
        assert {k["access_key"] for k in mine} == {key, new["access_key"]}
        assert all(k["username"] == name for k in mine)
        assert all("secret_key" not in k for k in mine)
        # someone else's key: not theirs to revoke
        with server.client() as admin:
            admin_keys = admin.get(f"{API}/keys").json()
        _error(c.delete(f"{API}/keys/{admin_keys[0]['id']}"), 403, "forbidden")
        assert c.delete(f"{API}/keys/{new['id']}").status_code == 200
        with server.client(new["access_key"], new["secret_key"]) as c2:
            _error(c2.get(f"{API}/me"), 401)
    with server.client(server.admin_key, server.admin_secret) as admin:
        assert admin.get(f"{API}/me").status_code == 200


def test_admin_manages_users_and_their_keys(server):
    name = _unique("made")
    with server.client() as admin:
        resp = admin.post(f"{API}/users", json={"username": name, "password": "long-password"})
        assert resp.status_code == 201 and resp.json()["role"] == "user"
        _error(admin.post(f"{API}/users", json={"username": name}), 409, "conflict")
        key = admin.post(f"{API}/keys", json={"user": name}).json()
        assert key["username"] == name
    with server.client(key["access_key"], key["secret_key"]) as c:
        assert c.get(f"{API}/me").json() == {
            "user_id": resp.json()["id"], "username": name, "role": "user",
            "run_task_id": None}


def _snapshot(client: httpx.Client, task_id: str) -> dict:
    detail = client.get(f"{API}/tasks/{task_id}").json()
    detail.pop("updated_at")
    return {
        "detail": detail,
        "console": client.get(f"{API}/tasks/{task_id}/console").json(),
        "artifacts": client.get(f"{API}/tasks/{task_id}/artifacts").json(),
    }


def _modifications(server, task_id: str, blob: str) -> list[tuple[str, str, dict | None]]:
    t = f"{API}/tasks/{task_id}"
    return [
        ("PATCH", t, {"name": "hijacked", "tags": ["mine"]}),
        ("PUT", f"{t}/params", {"params": [{"section": "General", "name": "lr", "value": "9"}]}),
        ("POST", f"{t}/params/delete", {"keys": ["General/lr"]}),
        ("PUT", f"{t}/configurations", {"items": [{"name": "prep", "value": "changed"}]}),
        ("POST", f"{t}/status", {"status": "stopped"}),
        ("POST", f"{t}/archive", {"archived": True}),
        ("POST", f"{t}/events", {"batch_id": uuid.uuid4().hex, "console": [
            {"text": "not mine", "timestamp": 1.0}]}),
        ("PUT", f"{t}/artifacts/stolen", {"hash": blob}),
        ("PUT", f"{t}/artifacts/linked", {"uri": "https://example.invalid/x"}),
        ("DELETE", f"{t}/artifacts/kept", None),
        ("DELETE", t, None),
    ]


def _blob(client: httpx.Client, data: bytes) -> str:
    h = hash_bytes(data)
    assert client.put(f"{API}/blobs/{h}", content=data).status_code == 200
    return h


def test_user_reads_but_cannot_modify_someone_elses_task(server):
    key, secret = server.user(_unique("reader"))
    with server.client() as admin, server.client(key, secret) as other:
        task = _new_task(admin)
        blob = _blob(admin, b"owned by admin")
        assert admin.put(f"{API}/tasks/{task['id']}/artifacts/kept",
                         json={"hash": blob}).status_code == 200
        before = _snapshot(admin, task["id"])

        # reading is open to every user
        assert other.get(f"{API}/tasks/{task['id']}").status_code == 200
        assert other.get(f"{API}/tasks/{task['id']}/params").json()[0]["value"] == "0.1"
        listed = other.get(f"{API}/tasks", params={"project": "auth/ownership"}).json()
        assert task["id"] in [t["id"] for t in listed["items"]]
        assert other.get(f"{API}/blobs/{blob}").content == b"owned by admin"

        for method, path, body in _modifications(server, task["id"], blob):
            resp = other.request(method, path, json=body)
            _error(resp, 403, "forbidden")
        assert _snapshot(admin, task["id"]) == before

        # cloning is reading: the clone belongs to the caller, the source is untouched
        clone = other.post(f"{API}/tasks/{task['id']}/clone", json={})
        assert clone.status_code == 201
        assert clone.json()["owner"] != "admin"
        assert _snapshot(admin, task["id"]) == before


def test_owner_and_admin_can_modify(server):
    name = _unique("owner")
    key, secret = server.user(name)
    with server.client() as admin, server.client(key, secret) as owner:
        for actor in (owner, admin):
            task = _new_task(owner, name=f"{name} task")
            assert task["owner"] == name
            blob = _blob(owner, b"owner bytes")
            assert owner.put(f"{API}/tasks/{task['id']}/artifacts/kept",
                             json={"hash": blob}).status_code == 200
            for method, path, body in _modifications(server, task["id"], blob):
                resp = actor.request(method, path, json=body)
                assert resp.status_code in (200, 201, 204), (method, path, resp.text)
            _error(actor.get(f"{API}/tasks/{task['id']}"), 404, "not_found")


@pytest.mark.parametrize("role", ["user", "admin"])
def test_roles_are_reported(server, role):
    name = _unique(role)
    key, secret = server.user(name, role=role)
    with server.client(key, secret) as c:
        assert c.get(f"{API}/me").json()["role"] == role
        status = c.get(f"{API}/users").status_code
    assert status == (200 if role == "admin" else 403)
