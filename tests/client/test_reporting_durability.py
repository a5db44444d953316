"""Reporting never blocks the training loop and never loses a point: a large report with the
server up, then a real ``arno server`` process killed and restarted (same port, same
``ARNO_HOME``) while a script keeps reporting into the on-disk spool."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest
from tests.processes import ServerProcess, clean_env, free_port

from arno.core.config_file import write_config


@pytest.fixture
def real_server(tmp_path):
    home = tmp_path / "server-home"
    home.mkdir()
    srv = ServerProcess(home, free_port())
    srv.start()
    yield srv
    srv.stop()


def test_200k_points_are_stored_and_reporting_does_not_wait(sdk, monkeypatch):
    """The calls only queue: while the server holds every batch it receives, the 200k calls
    still return, and the points travel in a few batches. (The cost of one call is a figure
    of bench/bench_report_call.py, not a bound here.)"""
    from arno import Task

    task = Task.init(
        project_name="durability",
        task_name="200k points",
        auto_connect_streams=False,
        auto_resource_monitoring=False,
    )
    ingest = sdk.services.events.ingest
    held = threading.Event()
    batches: list[str] = []
    stored: list[str] = []

    def held_ingest(task_id, batch, **kwargs):
        batches.append(batch.batch_id)
        held.wait(120)
        out = ingest(task_id, batch, **kwargs)
        stored.append(batch.batch_id)
        return out

    monkeypatch.setattr(sdk.services.events, "ingest", held_ingest)
    log = task.get_logger()
    n = 200_000
    started = time.perf_counter()
    try:
        for it in range(n):
            log.report_scalar("loss", "train", 1.0 / (it + 1), it)
        elapsed = time.perf_counter() - started
        assert stored == []  # no call waited for the server to store anything
    finally:
        held.set()
    print(f"\n{n} report_scalar calls: {elapsed / n * 1e6:.1f} us per call")
    assert task.flush(wait_for_uploads=True) is True
    assert 0 < len(set(batches)) <= n // 100  # sent in batches, not one request per point
    with sdk.client() as api:
        metrics = api.get(f"/api/v1/tasks/{task.id}/metrics").json()
    assert [(m["metric"], m["variant"], m["count"], m["last_iteration"]) for m in metrics] == [
        ("loss", "train", n, n - 1)
    ]
    series = task.get_reported_scalars()["loss"]["train"]
    assert series["x"] == list(range(n))
    assert series["y"][0] == 1.0
    assert series["y"][-1] == pytest.approx(1.0 / n)
    task.close()


RESTART_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from arno import Task

sync = Path(sys.argv[1])

def tell(name, **data):
    tmp = sync / (name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, sync / name)

def wait_for(name):
    deadline = time.monotonic() + 120
    while not (sync / name).exists():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for " + name)
        time.sleep(0.02)

N = 20_000
task = Task.init(project_name="durability", task_name="server restarts",
                 auto_resource_monitoring=False)
log = task.get_logger()
for it in range(N):
    log.report_scalar("loss", "train", 1.0 / (it + 1), it)
print("phase one")
tell("stored", task_id=task.id, ok=task.flush(wait_for_uploads=True))

wait_for("down")
started = time.perf_counter()
for it in range(N, 2 * N):
    log.report_scalar("loss", "train", 1.0 / (it + 1), it)
    log.report_scalar("acc", "val", it / (2 * N), it)
    log.report_scalar("rewrite", "v", 1.0, it)
elapsed = time.perf_counter() - started
for i in range(20):
    print(f"offline line {i}")
first = task.flush(wait_for_uploads=True, timeout=30)   # spooled: server away
for it in range(N, 2 * N):
    log.report_scalar("rewrite", "v", 2.0, it)          # a later report of the same points
print("last offline line")
second = task.flush(wait_for_uploads=True, timeout=30)
tell("spooled", elapsed=elapsed, first=first, second=second)

wait_for("up")
tell("done", ok=task.flush(wait_for_uploads=True, timeout=60))
"""


def wait_file(path: Path, proc: subprocess.Popen[str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"script ended early\nstdout:\n{out}\nstderr:\n{err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {path.name}")
        time.sleep(0.02)
    return json.loads(path.read_text())


def test_points_reported_while_the_server_is_down_are_stored_once_in_order(real_server, tmp_path):
    client_home = tmp_path / "client-home"
    client_home.mkdir()
    shutil.copy(real_server.home / "config.toml", client_home / "config.toml")  # real config
    sync = tmp_path / "sync"
    sync.mkdir()
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(RESTART_SCRIPT))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(sync)],
        cwd=tmp_path,
        env=clean_env(ARNO_HOME=str(client_home)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stored = wait_file(sync / "stored", proc)
        assert stored["ok"] is True
        task_id = stored["task_id"]

        real_server.kill()
        (sync / "down").touch()
        spooled = wait_file(sync / "spooled", proc)
        assert spooled["first"] is False and spooled["second"] is False  # not stored yet
        assert spooled["elapsed"] < 5, "reporting waited for the missing server"
        spool = sorted((client_home / "spool" / task_id).glob("*.json"))
        assert len(spool) >= 2
        first_spooled = spool[0].read_bytes()

        real_server.start()  # same port, same home
        (sync / "up").touch()
        done = wait_file(sync / "done", proc)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert done["ok"] is True
    assert not list((client_home / "spool" / task_id).glob("*.json"))

    n = 20_000
    with real_server.client() as api:
        task = api.get(f"/api/v1/tasks/{task_id}").json()
        assert task["status"] == "completed"
        assert task["last_iteration"] == 2 * n - 1
        counts = {
            (m["metric"], m["variant"]): m["count"]
            for m in api.get(f"/api/v1/tasks/{task_id}/metrics").json()
        }
        assert counts == {("loss", "train"): 2 * n, ("acc", "val"): n, ("rewrite", "v"): n}
        series = {
            (s["metric"], s["variant"]): s
            for s in api.get(f"/api/v1/tasks/{task_id}/scalars").json()
        }
        assert series[("loss", "train")]["x"] == list(range(2 * n))
        assert series[("loss", "train")]["y"][-1] == pytest.approx(1 / (2 * n))
        assert series[("acc", "val")]["x"] == list(range(n, 2 * n))
        # spooled batches went out in the order they were made: the later report wins
        assert set(series[("rewrite", "v")]["y"]) == {2.0}

        console = [
            line["text"]
            for line in api.get(f"/api/v1/tasks/{task_id}/console", params={"limit": 1000}).json()
        ]
        offline = [line for line in console if line.startswith(("offline line", "last offline"))]
        assert offline == [f"offline line {i}" for i in range(20)] + ["last offline line"]
        assert console.index("phase one") < console.index("offline line 0")

        # a spooled batch sent once more (its answer was lost, say) is not stored twice
        again = api.post(
            f"/api/v1/tasks/{task_id}/events",
            content=first_spooled,
            headers={"content-type": "application/json"},
        )
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is True
        counts_after = {
            (m["metric"], m["variant"]): m["count"]
            for m in api.get(f"/api/v1/tasks/{task_id}/metrics").json()
        }
        assert counts_after == counts


def test_a_script_started_while_the_server_is_down_fails_fast_and_says_where(tmp_path):
    client_home = tmp_path / "client-home"
    host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    write_config(client_home, {"host": host, "access_key": "k" * 16, "secret_key": "s" * 32})
    script = tmp_path / "train.py"
    script.write_text(
        "from arno import Task\n"
        "task = Task.init(project_name='p', task_name='t')\n"
        "print('never here')\n"
    )
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(ARNO_HOME=str(client_home)),
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert proc.returncode == 1
    assert "never here" not in proc.stdout
    assert "ServerUnavailable" in proc.stderr
    assert host in proc.stderr


def test_a_batch_the_server_refuses_for_now_waits_and_is_stored_later(tmp_path):
    """429 (this address failed too many logins) is "not now": the reporter keeps the batch in
    its spool and sends it once the window has passed; nothing is dropped."""
    from tests.conftest import start_server

    from arno.client import ApiSession, Reporter

    for live in start_server(tmp_path / "server", None, "sqlite",
                             login_failures_per_address=2, login_failure_window=3):
        task_id = live.client().post("/api/v1/tasks", json={"project": "p", "name": "t"}
                                     ).json()["id"]
        session = ApiSession(live.url, live.admin_key, live.admin_secret, retries=0)
        rep = Reporter(session, task_id, spool_dir=tmp_path / "spool", flush_interval=0.2)
        rep.start()
        for _ in range(2):  # someone on this address fails twice: it is throttled for 3 s
            assert httpx.get(f"{live.url}/api/v1/me", auth=("x", "y")).status_code == 401
        for it in range(100):
            rep.scalar("loss", "train", it, float(it))
        assert rep.flush(wait=True, timeout=5) is False  # refused for now: spooled
        assert rep.dropped_batches == 0
        time.sleep(3.5)  # the window passes
        assert rep.flush(wait=True, timeout=30) is True  # and the spool is sent
        assert rep.close(timeout=30) is True
        session.close()
        with live.client() as c:
            got = c.get(f"/api/v1/tasks/{task_id}/scalars").json()
        assert "loss" in json.dumps(got)
        assert sorted(_iterations(got)) == list(range(100))


def _iterations(scalars: object) -> list[int]:
    """Every iteration of every point in a scalars answer, whatever its nesting."""
    found: list[int] = []
    if isinstance(scalars, dict):
        if "x" in scalars and isinstance(scalars["x"], list):
            return [int(x) for x in scalars["x"]]
        for value in scalars.values():
            found += _iterations(value)
    elif isinstance(scalars, list):
        for value in scalars:
            found += _iterations(value)
    return found
