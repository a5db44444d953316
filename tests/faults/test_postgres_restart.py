"""PostgreSQL stopped and started again under load, with the Arno server left running.

The machine's shared PostgreSQL is never touched: the test makes a private cluster
(``initdb`` in a temp folder, ``pg_ctl`` on a free port, run as the ``postgres`` OS user when
the test runs as root) and starts an ``arno server`` subprocess on it. Load comes from raw
HTTP writers (each batch sent again with the same id until it is acknowledged, so what was
acknowledged is known exactly) and from a script reporting through the SDK. Mid-load the
cluster is stopped with ``pg_ctl stop -m immediate`` (a crash: recovery runs on the next
start), left down for a moment, and started again. Asserted:

- while the database is away the server answers every request quickly, with a 5xx JSON error
  body (503 "unavailable", so clients retry or spool), never a hang and never a crash;
- once the database is back the server serves again on its own, without a restart;
- every acknowledged point is stored, once; the SDK script's points arrive whole.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from tests.processes import ServerProcess, free_port, wait_json

WRITERS = 3
BATCH = 500
DOWN_SECONDS = 3.0
SDK_POINTS = 60_000


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


class PrivatePostgres:
    """A throwaway cluster of our own: initdb, pg_ctl start/stop, nothing shared."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.sock = root / "sock"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        self.sock.mkdir(parents=True)
        if self.as_postgres:
            shutil.chown(root, "postgres")
            shutil.chown(self.sock, "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=60")
        self.run("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"),
                 "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")


@pytest.fixture
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivatePostgres]:
    bindir = _pg_bin()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed here")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as 'postgres'")
    root = Path(f"/tmp/arno-pg-{uuid.uuid4().hex[:8]}")  # short: the socket path has a limit
    root.mkdir()
    pg = PrivatePostgres(bindir, root)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        try:
            pg.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


class Writer(threading.Thread):
    """Sends batches of ``BATCH`` points to one series; a batch not acknowledged is sent
    again, same id, until it is. Records every answer."""

    def __init__(self, url: str, auth: tuple[str, str], task_id: str, n: int) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=url, auth=auth, timeout=30)
        self.task_id = task_id
        self.variant = f"writer{n}"
        self.stop = threading.Event()
        self.acked: list[int] = []  # iterations acknowledged
        self.answers: list[tuple[float, int | str, float, str]] = []  # (t, status, secs, code)

    def run(self) -> None:
        it = 0
        while not self.stop.is_set():
            its = list(range(it, it + BATCH))
            body = {"batch_id": uuid.uuid4().hex, "scalars": [{
                "metric": "load", "variant": self.variant, "iterations": its,
                "values": [float(i) for i in its], "timestamps": [time.time()] * BATCH}]}
            while True:
                began = time.monotonic()
                try:
                    r = self.client.post(f"/api/v1/tasks/{self.task_id}/events", json=body)
                except httpx.TransportError as exc:
                    self.answers.append((began, type(exc).__name__,
                                         time.monotonic() - began, ""))
                    time.sleep(0.1)
                    continue
                code = ""
                if r.status_code != 200:
                    try:
                        code = r.json()["error"]["code"]
                    except (ValueError, KeyError, TypeError):
                        code = f"not JSON: {r.text[:80]!r}"
                self.answers.append((began, r.status_code, time.monotonic() - began, code))
                if r.status_code == 200:
                    self.acked.extend(its)
                    break
                time.sleep(0.1)
            it += BATCH
            time.sleep(0.02)
        self.client.close()


SDK_SCRIPT = """
import json, os, sys, time
from pathlib import Path
from arno import Task

sync, points = Path(sys.argv[1]), int(sys.argv[2])

def tell(name, **data):
    tmp = sync / (name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, sync / name)

task = Task.init(project_name="faults", task_name="sdk during a database restart",
                 auto_connect_streams=False, auto_resource_monitoring=False)
tell("started", task_id=task.id)
log = task.get_logger()
began = time.monotonic()
for step in range(60):
    for it in range(step * points // 60, (step + 1) * points // 60):
        log.report_scalar("sdk", "train", float(it), it)
    task.flush(wait_for_uploads=False)
    time.sleep(0.15)
flushes = 1
while not (ok := task.flush(wait_for_uploads=True, timeout=60)):
    if time.monotonic() - began > 120:
        break
    flushes += 1
    time.sleep(0.5)
tell("done", ok=ok, flushes=flushes, dropped=task._reporter.dropped_batches)
task.close()
"""


@pytest.mark.slow
def test_postgres_stopped_and_started_under_load(postgres: PrivatePostgres, tmp_path: Path):
    srv = ServerProcess(tmp_path / "server-home", ARNO_DATABASE_URL=postgres.url)
    srv.start()
    writers: list[Writer] = []
    proc = None
    began = time.monotonic()
    try:
        with srv.client() as api:
            r = api.post("/api/v1/tasks", json={"project": "faults", "name": "pg restart"})
            assert r.status_code in (200, 201), r.text
            task_id = r.json()["id"]
        sync = tmp_path / "sync"
        sync.mkdir()
        script = tmp_path / "report.py"
        script.write_text(textwrap.dedent(SDK_SCRIPT))
        proc = subprocess.Popen(
            [sys.executable, str(script), str(sync), str(SDK_POINTS)], cwd=tmp_path,
            env=srv.client_env(tmp_path / "client-home"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sdk_task = wait_json(sync / "started", proc)["task_id"]

        writers = [Writer(srv.url, srv.credentials(), task_id, n) for n in range(WRITERS)]
        for w in writers:
            w.start()
        time.sleep(1.5)  # under load
        assert all(w.acked for w in writers), "no load before the outage"

        down_at = time.monotonic()
        postgres.stop("immediate")
        time.sleep(DOWN_SECONDS)
        health_down = httpx.get(f"{srv.url}/health", timeout=10)
        postgres.start()
        up_at = time.monotonic()

        # it serves again on its own: every writer gets an acknowledgement after the start
        deadline = time.monotonic() + 60
        while not all(any(a[0] > up_at and a[1] == 200 for a in w.answers) for w in writers):
            assert time.monotonic() < deadline, "the server did not recover on its own"
            assert srv.alive(), srv.log_text()[-3000:]
            time.sleep(0.1)
        recovered = time.monotonic() - up_at
        time.sleep(0.5)
        for w in writers:
            w.stop.set()
        for w in writers:
            w.join(timeout=60)
            assert not w.is_alive()
        done = wait_json(sync / "done", proc, timeout=180)
        out, err = proc.communicate(timeout=60)
        assert srv.alive(), "the server died with its database"

        # during the outage: quick 5xx JSON errors, no hang, no crash
        during = [a for w in writers for a in w.answers if down_at <= a[0] <= up_at]
        statuses = Counter((a[1], a[3]) for a in during)
        assert during, "no request was made while the database was down"
        assert all(isinstance(a[1], int) and a[1] >= 500 or a[1] == 200 for a in during), \
            statuses
        assert all(a[3] and not a[3].startswith("not JSON") for a in during if a[1] != 200), \
            statuses
        assert max(a[2] for a in during) < 10, "a request hung while the database was down"
        assert any(a[1] == 503 and a[3] == "unavailable" for a in during), statuses
        assert health_down.status_code == 503, health_down.text

        # every acknowledged point is stored, once
        with srv.client() as api:
            counts = {m["variant"]: m["count"]
                      for m in api.get(f"/api/v1/tasks/{task_id}/metrics").json()}
            for w in writers:
                assert counts[w.variant] == len(w.acked) == len(set(w.acked))
                xs = [s for s in api.get(f"/api/v1/tasks/{task_id}/scalars").json()
                      if s["variant"] == w.variant][0]["x"]
                assert xs == sorted(w.acked)
            # the SDK script lost nothing either
            assert proc.returncode == 0, err
            assert done["ok"] is True and not done["dropped"], (done, err[-2000:])
            sdk_counts = [(m["metric"], m["count"], m["last_iteration"]) for m in
                          api.get(f"/api/v1/tasks/{sdk_task}/metrics").json()]
            assert sdk_counts == [("sdk", SDK_POINTS, SDK_POINTS - 1)]
        engine = create_engine(postgres.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT count(*) FROM scalars s JOIN series r ON r.id = s.series_id "
                "WHERE r.task_id = :t"), {"t": task_id}).scalar()
        engine.dispose()
        assert rows == sum(len(w.acked) for w in writers)
    finally:
        for w in writers:
            w.stop.set()
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        srv.stop()
    print(f"\ndatabase down {DOWN_SECONDS} s; answers meanwhile {dict(statuses)}; slowest "
          f"{max(a[2] for a in during):.2f} s; serving again {recovered:.2f} s after the start; "
          f"acknowledged {sum(len(w.acked) for w in writers)} + {SDK_POINTS} (SDK, "
          f"{done['flushes']} final flushes) points; test {time.monotonic() - began:.1f} s")
