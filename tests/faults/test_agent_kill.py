"""kill -9 of an agent in the middle of a task.

A real ``arno server`` subprocess with short leases (``ARNO_LEASE_SECONDS``,
``ARNO_REAPER_INTERVAL``) and real ``arno agent daemon --queue Q`` subprocesses. The agent runs
two tasks side by side (``--services-mode 2``), scripts that report a scalar, flush it, print
that it is stored, and sleep. The agent is killed with SIGKILL (its own process only); then:

- the task processes do not outlive their agent (no second copy can run at once);
- both leases lapse within seconds: the task with no retries left is failed ("worker lost"),
  the task with ``max_retries=1`` is queued again;
- a second agent takes the requeued task and runs it to completion;
- what the first attempt reported and acknowledged is still there next to the second's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.processes import ServerProcess

LEASE = 3.0
ITERATIONS = 10
PAUSE = 0.4
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"

SCRIPT = f"""
import os, time
from arno import Task

task = Task.init(project_name="faults", task_name="agent killed")
log = task.get_logger()
run = f"pid{{os.getpid()}}"
print("running", run, flush=True)
for i in range({ITERATIONS}):
    log.report_scalar("progress", run, float(i), i)
    assert task.flush(wait_for_uploads=True)
    print(f"stored {{run}} {{i}}", flush=True)
    time.sleep({PAUSE})
print("finished", run, flush=True)
"""


def create_task(api: httpx.Client, name: str) -> str:
    r = api.post("/api/v1/tasks", json={
        "project": "faults", "name": name, "runtime": {}, "hyperparams": [],
        "script": {"entry_point": "train.py", "source": SCRIPT, "python_version": PYTHON},
    })
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def console(api: httpx.Client, task_id: str) -> list[str]:
    return [line["text"] for line in
            api.get(f"/api/v1/tasks/{task_id}/console", params={"limit": 10000}).json()]


def wait_for(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


class Agent:
    def __init__(self, srv: ServerProcess, home: Path, queue: str) -> None:
        self.name = f"agent-{uuid.uuid4().hex[:8]}"
        home.mkdir(parents=True, exist_ok=True)
        self.log = home / "agent.log"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "arno.cli.main", "agent", "daemon", "--name", self.name,
                 "--queue", queue, "--cpu-only", "--services-mode", "2"],
                env=srv.client_env(home), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def cleanup(self) -> None:
        """Whatever is left of this agent's process group (the test's own processes only)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _stored(lines: list[str]) -> dict[str, int]:
    """run -> the last iteration its script saw stored."""
    out: dict[str, int] = {}
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "stored":
            out[parts[1]] = max(out.get(parts[1], -1), int(parts[2]))
    return out


@pytest.mark.slow
def test_kill_9_of_an_agent_fails_or_requeues_its_tasks_and_keeps_their_reports(tmp_path):
    srv = ServerProcess(tmp_path / "server-home", ARNO_LEASE_SECONDS=str(LEASE),
                        ARNO_REAPER_INTERVAL="0.5")
    srv.start()
    agents: list[Agent] = []
    began = time.monotonic()
    try:
        with srv.client() as api:
            queue = f"faults-{uuid.uuid4().hex[:8]}"
            assert api.post("/api/v1/queues", json={"name": queue}).status_code == 201
            retried = create_task(api, "retried")
            lost = create_task(api, "lost")
            for tid, retries in ((retried, 1), (lost, 0)):
                r = api.post(f"/api/v1/tasks/{tid}/enqueue",
                             json={"queue": queue, "max_retries": retries})
                assert r.status_code == 200, r.text
            first = Agent(srv, tmp_path / "agent-1", queue)
            agents.append(first)

            # both running, each with at least three points acknowledged
            def both_going() -> bool:
                return all(max(_stored(console(api, t)).values(), default=-1) >= 2
                           for t in (retried, lost))
            wait_for("both tasks to report", both_going, timeout=120)
            pids = [int(line.split()[1][3:]) for t in (retried, lost)
                    for line in console(api, t) if line.startswith("running ")]
            first.proc.send_signal(signal.SIGKILL)  # the agent alone, not its group
            first.proc.wait(timeout=10)
            killed_at = time.monotonic()
            acked = {t: _stored(console(api, t)) for t in (retried, lost)}

            wait_for("the task processes to end with their agent",
                     lambda: not any(_alive(p) for p in pids), timeout=15)

            def status(tid: str) -> dict[str, Any]:
                return dict(api.get(f"/api/v1/tasks/{tid}").json())

            failed = wait_for("the lost task to fail",
                              lambda: (t := status(lost))["status"] == "failed" and t,
                              timeout=LEASE + 20)
            lapsed = time.monotonic() - killed_at
            requeued = status(retried)
            assert requeued["status"] == "queued", requeued
            assert "worker lost" in failed["status_message"]
            assert "worker lost" in requeued["status_message"]

            second = Agent(srv, tmp_path / "agent-2", queue)
            agents.append(second)
            done = wait_for("the requeued task to complete",
                            lambda: (t := status(retried))["status"] in
                            ("completed", "failed") and t, timeout=120)
            assert done["status"] == "completed", (done, second.output()[-3000:])
            assert status(lost)["status"] == "failed"  # and it stays so

            # the first attempt's acknowledged points are kept beside the second's
            for tid in (retried, lost):
                series = {s["variant"]: s for s in
                          api.get(f"/api/v1/tasks/{tid}/scalars").json()
                          if s["metric"] == "progress"}
                for run, last in acked[tid].items():
                    assert series[run]["x"][:last + 1] == list(range(last + 1)), (tid, run)
                if tid == retried:
                    runs = _stored(console(api, tid))
                    assert len(runs) == 2, runs
                    (again,) = set(runs) - set(acked[tid])
                    assert series[again]["x"] == list(range(ITERATIONS))
                    assert any(line == f"finished {again}" for line in console(api, tid))
    finally:
        for agent in agents:
            agent.cleanup()
        srv.stop()
    print(f"\nlease {LEASE} s: task failed / requeued {lapsed:.1f} s after the kill; "
          f"whole test {time.monotonic() - began:.1f} s")
