"""A task runs with a credential of its own, never its agent's: the owner's rights (no admin
rights, no key, user or worker management), for that run only. And a worker is operated only
by the user who registered it (or an admin). On SQLite and PostgreSQL, against a live server
and a real agent subprocess."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from tests.agent.conftest import (
    LEASE,
    console,
    create_task,
    enqueue,
    make_queue,
    start_agent,
    wait_status,
)
from tests.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    yield from start_server(tmp_path_factory.mktemp("server-home"), database_url, backend,
                            lease_seconds=LEASE, reaper_interval=0.5)


def _client(live: LiveServer, key: str, secret: str) -> httpx.Client:
    return httpx.Client(base_url=live.url, auth=(key, secret), timeout=30)


def _user(live: LiveServer, prefix: str) -> tuple[str, str]:
    return live.user(f"{prefix}-{uuid.uuid4().hex[:6]}")


# What a malicious task tries with whatever credentials its environment gives it. It prints one
# JSON line the test reads back from the console.
PROBE = """
import json, os
import httpx
from arno import Task
task = Task.init()
task.get_logger().report_scalar("probe", "ran", value=1.0, iteration=0)
task.flush(wait_for_uploads=True)
env = os.environ
auth = (env.get("ARNO_API_KEY", ""), env.get("ARNO_API_SECRET", ""))
api = httpx.Client(base_url=env["ARNO_API_HOST"] + "/api/v1", auth=auth, timeout=30)
me = api.get("/me").json()
out = {
    "key": auth[0], "secret": auth[1], "me": me,
    "server_env": sorted(k for k in env if k in ("ARNO_DATABASE_URL", "ARNO_STORAGE_OPTIONS")),
    "create_user": api.post("/users", json={"username": "evil", "password": "evil-password",
                                           "role": "admin"}).status_code,
    "list_users": api.get("/users").status_code,
    "list_keys": api.get("/keys").status_code,
    "create_key": api.post("/keys", json={}).status_code,
    "other_task": api.patch("/tasks/" + env["OTHER_TASK"], json={"comment": "pwned"}).status_code,
    "own_task": api.patch("/tasks/" + env["ARNO_TASK_ID"], json={"comment": "mine"}).status_code,
    "owners_other_task": api.patch("/tasks/" + env["OWNERS_OTHER_TASK"],
                                   json={"comment": "pwned"}).status_code,
}
made = api.post("/tasks", json={"project": "made-by-run", "name": "child"}).json()
out["made_by_run"] = made["created_by_task_id"]
out["patch_made"] = api.patch("/tasks/" + made["id"], json={"comment": "mine too"}).status_code
clone = api.post("/tasks/" + env["OWNERS_OTHER_TASK"] + "/clone", json={}).json()
out["patch_clone"] = api.patch("/tasks/" + clone["id"], json={"comment": "mine"}).status_code
out.update({
    "register_worker": api.post("/workers", json={"id": "evil-worker", "queues": ["x"]}
                                ).status_code,
    "queue_create": api.post("/queues", json={"name": "evil-queue"}).status_code,
})
print("PROBE " + json.dumps(out), flush=True)
"""


def test_a_task_runs_with_its_owners_scoped_credential_not_the_agents(live, tmp_path):
    alice = _user(live, "alice")
    bob = _user(live, "bob")
    with live.client() as admin:
        queue = make_queue(admin, "scoped")
    with _client(live, *bob) as b:
        other = create_task(b, "print('bob')\n", name="bob's")
    with _client(live, *alice) as a:
        alices_other = create_task(a, "print('alice')\n", name="alice's other")
        task_id = create_task(a, PROBE, name="probe")
        assert enqueue(a, task_id, queue).status_code == 200
    # the agent holds the admin's key, as the agent of ``arno up`` does
    agent = start_agent(live, tmp_path / "agent", "--queue", queue,
                        env=_agent_env(live, tmp_path, other, alices_other))
    try:
        with live.client() as admin:
            final = wait_status(admin, task_id, timeout=120)
            lines = console(admin, task_id)
    finally:
        agent.stop()
    probe = [json.loads(line.split("PROBE ", 1)[1]) for line in lines if "PROBE " in line]
    assert probe, f"{final['status']}: {final['status_message']}\n" + "\n".join(lines[-40:])
    got = probe[0]
    assert got["key"] and got["key"] not in (live.admin_key, alice[0])
    assert live.admin_secret not in json.dumps(got)
    assert got["me"]["username"].startswith("alice-") and got["me"]["role"] == "user"
    assert got["me"]["run_task_id"] == task_id
    assert got["server_env"] == []
    assert got["own_task"] == 200
    # what the run creates is its own to change; the owner's other tasks are not
    assert got["made_by_run"] == task_id
    assert got["patch_made"] == 200 and got["patch_clone"] == 200
    for refused in ("create_user", "list_users", "list_keys", "create_key", "other_task",
                    "owners_other_task", "register_worker", "queue_create"):
        assert got[refused] == 403, (refused, got)
    with live.client() as admin:
        users = [u["username"] for u in admin.get("/api/v1/users").json()]
        assert "evil" not in users
        assert admin.get(f"/api/v1/tasks/{other}").json()["comment"] != "pwned"
        assert admin.get(f"/api/v1/tasks/{alices_other}").json()["comment"] != "pwned"
        scalars = admin.get(f"/api/v1/tasks/{task_id}/scalars").json()
        assert "probe" in json.dumps(scalars)
        assert final["status"] == "completed", final["status_message"]
    # the run is over: its credential is dead
    with _client(live, got["key"], got["secret"]) as dead:
        assert dead.get("/api/v1/me").status_code == 401


def _agent_env(live: LiveServer, tmp_path, other: str, owners_other: str) -> dict[str, str]:
    from tests.agent.conftest import agent_env

    env = agent_env(live, tmp_path / "agent")
    # server settings in the agent's environment (as inside ``arno up``) stay with the agent
    env["ARNO_DATABASE_URL"] = "postgresql://secret@db/never-handed-to-a-task"
    env["OTHER_TASK"] = other  # inherited by the task like any variable of the agent's
    env["OWNERS_OTHER_TASK"] = owners_other
    return env


# ---- the credential's life, through the API an agent uses ------------------------------------
def _worker(client: httpx.Client, queue: str) -> str:
    wid = f"w-{uuid.uuid4().hex[:8]}"
    r = client.post("/api/v1/workers", json={"id": wid, "queues": [queue]})
    assert r.status_code == 200, r.text
    return wid


def _take(client: httpx.Client, wid: str, queue: str) -> dict:
    r = client.post(f"/api/v1/workers/{wid}/dequeue", json={"queues": [queue], "wait": 5})
    assert r.status_code == 200, r.text
    reply = r.json()
    assert reply["task"] is not None
    return dict(reply)


def _queued_task(live: LiveServer, owner: tuple[str, str], queue: str) -> str:
    with _client(live, *owner) as c:
        tid = create_task(c, "print(1)\n")
        assert enqueue(c, tid, queue).status_code == 200
    return tid


def _taken(live: LiveServer, admin: httpx.Client, prefix: str) -> tuple[str, str, dict]:
    """A task of a new user, queued and taken by a worker of the admin's: (worker, task,
    the dequeue reply)."""
    queue = make_queue(admin, prefix)
    wid = _worker(admin, queue)
    tid = _queued_task(live, _user(live, "alice"), queue)
    return wid, tid, _take(admin, wid, queue)


def test_the_credential_dies_when_the_agent_reports_the_end(live):
    with live.client() as admin:
        wid, tid, reply = _taken(live, admin, "life")
        cred = reply["credential"]
        assert reply["task"]["id"] == tid and cred["access_key"].startswith("RUN")
        with _client(live, cred["access_key"], cred["secret_key"]) as run:
            me = run.get("/api/v1/me").json()
            assert me["run_task_id"] == tid and me["username"].startswith("alice-")
            # a wrong secret for a run key is refused like any other
            with _client(live, cred["access_key"], "x" * 43) as wrong:
                assert wrong.get("/api/v1/me").status_code == 401
            # run credentials are not listed among anyone's keys
            assert all(not k["access_key"].startswith("RUN")
                       for k in admin.get("/api/v1/keys", params={"all": True}).json())
            r = admin.post(f"/api/v1/workers/{wid}/tasks/{tid}/done",
                           json={"exit_code": 0, "message": ""})
            assert r.status_code == 200, r.text
            assert _refused_soon(run)


def test_the_credential_dies_with_a_lapsed_lease(live):
    with live.client() as admin:
        _wid, tid, reply = _taken(live, admin, "lapse")
        cred = reply["credential"]
        with _client(live, cred["access_key"], cred["secret_key"]) as run:
            assert run.get("/api/v1/me").status_code == 200
            # no heartbeat: the reaper fails the task after LEASE and the key goes with it
            wait_status(admin, tid, ("failed",), timeout=LEASE * 6)
            assert _refused_soon(run)


def test_heartbeats_keep_a_long_run_credential_alive(live):
    with live.client() as admin:
        wid, tid, reply = _taken(live, admin, "long")
        cred = reply["credential"]
        first = cred["expires_at"]
        time.sleep(1.1)
        r = admin.post(f"/api/v1/workers/{wid}/heartbeat", json={"task_ids": [tid]})
        assert r.status_code == 200 and r.json()["abort"] == []
        with live.services.db.read() as s:
            from sqlalchemy import select

            from arno.db.models import ApiKeyRow

            row = s.scalar(select(ApiKeyRow).where(ApiKeyRow.access_key == cred["access_key"]))
            assert row is not None and row.expires_at.isoformat() > first[:19]


# ---- a worker belongs to whoever registered it -----------------------------------------------
def test_only_the_workers_owner_or_an_admin_may_act_as_it(live):
    alice, bob = _user(live, "alice"), _user(live, "bob")
    with live.client() as admin:
        queue = make_queue(admin, "owned")
    tid = _queued_task(live, alice, queue)
    with _client(live, *alice) as a, _client(live, *bob) as b, live.client() as admin, \
            httpx.Client(base_url=live.url, timeout=30) as anon:
        wid = _worker(a, queue)
        # no credentials: 401 everywhere, even with a malformed body
        for method, path, body in _worker_calls(wid, tid, queue):
            assert anon.request(method, path, json=body).status_code == 401, path
        # another user: 403, and nothing changes
        for method, path, body in _worker_calls(wid, tid, queue):
            r = b.request(method, path, json=body)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["error"]["code"] == "forbidden"
        assert admin.get(f"/api/v1/tasks/{tid}").json()["status"] == "queued"
        # another user cannot take over the name either
        r = b.post("/api/v1/workers", json={"id": wid, "queues": [queue]})
        assert r.status_code == 409
        # the owner takes, renews and ends its task
        reply = _take(a, wid, queue)
        assert reply["task"]["id"] == tid
        assert a.post(f"/api/v1/workers/{wid}/heartbeat",
                      json={"task_ids": [tid]}).status_code == 200
        # an admin may act for any worker
        assert admin.post(f"/api/v1/workers/{wid}/heartbeat",
                          json={"task_ids": [tid]}).status_code == 200
        r = a.post(f"/api/v1/workers/{wid}/tasks/{tid}/done", json={"exit_code": 0})
        assert r.status_code == 200 and r.json()["status"] == "completed"
        # the run's own credential cannot act as a worker, even its owner's
        with _client(live, reply["credential"]["access_key"],
                     reply["credential"]["secret_key"]) as run:
            r = run.post(f"/api/v1/workers/{wid}/heartbeat", json={"task_ids": []})
            assert r.status_code in (401, 403)
        assert b.delete(f"/api/v1/workers/{wid}").status_code == 403
        assert a.delete(f"/api/v1/workers/{wid}").status_code == 204


def _worker_calls(wid: str, tid: str, queue: str) -> list[tuple[str, str, object]]:
    return [
        ("POST", f"/api/v1/workers/{wid}/dequeue", {"queues": [queue], "wait": 0}),
        ("POST", f"/api/v1/workers/{wid}/heartbeat", {"task_ids": [tid]}),
        ("POST", f"/api/v1/workers/{wid}/tasks/{tid}/done", {"exit_code": 1}),
        ("DELETE", f"/api/v1/workers/{wid}", None),
    ]


def _refused_soon(client: httpx.Client, within: float = 5.0) -> bool:
    """A revoked key stops working at once in the process that revoked it; a key checked
    moments before may be trusted for ``PRINCIPAL_SECONDS`` more."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if client.get("/api/v1/me").status_code == 401:
            return True
        time.sleep(0.2)
    return False


# ---- what the task's process is given (venv and container executors) -------------------------
def test_the_run_environment_holds_the_run_key_and_no_agent_secret(tmp_path, monkeypatch):
    """No agent runs here: the environment and the container's env file are built as the
    agent builds them (no container engine on this machine; the command is only built)."""
    from arno.agent._runner import RunContext, TaskRun
    from arno.client import ApiSession

    monkeypatch.setenv("ARNO_API_KEY", "AGENTKEY")
    monkeypatch.setenv("ARNO_API_SECRET", "agent-secret")
    monkeypatch.setenv("ARNO_DATABASE_URL", "postgresql://u:dbpass@db/arno")
    monkeypatch.setenv("ARNO_STORAGE_OPTIONS", '{"secret": "s3pass"}')
    monkeypatch.setenv("ARNO_HOME", str(tmp_path / "home"))
    session = ApiSession("http://127.0.0.1:9", "AGENTKEY", "agent-secret", retries=0)
    ctx = RunContext(session=session, worker_id="w1",
                     api_env={"ARNO_API_HOST": "http://127.0.0.1:9"}, envs=None,  # type: ignore[arg-type]
                     work_dir=tmp_path, gpus=None, container_engine="/usr/bin/docker")
    task = {"id": "a" * 32, "name": "t", "script": {}, "runtime": {}}
    run = TaskRun(ctx, task, "default",
                  credential={"access_key": "RUNKEY", "secret_key": "run-secret"})
    try:
        env = run._child_env(None)
        assert env["ARNO_API_KEY"] == "RUNKEY" and env["ARNO_API_SECRET"] == "run-secret"
        assert env["ARNO_HOME"] == str(tmp_path / "home")
        assert "ARNO_DATABASE_URL" not in env and "ARNO_STORAGE_OPTIONS" not in env
        assert "agent-secret" not in "".join(env.values())
        run.workspace.mkdir(parents=True)
        from arno.agent._workspace import Code

        root = run.workspace / "code"
        root.mkdir()
        code = Code(root=root, entry_point=root / "train.py", cwd=root, description="test")
        run._container_command({}, {}, {"image": "python:3.11"}, code)
        env_file = (run.workspace / ".arno-env").read_text()
        assert "ARNO_API_KEY=RUNKEY" in env_file and "AGENTKEY" not in env_file
        assert "agent-secret" not in env_file and "dbpass" not in env_file
    finally:
        session.close()
