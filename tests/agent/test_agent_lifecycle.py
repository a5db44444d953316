"""An agent's life with the server: killed mid-task, refused, stopped, running several tasks at
once, and riding out a server restart. Each agent is a real subprocess."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.agent.conftest import (
    LEASE,
    agent_env,
    console,
    create_task,
    enqueue,
    make_queue,
    start_agent,
    wait_console,
    wait_status,
)
from tests.conftest import LiveServer, free_port

from arno.core.settings import Settings
from arno.server.app import create_app
from arno.services.container import Services

TICKING = (
    "import os, time\n"
    "print('pid', os.getpid(), 'devices', repr(os.environ.get('CUDA_VISIBLE_DEVICES')),"
    " flush=True)\n"
    "for i in range({n}):\n"
    "    print(f'tick {{i}}', flush=True)\n"
    "    time.sleep({pause})\n"
    "print('finished', flush=True)\n"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_an_agent_fails_its_task_after_the_lease(live, tmp_path):
    with live.client() as client:
        queue = make_queue(client, "kill")
        agent = start_agent(live, tmp_path / "home", "--queue", queue, "--cpu-only")
        try:
            tid = create_task(client, TICKING.format(n=600, pause=0.1))
            enqueue(client, tid, queue)
            wait_console(client, tid, "tick 2")
            first = console(client, tid)[1].split()
            child_pid = int(first[1])
            assert first[3] == "''"  # --cpu-only: the task sees no GPU
            agent.proc.send_signal(signal.SIGKILL)
            agent.proc.wait(timeout=10)
            killed_at = time.monotonic()
            # the task's process does not outlive its agent (no second copy can ever run)
            deadline = time.monotonic() + 10
            while _alive(child_pid):
                assert time.monotonic() < deadline, "the task survived its agent"
                time.sleep(0.05)
            task = wait_status(client, tid, timeout=LEASE + 30)
            waited = time.monotonic() - killed_at
            lines = console(client, tid)
        finally:
            agent.kill()
    assert task["status"] == "failed"
    assert "worker lost" in task["status_message"]
    assert waited < LEASE + 10, waited
    assert any(line.startswith("tick ") for line in lines)


def test_an_agent_with_a_revoked_key_exits_with_one_readable_line(live, tmp_path):
    key, secret = live.user(f"revoked-{live.backend}")
    live.services.auth.revoke_key(key)
    agent = start_agent(live, tmp_path / "home", "--queue", "default", wait=False,
                        env=agent_env(live, tmp_path / "home", key, secret))
    code = agent.proc.wait(timeout=60)
    lines = [ln for ln in agent.output().splitlines() if ln.strip()]
    assert code != 0
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: the server at ")
    assert "refused the agent's credentials" in lines[0]


def test_sigterm_stops_the_running_task_and_unregisters(live, tmp_path):
    with live.client() as client:
        queue = make_queue(client, "term")
        agent = start_agent(live, tmp_path / "home", "--queue", queue, "--grace", "2")
        tid = create_task(client, TICKING.format(n=600, pause=0.1))
        enqueue(client, tid, queue)
        wait_console(client, tid, "tick 1")
        assert agent.stop(timeout=30) == 0, agent.output()
        task = client.get(f"/api/v1/tasks/{tid}").json()
        workers = [w["id"] for w in client.get("/api/v1/workers").json()]
        lines = console(client, tid)
    assert task["status"] == "failed", task
    assert "is shutting down" in task["status_message"]
    assert "received SIGTERM" in task["status_message"]
    assert lines[-1].startswith("arno-agent: stopped (SIGTERM)")
    assert agent.name not in workers


def test_services_mode_runs_tasks_side_by_side(live, tmp_path):
    with live.client() as client:
        queue = make_queue(client, "svc")
        agent = start_agent(live, tmp_path / "home", "--queue", queue, "--services-mode", "3")
        try:
            # each task waits until all three are running: they can only finish side by side
            marks = tmp_path / "marks"
            marks.mkdir()
            source = (
                "import os, pathlib, time\n"
                f"marks = pathlib.Path({str(marks)!r})\n"
                "(marks / os.environ['ARNO_TASK_ID']).touch()\n"
                "deadline = time.time() + 60\n"
                "while len(list(marks.iterdir())) < 3:\n"
                "    assert time.time() < deadline, 'not run side by side'\n"
                "    time.sleep(0.05)\n"
                "print('all three ran together')\n"
            )
            ids = [create_task(client, source, name=f"svc-{i}") for i in range(3)]
            for tid in ids:
                enqueue(client, tid, queue)
            for tid in ids:
                task = wait_status(client, tid, timeout=90)
                assert task["status"] == "completed", console(client, tid)
            worker = next(w for w in client.get("/api/v1/workers").json()
                          if w["id"] == agent.name)
            assert worker["info"]["services_mode"] == 3
        finally:
            assert agent.stop() == 0


def test_the_container_executor_runs_the_command_it_built(live, tmp_path):
    """No container engine runs on this machine: a stand-in ``docker`` (a small script)
    records the command the agent runs and prints a line; the task ends by its exit code, as
    it would with a real engine."""
    record = tmp_path / "docker-argv.json"
    fake = tmp_path / "docker"
    fake.write_text(f"#!{sys.executable}\n"
                    "import json, sys, pathlib\n"
                    f"pathlib.Path({str(record)!r}).write_text(json.dumps(sys.argv))\n"
                    "print('fake engine ran image', sys.argv[sys.argv.index('sh') - 1])\n")
    fake.chmod(0o755)
    with live.client() as client:
        queue = make_queue(client, "ctr")
        agent = start_agent(live, tmp_path / "home", "--queue", queue, "--executor",
                            "container", "--container-engine", str(fake), "--gpus", "1")
        try:
            tid = create_task(client, "print('inside')\n", requirements="numpy==1.26.4\n",
                              runtime={"container": {"image": "python:3.11-slim",
                                                     "arguments": "--shm-size=1g"},
                                       "args": ["--epochs", "2"]})
            enqueue(client, tid, queue)
            task = wait_status(client, tid)
            lines = console(client, tid)
            no_image = create_task(client, "print(1)\n")
            enqueue(client, no_image, queue)
            refused = wait_status(client, no_image)
        finally:
            assert agent.stop() == 0
    assert task["status"] == "completed", lines
    assert "fake engine ran image python:3.11-slim" in lines
    argv = json.loads(record.read_text())
    assert argv[1:3] == ["run", "--rm"]
    assert "--gpus" in argv and argv[argv.index("--gpus") + 1] == "device=1"
    assert "--shm-size=1g" in argv
    script = argv[-1]
    assert "numpy==1.26.4" in script and script.endswith("--epochs 2")
    assert refused["status"] == "failed" and "names no image" in refused["status_message"]


# ---- a server restart --------------------------------------------------------------------------


class _Server:
    """A server on a fixed port that can be stopped and started again on the same database."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.thread: threading.Thread | None = None
        self.server: uvicorn.Server | None = None

    def start(self) -> Services:
        st = Settings(home=self.home, lease_seconds=15.0, reaper_interval=0.5)
        services = Services(st)
        config = uvicorn.Config(create_app(st, services), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive()
            time.sleep(0.02)
        return services

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.server.force_exit = True  # do not wait for the agent's long poll
        self.thread.join(timeout=30)


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[tuple[_Server, LiveServer]]:
    srv = _Server(tmp_path / "server-home", free_port())
    services = srv.start()
    services.auth.create_user("admin", password="admin-password", role="admin")
    key = services.auth.create_key("admin")
    live = LiveServer(f"http://127.0.0.1:{srv.port}", srv.home, services, key.access_key,
                      key.secret_key, "sqlite")
    yield srv, live
    if srv.server is not None and not srv.server.should_exit:
        srv.stop()


def test_the_task_goes_on_while_the_server_restarts(restartable, tmp_path):
    srv, live = restartable
    # heartbeats every second: the outage below is surely noticed, and far within the lease
    agent = start_agent(live, tmp_path / "home", "--queue", "default", "--heartbeat", "1")
    try:
        with live.client() as client:
            tid = create_task(client, TICKING.format(n=60, pause=0.1))
            enqueue(client, tid, "default")
            wait_console(client, tid, "tick 3")
        srv.stop()
        time.sleep(3)  # the task goes on printing; its lines wait in the agent's spool
        srv.start()
        with live.client() as client:
            task = wait_status(client, tid, timeout=60)
            lines = console(client, tid)
            # the queue survived the restart: the agent takes the next task too
            nxt = create_task(client, "print('after the restart')\n")
            enqueue(client, nxt, "default")
            assert wait_status(client, nxt, timeout=60)["status"] == "completed"
    finally:
        assert agent.stop() == 0, agent.output()[-2000:]
    assert task["status"] == "completed", (task["status_message"], lines)
    ticks = [ln for ln in lines if ln.startswith("tick ")]
    assert ticks == [f"tick {i}" for i in range(60)], lines
    assert lines[-1] == "finished"
    assert "the server is unreachable" in agent.output()
