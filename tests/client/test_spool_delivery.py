"""Batches a process spooled while the server was away, and then left behind when it ended,
are delivered later by whoever comes next on the machine (``arno spool send``, a new
``Task.init``, an agent), each batch once; a live process's spool is left to it; a batch the
server can never take is moved aside with its reason."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.client.test_reporting_durability import wait_file
from tests.processes import ServerProcess, clean_env, free_port

from arno.client import ApiSession, Reporter, deliver_orphans, list_waiting, spool_roots
from arno.core.errors import ServerUnavailable

# ---- helpers ---------------------------------------------------------------------------------
SPOOL_CHILD = """
import sys, time
from pathlib import Path
from arno.client import ApiSession, Reporter

home, task_id, host = sys.argv[1], sys.argv[2], sys.argv[3]
n, per_batch = int(sys.argv[4]), int(sys.argv[5])
session = ApiSession(host, "k" * 16, "s" * 32, retries=0)
rep = Reporter(session, task_id, spool_dir=Path(home) / "spool", max_batch_points=per_batch)
rep.start()
for it in range(n):
    rep.scalar("loss", "train", it, 1.0 / (it + 1))
    if (it + 1) % per_batch == 0:
        rep.console([("stdout", f"line {it // per_batch}", time.time())])
        rep.flush(wait=True, timeout=30)
assert rep.close(timeout=30) is False  # spooled: nobody listens at that address
if len(sys.argv) > 6:  # stay alive (the spool is ours) until told to go
    sync = Path(sys.argv[6])
    (sync / "spooled").write_text("1")
    while not (sync / "go").exists():
        time.sleep(0.02)
"""


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def spool_in_child(home: Path, task_id: str, n: int, per_batch: int) -> list[Path]:
    """A child process reports ``n`` points while the server is away, and exits."""
    proc = subprocess.run(
        [sys.executable, "-c", SPOOL_CHILD, str(home), task_id, closed_url(), str(n),
         str(per_batch)],
        env=clean_env(ARNO_HOME=str(home)), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    files = sorted((home / "spool" / task_id).glob("*.json"))
    assert len(files) == n // per_batch
    return files


def new_task(client: httpx.Client, name: str = "spooled") -> str:
    r = client.post("/api/v1/tasks", json={"project": "spool", "name": name,
                                           "status": "in_progress"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def points(client: httpx.Client, task_id: str) -> int:
    metrics = client.get(f"/api/v1/tasks/{task_id}/metrics").json()
    return sum(m["count"] for m in metrics)


def console_lines(client: httpx.Client, task_id: str) -> list[str]:
    lines = client.get(f"/api/v1/tasks/{task_id}/console", params={"limit": 10000}).json()
    return [line["text"] for line in lines]


def check_delivered(client: httpx.Client, task_id: str, n: int, per_batch: int) -> None:
    assert points(client, task_id) == n
    series = client.get(f"/api/v1/tasks/{task_id}/scalars").json()
    assert series[0]["x"] == list(range(n))
    # console lines are appended, not upserted: a batch stored twice would show here
    assert console_lines(client, task_id) == [f"line {i}" for i in range(n // per_batch)]


def cli(home: Path, url: str, key: str, secret: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arno.cli.main", "spool", *args],
        env=clean_env(ARNO_HOME=str(home), ARNO_API_HOST=url, ARNO_API_KEY=key,
                      ARNO_API_SECRET=secret),
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "client-home"
    path.mkdir()
    return path


# ---- `arno spool send` after a real outage ------------------------------------------------
SDK_CHILD = """
import json, os, sys, time
from pathlib import Path
from arno import Task

sync = Path(sys.argv[1])
task = Task.init(project_name="spool", task_name="outage", auto_connect_streams=False,
                 auto_resource_monitoring=False)
(sync / "started").write_text(json.dumps({"task_id": task.id}))
while not (sync / "down").exists():
    time.sleep(0.02)
log = task.get_logger()
for it in range(5000):
    log.report_scalar("loss", "train", 1.0 / (it + 1), it)
    if it == 2499:
        task.flush(wait_for_uploads=True, timeout=20)  # the second half is a batch of its own
"""


def test_arno_spool_send_delivers_what_an_ended_script_left(tmp_path, home):
    server = ServerProcess(tmp_path / "server-home", free_port())
    server.start()
    try:
        shutil.copy(server.home / "config.toml", home / "config.toml")
        sync = tmp_path / "sync"
        sync.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(SDK_CHILD), str(sync)],
                                env=clean_env(ARNO_HOME=str(home)), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        task_id = wait_file(sync / "started", proc)["task_id"]
        server.kill()
        (sync / "down").touch()
        _out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        left = sorted((home / "spool" / task_id).glob("*.json"))
        assert len(left) >= 2, "the script should have left its batches in the spool"

        waiting = {w.task_id: w for w in list_waiting(spool_roots(home))}
        assert (waiting[task_id].batches, waiting[task_id].points) == (len(left), 5000)
        assert waiting[task_id].in_use is False

        # still away: one line, non-zero, nothing lost
        away = subprocess.run([sys.executable, "-m", "arno.cli.main", "spool", "send"],
                              env=clean_env(ARNO_HOME=str(home)), capture_output=True,
                              text=True, timeout=60)
        assert away.returncode != 0
        assert len(away.stderr.strip().splitlines()) == 1, away.stderr
        assert "cannot reach" in away.stderr
        assert len(list((home / "spool" / task_id).glob("*.json"))) == len(left)

        server.start()  # same port, same home
        sent = subprocess.run([sys.executable, "-m", "arno.cli.main", "spool", "send"],
                              env=clean_env(ARNO_HOME=str(home)), capture_output=True,
                              text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        assert f"sent {len(left)} batch(es), 5000 point(s), from 1 task folder(s)" in sent.stdout
        assert not (home / "spool" / task_id).exists()
        with server.client() as api:
            assert points(api, task_id) == 5000
            assert api.get(f"/api/v1/tasks/{task_id}/scalars").json()[0]["x"] == list(
                range(5000))
            assert not api.get(f"/api/v1/tasks/{task_id}").json()["runtime"].get(
                "spool_pending")
        again = subprocess.run([sys.executable, "-m", "arno.cli.main", "spool", "send"],
                               env=clean_env(ARNO_HOME=str(home)), capture_output=True,
                               text=True, timeout=60)
        assert again.returncode == 0
        assert "sent 0 batch(es)" in again.stdout
    finally:
        server.stop()


# ---- the other callers -----------------------------------------------------------------------
def test_a_new_task_init_in_another_process_delivers_them(sqlite_server, home):
    with sqlite_server.client() as api:
        task_id = new_task(api)
        spool_in_child(home, task_id, 3000, 500)
        script = (
            "from arno import Task\n"
            "t = Task.init(project_name='spool', task_name='next run',\n"
            "              auto_connect_streams=False, auto_resource_monitoring=False)\n"
            "t.get_logger().report_scalar('x', 'y', 1.0, 0)\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", script],
            env=clean_env(ARNO_HOME=str(home), ARNO_API_HOST=sqlite_server.url,
                          ARNO_API_KEY=sqlite_server.admin_key,
                          ARNO_API_SECRET=sqlite_server.admin_secret),
            capture_output=True, text=True, timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        check_delivered(api, task_id, 3000, 500)
        assert not (home / "spool" / task_id).exists()


def test_an_agent_start_delivers_them(sqlite_server, home):
    with sqlite_server.client() as api:
        task_id = new_task(api)
        spool_in_child(home, task_id, 2000, 500)
        queue = f"q-{uuid.uuid4().hex[:8]}"
        assert api.post("/api/v1/queues", json={"name": queue}).status_code == 201
        log = home / "agent.log"
        with log.open("wb") as out:
            agent = subprocess.Popen(
                [sys.executable, "-m", "arno.cli.main", "agent", "daemon", "--queue", queue,
                 "--name", f"spool-{queue}"],
                env=clean_env(ARNO_HOME=str(home), ARNO_API_HOST=sqlite_server.url,
                              ARNO_API_KEY=sqlite_server.admin_key,
                              ARNO_API_SECRET=sqlite_server.admin_secret),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + 60
            while points(api, task_id) < 2000 or (home / "spool" / task_id).exists():
                assert agent.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        finally:
            agent.send_signal(signal.SIGTERM)
            try:
                agent.wait(timeout=60)
            except subprocess.TimeoutExpired:
                agent.kill()
                agent.wait()
        check_delivered(api, task_id, 2000, 500)
        assert "sent 4 spooled batch(es) (2000 points" in log.read_text()


# ---- locking ---------------------------------------------------------------------------------
def test_two_deliverers_at_once_send_each_batch_once(sqlite_server, home):
    with sqlite_server.client() as api:
        tasks = [new_task(api, f"spooled {i}") for i in range(3)]
        for task_id in tasks:
            spool_in_child(home, task_id, 1200, 100)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "arno.cli.main", "spool", "send", "--json"],
                env=clean_env(ARNO_HOME=str(home), ARNO_API_HOST=sqlite_server.url,
                              ARNO_API_KEY=sqlite_server.admin_key,
                              ARNO_API_SECRET=sqlite_server.admin_secret),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            results.append(json.loads(out))
        assert sum(r["batches"] for r in results) == 3 * 12
        assert sum(r["duplicates"] for r in results) == 0
        assert sorted(t for r in results for t in r["tasks"]) == sorted(tasks)
        for task_id in tasks:
            check_delivered(api, task_id, 1200, 100)


def test_a_live_reporters_spool_is_not_taken(sqlite_server, home):
    with sqlite_server.client() as api:
        orphan = new_task(api, "ended")
        spool_in_child(home, orphan, 200, 100)
        other = new_task(api, "live")
        live = Reporter(ApiSession(closed_url(), "k" * 16, "s" * 32, retries=0), other,
                        spool_dir=home / "spool")
        live.scalar("m", "v", 0, 1.0)
        assert live.flush(wait=True) is False  # spooled, and the reporter goes on
        session = ApiSession(sqlite_server.url, sqlite_server.admin_key,
                             sqlite_server.admin_secret)
        waiting = {w.task_id: w for w in list_waiting(spool_roots(home))}
        assert waiting[other].in_use is True and waiting[orphan].in_use is False
        done = deliver_orphans(session, spool_roots(home))
        assert done.tasks == [orphan]
        assert len(list((home / "spool" / other).glob("*.json"))) == 1
        assert points(api, other) == 0
        # once closed (its process may live on), what it could not send is anyone's to send
        live.close(timeout=5)
        done = deliver_orphans(session, spool_roots(home))
        session.close()
        assert done.tasks == [other]
        assert points(api, other) == 1
        assert points(api, orphan) == 200


def test_a_live_process_holds_its_folder_until_it_ends(sqlite_server, home, tmp_path):
    """A process still running with batches in its spool (its reporter not closed)."""
    with sqlite_server.client() as api:
        task_id = new_task(api)
        sync = tmp_path / "sync"
        sync.mkdir()
        script = textwrap.dedent("""
            import sys, time
            from pathlib import Path
            from arno.client import ApiSession, Reporter
            home, task_id, host, sync = sys.argv[1:5]
            rep = Reporter(ApiSession(host, "k" * 16, "s" * 32, retries=0), task_id,
                           spool_dir=Path(home) / "spool")
            rep.scalar("m", "v", 0, 1.0)
            assert rep.flush(wait=True) is False
            (Path(sync) / "spooled").write_text("1")
            while not (Path(sync) / "go").exists():
                time.sleep(0.02)
        """)
        child = subprocess.Popen([sys.executable, "-c", script, str(home), task_id,
                                  closed_url(), str(sync)],
                                 env=clean_env(ARNO_HOME=str(home)), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        session = ApiSession(sqlite_server.url, sqlite_server.admin_key,
                             sqlite_server.admin_secret)
        try:
            wait_file(sync / "spooled", child)
            listed = cli(home, sqlite_server.url, sqlite_server.admin_key,
                         sqlite_server.admin_secret, "list", "--json")
            assert json.loads(listed.stdout)[0]["in_use"] is True
            assert deliver_orphans(session, spool_roots(home)).batches == 0
            assert points(api, task_id) == 0
        finally:
            (sync / "go").touch()
            child.communicate(timeout=60)
        # the process ended without closing anything: the kernel freed its lock
        assert deliver_orphans(session, spool_roots(home)).batches == 1
        assert points(api, task_id) == 1
        session.close()


# ---- what the server refuses -----------------------------------------------------------------
def test_a_corrupt_or_refused_batch_is_moved_aside_and_the_rest_goes(sqlite_server, home):
    with sqlite_server.client() as api:
        task_id = new_task(api)
        files = spool_in_child(home, task_id, 600, 200)
        folder = files[0].parent
        # between the first and second batch: garbage, and a write cut short by a crash
        (folder / (files[0].name[:-5] + "-a.json")).write_bytes(b"{not json")
        (folder / (files[0].name[:-5] + "-b.json.tmp")).write_bytes(b'{"batch_id": "x')
        gone = uuid.uuid4().hex  # a task deleted meanwhile: the server says 404 for good
        spool_in_child(home, gone, 100, 100)
        session = ApiSession(sqlite_server.url, sqlite_server.admin_key,
                             sqlite_server.admin_secret)
        done = deliver_orphans(session, spool_roots(home))
        session.close()
        assert done.server_away is None
        assert done.rejected == 3
        assert sorted(done.tasks) == sorted([task_id, gone])
        check_delivered(api, task_id, 600, 200)
        rejected = home / "spool" / "rejected"
        reasons = {p.name: p.read_text() for p in rejected.rglob("*.reason")}
        assert len(reasons) == 3
        assert any("not a JSON batch" in r for r in reasons.values())
        assert any("unfinished write" in r for r in reasons.values())
        assert any("not_found" in r for r in reasons.values())
        assert (rejected / gone).is_dir()
        listed = {w.task_id: w for w in list_waiting(spool_roots(home))}
        assert listed[task_id].rejected == 2 and listed[task_id].batches == 0


def test_another_users_orphan_is_left_for_its_owner(sqlite_server, home):
    key, secret = sqlite_server.user(f"u{uuid.uuid4().hex[:8]}")
    with sqlite_server.client() as api:
        task_id = new_task(api)  # the admin's
        spool_in_child(home, task_id, 200, 100)
        sent = cli(home, sqlite_server.url, key, secret, "send")
        assert sent.returncode == 0, sent.stderr
        assert "not allowed" in sent.stdout
        assert len(list((home / "spool" / task_id).glob("*.json"))) == 2
        assert points(api, task_id) == 0
        sent = cli(home, sqlite_server.url, sqlite_server.admin_key, sqlite_server.admin_secret,
                   "send")
        assert "sent 2 batch(es), 200 point(s)" in sent.stdout
        assert points(api, task_id) == 200


# ---- the task says what waits ----------------------------------------------------------------
class _GoesAway:
    """A session whose server disappears after ``ok`` event batches."""

    def __init__(self, inner: ApiSession, ok: int) -> None:
        self.inner = inner
        self.host = inner.host
        self.ok = ok

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        if path.endswith("/events"):
            if self.ok == 0:
                raise ServerUnavailable("gone again")
            self.ok -= 1
        return self.inner.request(method, path, **kwargs)


def _page(url: str, task_id: str) -> str:
    with httpx.Client(base_url=url, timeout=60, headers={"Accept": "text/html"}) as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token
        c.post("/login", data={"username": "admin", "password": "admin-password",
                               "csrf_token": token.group(1), "next": "/"})
        return c.get(f"/tasks/{task_id}", params={"tab": "execution"}).text


def test_the_task_says_batches_wait_until_they_are_all_in(sqlite_server, home):
    with sqlite_server.client() as api:
        task_id = new_task(api)
        spool_in_child(home, task_id, 500, 100)
        session = ApiSession(sqlite_server.url, sqlite_server.admin_key,
                             sqlite_server.admin_secret)
        done = deliver_orphans(_GoesAway(session, 2), spool_roots(home))
        assert done.batches == 2 and done.server_away
        pending = api.get(f"/api/v1/tasks/{task_id}").json()["runtime"]["spool_pending"]
        assert pending["batches"] == 4  # said after the first batch went
        assert pending["host"]
        page = _page(sqlite_server.url, task_id)
        assert f"4 batches of reported data are waiting on host <code>{pending['host']}" in page
        assert "spool_pending" not in page  # not shown as a runtime setting

        done = deliver_orphans(session, spool_roots(home))
        session.close()
        assert done.batches == 3 and done.tasks == [task_id]
        assert api.get(f"/api/v1/tasks/{task_id}").json()["runtime"]["spool_pending"] is None
        assert "waiting on host" not in _page(sqlite_server.url, task_id)
        assert points(api, task_id) == 500


def test_delivery_in_threads_of_one_process_sends_each_folder_once(sqlite_server, home):
    """flock locks open files, not processes: two deliverer threads exclude each other too."""
    with sqlite_server.client() as api:
        tasks = [new_task(api, f"t{i}") for i in range(3)]
        for task_id in tasks:
            spool_in_child(home, task_id, 400, 100)
        session = ApiSession(sqlite_server.url, sqlite_server.admin_key,
                             sqlite_server.admin_secret)
        results: list[Any] = []
        threads = [threading.Thread(target=lambda: results.append(
            deliver_orphans(session, spool_roots(home)))) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        session.close()
        assert sum(r.batches for r in results) == 12
        assert sum(r.duplicates for r in results) == 0
        for task_id in tasks:
            check_delivered(api, task_id, 400, 100)


def test_a_reporter_ending_with_batches_left_says_so_and_the_next_one_clears_it(sqlite_server,
                                                                               home):
    with sqlite_server.client() as api:
        task_id = new_task(api)
        session = ApiSession(sqlite_server.url, sqlite_server.admin_key,
                             sqlite_server.admin_secret)
        # events cannot get through, but the one try at the end reaches the server
        first = Reporter(_GoesAway(session, 0), task_id, spool_dir=home / "spool",
                         max_batch_points=10)
        for it in range(30):
            first.scalar("m", "v", it, 1.0)
        assert first.close(timeout=10) is False
        pending = api.get(f"/api/v1/tasks/{task_id}").json()["runtime"]["spool_pending"]
        assert pending["batches"] == 3
        # the same task reporting again from a new process (resumed): it sends the backlog first
        second = Reporter(session, task_id, spool_dir=home / "spool")
        second.scalar("m", "v", 30, 2.0)
        assert second.close(timeout=30) is True
        session.close()
        assert points(api, task_id) == 31
        assert api.get(f"/api/v1/tasks/{task_id}").json()["runtime"]["spool_pending"] is None
        assert not (home / "spool" / task_id).exists()
