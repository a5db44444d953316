"""``arno queue``, ``arno worker``, ``arno agent daemon --detached`` and the agent that
``arno up`` starts, as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import psutil
import pytest
from tests.agent.conftest import agent_env, create_task, enqueue, wait_status
from tests.conftest import free_port
from typer.testing import CliRunner

from arno.cli.main import app


@pytest.fixture
def arno(live, tmp_path):
    runner = CliRunner()
    env = {"ARNO_HOME": str(tmp_path / "cli-home"), "ARNO_API_HOST": live.url,
           "ARNO_API_KEY": live.admin_key, "ARNO_API_SECRET": live.admin_secret}

    def run(*args: str, key: str | None = None, secret: str | None = None):
        extra = dict(env)
        if key:
            extra.update(ARNO_API_KEY=key, ARNO_API_SECRET=secret)
        return runner.invoke(app, list(args), env=extra, catch_exceptions=False)

    return run


def test_queue_commands(live, arno):
    name = f"cli-{live.backend}"
    created = arno("queue", "create", name, "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["name"] == name
    with live.client() as client:
        first = create_task(client, "print(1)\n", name="first")
        second = create_task(client, "print(2)\n", name="second")
        enqueue(client, first, name)
        client.post(f"/api/v1/tasks/{second}/enqueue", json={"queue": name, "priority": 5})
    listed = json.loads(arno("queue", "list", "--json").stdout)
    mine = next(q for q in listed if q["name"] == name)
    assert mine["length"] == 2 and mine["oldest_enqueued_at"]
    assert {"default", "services"} <= {q["name"] for q in listed}
    shown = json.loads(arno("queue", "show", name, "--json").stdout)
    assert [e["task_id"] for e in shown["entries"]] == [second, first]  # priority first
    table = arno("queue", "show", name)
    assert table.exit_code == 0 and "2 waiting" in table.stdout and "second" in table.stdout
    # a queue with waiting tasks is kept unless forced
    refused = arno("queue", "delete", name)
    assert refused.exit_code == 1 and "waiting" in refused.stderr
    assert arno("queue", "delete", name, "--force").exit_code == 0
    assert name not in {q["name"] for q in json.loads(arno("queue", "list", "--json").stdout)}
    missing = arno("queue", "show", "no-such-queue")
    assert missing.exit_code == 1 and "no-such-queue" in missing.stderr
    # only admins create queues
    key, secret = live.user(f"plain-{live.backend}")
    denied = arno("queue", "create", "mine", key=key, secret=secret)
    assert denied.exit_code == 1 and denied.stderr.startswith("error:")


def test_detached_agent_and_worker_list(live, arno, tmp_path):
    home = tmp_path / "agent-home"
    env = agent_env(live, home)
    name = f"detached-{live.backend}"
    out = subprocess.run(
        [sys.executable, "-m", "arno.cli.main", "agent", "daemon", "--queue", "default",
         "--queue", "services", "--name", name, "--cpu-only", "--detached"],
        env=env, capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    pid = int(re.search(r"pid (\d+)", out.stdout).group(1))  # type: ignore[union-attr]
    try:
        log = home / "agent" / f"agent-{name}.log"
        assert log.exists() and "serving default, services" in log.read_text()
        workers = json.loads(arno("worker", "list", "--json").stdout)
        me = next(w for w in workers if w["id"] == name)
        assert me["queues"] == ["default", "services"] and me["gpus"] == []
        assert me["info"]["pid"] == pid and me["info"]["cpu_only"] is True
        table = arno("worker", "list")
        assert table.exit_code == 0 and name in table.stdout
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while any(w["id"] == name for w in json.loads(arno("worker", "list", "--json").stdout)):
        assert time.monotonic() < deadline, "the detached agent did not unregister"
        time.sleep(0.1)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "arno up did not start"
        time.sleep(0.05)


def _up(home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env["ARNO_HOME"] = str(home)
    proc = subprocess.Popen([sys.executable, "-m", "arno.cli.main", "up", "--port", str(port),
                             *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc)
    return proc, url


def test_arno_up_runs_a_local_agent_serving_default(tmp_path):
    home = tmp_path / "home"
    proc, url = _up(home)
    try:
        api = tomllib.loads((home / "config.toml").read_text())["api"]
        with httpx.Client(base_url=url, auth=(api["access_key"], api["secret_key"]),
                          timeout=60) as client:
            deadline = time.monotonic() + 60
            while not (workers := client.get("/api/v1/workers").json()):
                assert time.monotonic() < deadline, "no local agent registered"
                time.sleep(0.1)
            assert workers[0]["queues"] == ["default"]
            # the agent is a thread of the server's process, not a process of its own
            assert workers[0]["info"]["pid"] == proc.pid
            tid = create_task(client, "print('ran on the local agent')\n")
            enqueue(client, tid, "default")
            task = wait_status(client, tid, timeout=60)
            assert task["status"] == "completed"
            children = psutil.Process(proc.pid).children(recursive=True)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        out = proc.communicate(timeout=60)[0].decode()
    assert "agent:" in out and "serving queue 'default'" in out
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive  # nothing the server or its agent started outlives Ctrl-C
    assert "stopped" in (home / "agent" / "local-agent.log").read_text()
    # the agent unregistered before the server went: started again without an agent, the
    # server lists no worker (a worker that vanished would stay listed until it timed out)
    proc, url = _up(home, "--no-agent")
    try:
        with httpx.Client(base_url=url, auth=(api["access_key"], api["secret_key"]),
                          timeout=60) as client:
            assert client.get("/api/v1/workers").json() == []
    finally:
        proc.terminate()
        proc.communicate(timeout=60)


def test_arno_up_no_agent(tmp_path):
    home = tmp_path / "home"
    proc, url = _up(home, "--no-agent")
    try:
        api = tomllib.loads((home / "config.toml").read_text())["api"]
        time.sleep(1.0)
        workers = httpx.get(f"{url}/api/v1/workers",
                            auth=(api["access_key"], api["secret_key"])).json()
        assert workers == []
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert not (home / "agent" / "local-agent.log").exists()
