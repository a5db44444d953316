"""Remote execution end to end, as the README tells it: a script calls
``task.execute_remotely(queue_name=...)``, stops on this machine, and then runs on a real agent
with the parameter values stored on the server (edited there while it waited in the queue); and
``arno execute script.py --queue Q --args k=v`` sends an unchanged script that runs to
completion on the agent. Servers, agents and scripts are real processes; SQLite only (the
database is not the subject here, and the agent tests cover both backends)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.agent.conftest import (
    LEASE,
    agent_env,
    console,
    make_queue,
    start_agent,
    wait_status,
)
from tests.conftest import LiveServer, start_server

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(tmp_path_factory.mktemp("server-home"), None, "sqlite",
                            lease_seconds=LEASE, reaper_interval=0.5)


@pytest.fixture(scope="module")
def agent_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One agent home for the module: the task venvs it builds are cached there, so the
    environment recorded by the first script is built once."""
    return tmp_path_factory.mktemp("agent-home")


def script_env(live: LiveServer, home: Path) -> dict[str, str]:
    """A user's shell on this machine: no ARNO_TASK_ID, credentials in the environment."""
    return agent_env(live, home)


def params(client, task_id: str) -> dict[str, str]:
    return {f"{p['section']}/{p['name']}": p["value"]
            for p in client.get(f"/api/v1/tasks/{task_id}/params").json()}


def scalars(client, task_id: str, metric: str, variant: str) -> tuple[list[int], list[float]]:
    [data] = client.get(f"/api/v1/tasks/{task_id}/scalars",
                        params={"metric": metric, "variant": variant}).json()
    return [int(x) for x in data["x"]], [float(y) for y in data["y"]]


REMOTE_SCRIPT = """\
import os

from arno import Task

task = Task.init(project_name="remote-tests", task_name="remote run")
params = task.connect({{"lr": 0.01, "epochs": 3}})
print("before execute_remotely, lr =", params["lr"], "remote:", Task.running_remotely(),
      flush=True)
task.execute_remotely(queue_name={queue!r})
print("after execute_remotely, lr =", params["lr"], "pid", os.getpid(), flush=True)
log = task.get_logger()
for it in range(int(params["epochs"])):
    log.report_scalar("loss", "train", value=float(params["lr"]) * (it + 1), iteration=it)
print("done", flush=True)
"""


def test_execute_remotely_stops_here_then_runs_on_the_agent_with_the_servers_values(
        live: LiveServer, agent_home: Path, tmp_path: Path) -> None:
    with live.client() as client:
        queue = make_queue(client, "remote")
        script = tmp_path / "train.py"
        script.write_text(REMOTE_SCRIPT.format(queue=queue))
        # 1. locally: the script records its inputs, queues itself and exits at once, status 0
        local = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                               env=script_env(live, tmp_path / "client-home"),
                               capture_output=True, text=True, timeout=120)
        assert local.returncode == 0, local.stderr
        assert "before execute_remotely, lr = 0.01 remote: False" in local.stdout
        assert "after execute_remotely" not in local.stdout and "done" not in local.stdout
        m = re.search(rf"arno: task (\w+) queued in {queue}; exiting", local.stderr)
        assert m, local.stderr
        tid = m.group(1)
        task = client.get(f"/api/v1/tasks/{tid}").json()
        assert task["status"] == "queued"
        assert client.get(f"/api/v1/queues/{queue}").json()["length"] == 1
        assert params(client, tid) == {"General/lr": "0.01", "General/epochs": "3"}

        # 2. edited on the server while it waits in the queue (as in the web UI)
        r = client.put(f"/api/v1/tasks/{tid}/params", json={"params": [
            {"section": "General", "name": "lr", "value": "0.5"},
            {"section": "General", "name": "epochs", "value": "4"}]})
        assert r.status_code == 200, r.text

        # 3. an agent picks it up and runs the same script with the server's values
        agent = start_agent(live, agent_home, "--queue", queue)
        try:
            task = wait_status(client, tid, timeout=600)
        finally:
            agent.stop()
        lines = console(client, tid)
    assert task["status"] == "completed", (task["status_message"], lines[-20:],
                                           agent.output()[-3000:])
    remote = [ln for ln in lines if ln.startswith("after execute_remotely")]
    assert len(remote) == 1 and remote[0].startswith("after execute_remotely, lr = 0.5"), lines
    assert "before execute_remotely, lr = 0.5 remote: True" in lines
    assert "done" in lines
    with live.client() as client:
        x, y = scalars(client, tid, "loss", "train")
        assert x == [0, 1, 2, 3]
        assert y == pytest.approx([0.5, 1.0, 1.5, 2.0])
        # the run did not report its local attempt's console or values again
        assert params(client, tid) == {"General/lr": "0.5", "General/epochs": "4"}


PLAIN_SCRIPT = """\
import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--steps", type=int, default=2)
args = parser.parse_args()
print(f"plain script: lr={args.lr} steps={args.steps}", flush=True)
"""


def test_arno_execute_sends_an_unchanged_script_that_runs_to_completion(
        live: LiveServer, agent_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_SCRIPT)
    with live.client() as client:
        queue = make_queue(client, "execute")
        agent = start_agent(live, agent_home, "--queue", queue)
        try:
            sent = subprocess.run(
                [sys.executable, "-m", "arno.cli.main", "execute", str(script), "--queue",
                 queue, "--args", "lr=0.25", "--args", "steps=7", "--project", "remote-tests"],
                env=script_env(live, tmp_path / "cli-home"), capture_output=True, text=True,
                timeout=120)
            assert sent.returncode == 0, sent.stderr
            tid = sent.stdout.strip()
            assert re.fullmatch(r"[0-9a-f]{32}", tid), sent.stdout
            assert f"queued plain.py as task {tid} in {queue}" in sent.stderr
            task = wait_status(client, tid, timeout=300)
        finally:
            agent.stop()
        lines = console(client, tid)
        assert task["status"] == "completed", (task["status_message"], lines[-20:])
        assert "plain script: lr=0.25 steps=7" in lines
        assert params(client, tid) == {"Args/lr": "0.25", "Args/steps": "7"}
        assert client.get(f"/api/v1/tasks/{tid}").json()["script"]["source"] == PLAIN_SCRIPT


def test_arno_execute_of_a_missing_script_is_one_line(live: LiveServer, tmp_path: Path) -> None:
    with live.client() as client:
        queue = make_queue(client, "execute")
    sent = subprocess.run(
        [sys.executable, "-m", "arno.cli.main", "execute", str(tmp_path / "nope.py"),
         "--queue", queue], env=script_env(live, tmp_path / "cli-home"),
        capture_output=True, text=True, timeout=60)
    assert sent.returncode != 0 and sent.stdout == ""
    assert sent.stderr.strip().splitlines() == [f"error: no such script: {tmp_path / 'nope.py'}"]
