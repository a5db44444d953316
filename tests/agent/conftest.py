"""Agents as real subprocesses (``python -m arno.cli.main agent daemon``) against a live server
with short leases, and helpers to create, enqueue and follow tasks through the HTTP API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import LiveServer, start_server

LEASE = 5.0  # seconds: heartbeats every 1.7 s; a dead agent's task is lost after ~5.5 s
FINAL = ("completed", "failed", "stopped", "published")
AGENT_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server (SQLite and PostgreSQL) whose leases last ``LEASE`` seconds."""
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    yield from start_server(tmp_path_factory.mktemp("server-home"), database_url, backend,
                            lease_seconds=LEASE, reaper_interval=0.5)


@dataclass
class AgentProc:
    proc: subprocess.Popen[bytes]
    log: Path
    name: str

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"agent {self.name} did not stop:\n{self.output()[-3000:]}"
                                 ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


_STARTED: list[AgentProc] = []


@pytest.fixture(autouse=True)
def _no_agent_outlives_its_test() -> Iterator[None]:
    """A failing test must not leave agents behind, polling servers that are gone."""
    yield
    while _STARTED:
        _STARTED.pop().kill()


def agent_env(live: LiveServer, home: Path, key: str | None = None,
              secret: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(home), ARNO_API_HOST=live.url,
               ARNO_API_KEY=key or live.admin_key, ARNO_API_SECRET=secret or live.admin_secret)
    return env


def start_agent(live: LiveServer, home: Path, *args: str, name: str | None = None,
                wait: bool = True, env: dict[str, str] | None = None) -> AgentProc:
    """Start ``arno agent daemon ARGS`` and (with ``wait``) return once it is registered."""
    name = name or f"agent-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True, exist_ok=True)
    log = home / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "arno.cli.main", "agent", "daemon", "--name", name, *args],
            env=env or agent_env(live, home), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    agent = AgentProc(proc, log, name)
    _STARTED.append(agent)
    if wait:
        deadline = time.monotonic() + 60
        with live.client() as client:
            while not any(w["id"] == name for w in client.get("/api/v1/workers").json()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    agent.kill()
                    raise AssertionError(f"agent did not register:\n{agent.output()[-3000:]}")
                time.sleep(0.05)
    return agent


def make_queue(client: httpx.Client, prefix: str = "q") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    r = client.post("/api/v1/queues", json={"name": name})
    assert r.status_code == 201, r.text
    return name


def create_task(client: httpx.Client, source: str | None = None, *, name: str = "agent-test",
                project: str = "agent-tests", params: dict[str, str] | None = None,
                requirements: str | None = None, python_version: str | None = AGENT_PYTHON,
                entry_point: str = "train.py", runtime: dict[str, Any] | None = None,
                **script: Any) -> str:
    info: dict[str, Any] = {"entry_point": entry_point, **script}
    if source is not None:
        info["source"] = source
    if requirements is not None:
        info["requirements"] = requirements
    if python_version is not None:
        info["python_version"] = python_version
    body = {
        "project": project, "name": name, "script": info, "runtime": runtime or {},
        "hyperparams": [{"section": k.split("/")[0], "name": k.split("/", 1)[1], "value": v}
                        for k, v in (params or {}).items()],
    }
    r = client.post("/api/v1/tasks", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def enqueue(client: httpx.Client, task_id: str, queue: str) -> httpx.Response:
    return client.post(f"/api/v1/tasks/{task_id}/enqueue", json={"queue": queue})


def wait_status(client: httpx.Client, task_id: str, statuses: tuple[str, ...] = FINAL,
                timeout: float = 90) -> dict[str, Any]:
    """Wait for the task to reach one of ``statuses`` and, for a final one, for its agent to
    be done with it (the SDK in the task may mark it completed before the agent has sent the
    last console lines)."""
    deadline = time.monotonic() + timeout
    while True:
        task = client.get(f"/api/v1/tasks/{task_id}").json()
        if task["status"] in statuses and (
                task["status"] not in FINAL or not any(
                    task_id in w["task_ids"] for w in client.get("/api/v1/workers").json())):
            return dict(task)
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} still {task['status']} "
                                 f"({task['status_message']}) after {timeout} s")
        time.sleep(0.1)


def console(client: httpx.Client, task_id: str) -> list[str]:
    return [line["text"] for line in
            client.get(f"/api/v1/tasks/{task_id}/console", params={"limit": 10000}).json()]


def wait_console(client: httpx.Client, task_id: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in console(client, task_id)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the console of {task_id}: "
                                 f"{console(client, task_id)}")
        time.sleep(0.1)
