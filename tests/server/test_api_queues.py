"""Queues at the API, without agents: order, atomic hand-out, leases and the errors a caller
gets. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.conftest import LiveServer, free_port

from arno.core.settings import Settings
from arno.server.app import create_app
from arno.server.routers import queues as queues_router
from arno.services.container import Services


def _queue(client: httpx.Client) -> str:
    name = f"q-{uuid.uuid4().hex[:8]}"
    client.post("/api/v1/queues", json={"name": name}).raise_for_status()
    return name


def _task(client: httpx.Client, name: str = "t") -> str:
    r = client.post("/api/v1/tasks", json={"project": "queues", "name": name,
                                          "script": {"entry_point": "t.py", "source": "pass\n"}})
    r.raise_for_status()
    return str(r.json()["id"])


def _worker(client: httpx.Client, queue: str) -> str:
    wid = f"w-{uuid.uuid4().hex[:8]}"
    client.post("/api/v1/workers", json={"id": wid, "queues": [queue]}).raise_for_status()
    return wid


def _pop(client: httpx.Client, wid: str, *queues: str) -> dict[str, Any]:
    r = client.post(f"/api/v1/workers/{wid}/dequeue", json={"queues": list(queues), "wait": 0})
    r.raise_for_status()
    return dict(r.json())


def test_priority_first_then_first_come_first_served(server: LiveServer) -> None:
    with server.client() as c:
        q = _queue(c)
        low1, high, low2 = _task(c, "low1"), _task(c, "high"), _task(c, "low2")
        for tid, prio in ((low1, 0), (high, 5), (low2, 0)):
            c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q, "priority": prio}
                   ).raise_for_status()
        assert [e["task_id"] for e in c.get(f"/api/v1/queues/{q}/entries").json()] == [
            high, low1, low2]
        wid = _worker(c, q)
        got = [_pop(c, wid, q)["task"] for _ in range(3)]
        assert [t["id"] for t in got] == [high, low1, low2]
        assert all(t["status"] == "in_progress" for t in got)
        assert _pop(c, wid, q)["task"] is None
        assert sorted(next(w for w in c.get("/api/v1/workers").json()
                           if w["id"] == wid)["task_ids"]) == sorted([high, low1, low2])


def test_the_first_listed_queue_with_work_wins(server: LiveServer) -> None:
    with server.client() as c:
        first, second = _queue(c), _queue(c)
        a, b = _task(c, "a"), _task(c, "b")
        c.post(f"/api/v1/tasks/{a}/enqueue", json={"queue": second}).raise_for_status()
        c.post(f"/api/v1/tasks/{b}/enqueue", json={"queue": first}).raise_for_status()
        wid = _worker(c, first)
        reply = _pop(c, wid, first, second)
        assert (reply["task"]["id"], reply["queue"]) == (b, first)
        reply = _pop(c, wid, first, second)
        assert (reply["task"]["id"], reply["queue"]) == (a, second)
        # the reply carries what an agent needs to start the task
        assert reply["task"]["script"]["source"] == "pass\n"
        assert reply["lease_seconds"] > 0


def test_competing_workers_never_get_the_same_task(server: LiveServer) -> None:
    with server.client() as c:
        q = _queue(c)
        ids = [_task(c, f"t{i}") for i in range(60)]
        for tid in ids:
            c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
        workers = [_worker(c, q) for _ in range(6)]

    def drain(wid: str) -> list[str]:
        got = []
        with server.client() as client:
            while (task := _pop(client, wid, q)["task"]) is not None:
                got.append(task["id"])
        return got

    with ThreadPoolExecutor(len(workers)) as pool:
        handed = [tid for got in pool.map(drain, workers) for tid in got]
    assert sorted(handed) == sorted(ids)  # every task once, none twice


def test_a_task_dequeued_by_its_owner_is_skipped_by_workers(server: LiveServer) -> None:
    with server.client() as c:
        q = _queue(c)
        a, b = _task(c, "a"), _task(c, "b")
        for tid in (a, b):
            c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
        assert c.post(f"/api/v1/tasks/{a}/dequeue").json()["status"] == "created"
        wid = _worker(c, q)
        assert _pop(c, wid, q)["task"]["id"] == b
        assert _pop(c, wid, q)["task"] is None
        assert c.get(f"/api/v1/tasks/{a}").json()["status"] == "created"


@pytest.mark.parametrize("case", ["unknown_queue", "running", "queued_twice", "no_worker"])
def test_bad_requests_get_a_clear_error_and_change_nothing(server: LiveServer, case: str
                                                           ) -> None:
    with server.client() as c:
        q = _queue(c)
        tid = _task(c)
        if case == "unknown_queue":
            r = c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": "no-such-queue"})
            assert r.status_code == 404 and "no-such-queue" in r.json()["error"]["message"]
            assert c.get(f"/api/v1/tasks/{tid}").json()["status"] == "created"
        elif case == "running":
            c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
            _pop(c, _worker(c, q), q)
            r = c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q})
            assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
            assert c.get(f"/api/v1/tasks/{tid}").json()["status"] == "in_progress"
        elif case == "queued_twice":
            c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
            r = c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q})
            assert r.status_code == 409 and q in r.json()["error"]["message"]
            assert c.get(f"/api/v1/queues/{q}").json()["length"] == 1
        else:
            c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
            r = c.post("/api/v1/workers/never-registered/dequeue",
                       json={"queues": [q], "wait": 0})
            assert r.status_code == 404 and "register" in r.json()["error"]["message"]
            assert c.get(f"/api/v1/queues/{q}").json()["length"] == 1
            assert c.get(f"/api/v1/tasks/{tid}").json()["status"] == "queued"


def test_an_enqueue_on_one_replica_wakes_an_agent_polling_another(
        server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two servers (two apps, each with its own services and listener) on one PostgreSQL
    database: the agent long-polls replica B, the task is queued through replica A, and B
    answers because A's NOTIFY woke it. B's periodic re-check is pushed beyond the poll's
    wait, so nothing else could make it answer with the task; no sleep stands in for
    "B is listening" or "the poll is waiting": the test waits for both to be so."""
    if server.backend != "postgresql":
        pytest.skip("replicas share a PostgreSQL database; SQLite has one server process")
    monkeypatch.setattr(queues_router, "RECHECK_SECONDS", 3600.0)
    st = Settings(home=tmp_path, database_url=server.services.settings.database_url)
    replica = Services(st, migrate=False)
    listening = threading.Event()
    woken_after_enqueue = threading.Event()
    enqueued = threading.Event()
    waiting = threading.Event()
    pops: list[object] = []
    wake, pop = replica.queues.wake, replica.queues.pop

    def recording_wake() -> None:  # B's listener calls it once connected, then per NOTIFY
        listening.set()
        if enqueued.is_set():
            woken_after_enqueue.set()
        wake()

    def recording_pop(*args: Any, **kwargs: Any) -> Any:
        got = pop(*args, **kwargs)
        pops.append(got)
        if got is None:
            waiting.set()  # found nothing: the poll now waits for a wake-up
        return got

    replica.queues.wake = recording_wake  # type: ignore[method-assign]
    replica.queues.pop = recording_pop  # type: ignore[method-assign]
    config = uvicorn.Config(create_app(st, replica), host="127.0.0.1", port=free_port(),
                            log_level="warning", lifespan="on")
    other = uvicorn.Server(config)
    thread = threading.Thread(target=other.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not other.started:
            assert thread.is_alive() and time.monotonic() < deadline, "replica did not start"
            time.sleep(0.02)
        assert listening.wait(20), "replica B's listener never connected"
        url_b = f"http://127.0.0.1:{config.port}"
        with server.client() as a, httpx.Client(base_url=url_b, timeout=60,
                                                auth=(server.admin_key, server.admin_secret)) as b:
            q = _queue(a)
            tid = _task(a)
            wid = _worker(b, q)
            with ThreadPoolExecutor(1) as pool:
                reply = pool.submit(lambda: b.post(f"/api/v1/workers/{wid}/dequeue",
                                                   json={"queues": [q], "wait": 60}).json())
                assert waiting.wait(20), "the long poll never reached its wait"
                enqueued.set()
                a.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
                # well before the poll's 60 s wait: only a wake-up can answer it this soon
                got = reply.result(timeout=30)
        assert got["task"]["id"] == tid
        assert woken_after_enqueue.is_set()  # by B's listener, on A's NOTIFY
        assert pops[0] is None and pops[-1] is not None  # looked, waited, woken, handed out
    finally:
        other.should_exit = True
        thread.join(timeout=10)


def test_the_task_handed_out_carries_its_parameters_and_configuration(server: LiveServer
                                                                      ) -> None:
    with server.client() as c:
        q = _queue(c)
        r = c.post("/api/v1/tasks", json={
            "project": "queues", "name": "with inputs",
            "script": {"entry_point": "t.py", "source": "pass\n"},
            "hyperparams": [{"section": "General", "name": "lr", "value": "0.1", "type": "float"},
                            {"section": "Args", "name": "epochs", "value": "3"}],
            "configurations": [{"name": "prep", "type": "dictionary", "value": '{"a": 1}'}]})
        r.raise_for_status()
        tid = r.json()["id"]
        c.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": q}).raise_for_status()
        task = _pop(c, _worker(c, q), q)["task"]
        assert task["id"] == tid and task["project"] == "queues" and task["owner"] == "admin"
        assert [(p["section"], p["name"], p["value"]) for p in task["hyperparams"]] == [
            ("Args", "epochs", "3"), ("General", "lr", "0.1")]
        assert task["configurations"][0]["name"] == "prep"
        assert task["configurations"][0]["value"] == '{"a": 1}'
        assert task["status"] == "in_progress" and task["started_at"]
