"""Exactly once under competition: four agents drain 1,000 tiny tasks (``ARNO_TEST_DRAIN_TASKS``
for more; bench/bench_agent.py measures the rate at scale); each task writes a file
named by its own id (opened with "x": a second run of the same task would fail), and every
task must end completed with its file written once."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tests.agent.conftest import console, make_queue, start_agent

from arno.core.schemas import TaskCreate

TASKS = int(os.environ.get("ARNO_TEST_DRAIN_TASKS", "1000"))
AGENTS = 4

pytestmark = pytest.mark.slow


def test_four_agents_run_a_thousand_tasks_each_exactly_once(live, tmp_path):
    out = tmp_path / "side-effects"
    out.mkdir()
    # no requirements and no `import arno`: the cost measured is the agent's, not the SDK's
    source = (
        "import os\n"
        f"open(os.path.join({str(out)!r}, os.environ['ARNO_TASK_ID']), 'x').write('ran')\n"
    )
    with live.client() as client:
        queue = make_queue(client, "drain")
        agents = [start_agent(live, tmp_path / "agent-home", "--queue", queue,
                              name=f"drain-{live.backend}-{i}") for i in range(AGENTS)]
        try:
            t0 = time.monotonic()
            # created in the server's process (its services), so that the HTTP traffic
            # measured is the agents' own: dequeue, console, done and heartbeats
            who = live.services.auth.authenticate(live.admin_key, live.admin_secret)

            def make(i: int) -> str:
                task = live.services.tasks.create(TaskCreate(
                    project="drain", name=f"tiny-{i}",
                    script={"entry_point": "tiny.py", "source": source}), who)
                live.services.queues.enqueue(task.id, queue, who)
                return task.id

            with ThreadPoolExecutor(4) as pool:
                ids = list(pool.map(make, range(TASKS)))
            enqueued = time.monotonic() - t0
            deadline = time.monotonic() + 240
            while True:
                page = client.get("/api/v1/tasks", params={
                    "project": "drain", "status": ["completed", "failed", "stopped"],
                    "limit": 1}).json()
                if page["total"] >= TASKS:
                    break
                assert time.monotonic() < deadline, f"{page['total']} of {TASKS} ended"
                assert all(a.proc.poll() is None for a in agents)
                time.sleep(0.5)
            elapsed = time.monotonic() - t0
            statuses = {}
            cursor = None
            while True:
                page = client.get("/api/v1/tasks", params={
                    "project": "drain", "limit": 500, "cursor": cursor}).json()
                statuses.update({t["id"]: t["status"] for t in page["items"]})
                cursor = page["next_cursor"]
                if not cursor:
                    break
        finally:
            for agent in agents:
                agent.stop()
    bad = {tid: s for tid, s in statuses.items() if s != "completed"}
    assert not bad, (len(bad), console(client, next(iter(bad))) if bad else None)
    assert sorted(statuses) == sorted(ids)
    files = sorted(os.listdir(out))
    assert files == sorted(ids)  # one file per task: each ran, none twice ("x" would fail)
    assert all((out / f).read_text() == "ran" for f in files)
    per_agent = [a.output().count(": completed") for a in agents]
    assert sum(per_agent) == TASKS and all(per_agent), per_agent  # every agent took a share
    print(f"\n{TASKS} tasks on {AGENTS} agents ({live.backend}): {elapsed:.1f} s "
          f"({TASKS / elapsed:.0f} tasks/s; enqueued in {enqueued:.1f} s); per agent "
          f"{per_agent}")
