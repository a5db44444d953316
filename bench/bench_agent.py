"""Remote execution: how fast an idle agent starts a queued task, and how many tasks per second
the API hands out to competing agents.

1. enqueue -> child process started, on an idle agent (SQLite server): the task's first
   statement records ``time.time()``; the figure is that minus the time just before the
   enqueue request (one machine, one clock). The agent long-polls, so it is told at once.
   Peer: ClearML's agent polls its queues every 5 s (n/a here; not installed).
2. enqueue -> first line of the task's own output visible through the console API, with the
   task's venv already in the agent's cache (requirements: one local wheel).
3. dequeue throughput at the API on PostgreSQL: 8 client processes, each registered as a
   worker, call ``POST /workers/{id}/dequeue`` with ``wait=0`` in a loop until the queue is
   empty; tasks handed out per second of wall time (each task handed out once is checked).
"""

from __future__ import annotations

import base64
import hashlib
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import httpx  # noqa: E402

# ---- helpers -----------------------------------------------------------------------------------


def start_agent(srv: c.ArnoServer, home: Path, queue: str) -> subprocess.Popen[bytes]:
    host, key, secret = srv.credentials()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARNO_")}
    env.update(ARNO_HOME=str(home), ARNO_API_HOST=host, ARNO_API_KEY=key, ARNO_API_SECRET=secret)
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "agent.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "arno.cli.main", "agent", "daemon", "--queue", queue,
         "--name", "bench-agent"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    log.close()
    with srv.http() as client:
        deadline = time.monotonic() + 60
        while not any(w["id"] == "bench-agent" for w in client.get("/api/v1/workers").json()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((home / "agent.log").read_text()[-2000:])
            time.sleep(0.05)
    return proc


def create(client: httpx.Client, source: str, requirements: str = "") -> str:
    py = "{}.{}.{}".format(*sys.version_info[:3])
    r = client.post("/api/v1/tasks", json={
        "project": "bench-agent", "name": "latency",
        "script": {"entry_point": "t.py", "source": source, "python_version": py,
                   "requirements": requirements}})
    r.raise_for_status()
    return str(r.json()["id"])


def wait_done(client: httpx.Client, tid: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        t = client.get(f"/api/v1/tasks/{tid}").json()
        if t["status"] in ("completed", "failed", "stopped") and not any(
                tid in w["task_ids"] for w in client.get("/api/v1/workers").json()):
            return dict(t)
        if time.monotonic() > deadline:
            raise RuntimeError(f"task {tid} did not end: {t['status']}")
        time.sleep(0.02)


def wheel(directory: Path) -> Path:
    files = {"benchdep/__init__.py": "X = 1\n",
             "benchdep-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: benchdep\n"
                                                "Version: 1.0\n",
             "benchdep-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\n"
                                             "Root-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(text: str) -> str:
        raw = hashlib.sha256(text.encode()).digest()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    record = [f"{p},sha256={digest(t)},{len(t)}" for p, t in files.items()]
    files["benchdep-1.0.dist-info/RECORD"] = "\n".join(
        [*record, "benchdep-1.0.dist-info/RECORD,,"]) + "\n"
    path = directory / "benchdep-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for p, t in files.items():
            zf.writestr(p, t)
    return path


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# ---- 1 and 2: latency on an idle agent --------------------------------------------------------


def latency(tmp: Path, runs: int) -> tuple[list[float], list[float]]:
    with c.arno_server(tmp) as srv:
        agent = start_agent(srv, tmp / "agent-home", "default")
        try:
            with srv.http() as client:
                started: list[float] = []
                for i in range(runs + 1):
                    stamp = tmp / f"stamp-{i}"
                    tid = create(client, f"import time; t = time.time()\n"
                                         f"open({str(stamp)!r}, 'w').write(repr(t))\n")
                    time.sleep(0.3)  # the agent is idle, waiting in its long poll
                    t0 = time.time()
                    client.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": "default"})
                    wait_done(client, tid)
                    if i:  # the first run builds the (empty) venv
                        started.append(float(stamp.read_text()) - t0)
                req = f"benchdep @ file://{wheel(tmp)}\n"
                first_line: list[float] = []
                for i in range(runs + 1):
                    tid = create(client, "print('first line of the task', flush=True)\n", req)
                    time.sleep(0.3)
                    t0 = time.time()
                    client.post(f"/api/v1/tasks/{tid}/enqueue", json={"queue": "default"})
                    while True:
                        lines = client.get(f"/api/v1/tasks/{tid}/console").json()
                        if any(ln["text"] == "first line of the task" for ln in lines):
                            break
                        time.sleep(0.005)
                    t1 = time.time()
                    wait_done(client, tid)
                    if i:  # the first run builds the venv; the others find it cached
                        first_line.append(t1 - t0)
        finally:
            c.stop(agent)
    return started, first_line


# ---- 3: dequeue throughput on PostgreSQL -----------------------------------------------------


def _dequeuer(url: str, key: str, secret: str, queue: str, index: int, barrier: Any,
              out: Any) -> None:
    with httpx.Client(base_url=url, auth=(key, secret), timeout=60) as client:
        wid = f"bench-{index}"
        client.post("/api/v1/workers", json={"id": wid, "queues": [queue]}).raise_for_status()
        got: list[str] = []
        barrier.wait()
        t0 = time.perf_counter()
        while True:
            r = client.post(f"/api/v1/workers/{wid}/dequeue", json={"queues": [queue], "wait": 0})
            r.raise_for_status()
            task = r.json()["task"]
            if task is None:
                break
            got.append(task["id"])
        out.put((index, got, t0, time.perf_counter()))


def throughput(tmp: Path, n_tasks: int, n_clients: int) -> tuple[float, int, float]:
    with c.postgres_database() as db_url, c.arno_server(tmp / "pg", database_url=db_url) as srv:
        host, key, secret = srv.credentials()
        queue = "tp"
        with srv.http() as client:
            client.post("/api/v1/queues", json={"name": queue}).raise_for_status()
        fill(srv, queue, n_tasks)
        ctx = mp.get_context("spawn")
        barrier = ctx.Barrier(n_clients + 1)
        out = ctx.Queue()
        procs = [ctx.Process(target=_dequeuer, args=(host, key, secret, queue, i, barrier,
                                                     out)) for i in range(n_clients)]
        for p in procs:
            p.start()
        barrier.wait()
        results = [out.get(timeout=600) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    ids = [tid for _, got, _, _ in results for tid in got]
    if len(ids) != len(set(ids)) or len(ids) != n_tasks:
        raise SystemExit(f"dequeue handed out {len(ids)} ids ({len(set(ids))} distinct) "
                         f"for {n_tasks} tasks")
    start = min(r[2] for r in results)
    end = max(r[3] for r in results)
    return n_tasks / (end - start), len(ids), end - start


def fill(srv: c.ArnoServer, queue: str, n: int) -> None:
    """Create and enqueue ``n`` tasks through the API, 8 requests at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> None:
        with srv.http() as client:
            r = client.post("/api/v1/tasks", json={
                "project": "bench-tp", "name": f"t{i}",
                "script": {"entry_point": "t.py", "source": "pass\n"}})
            r.raise_for_status()
            client.post(f"/api/v1/tasks/{r.json()['id']}/enqueue",
                        json={"queue": queue}).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


def main() -> None:
    args = c.parser(__doc__.splitlines()[0]).parse_args()
    runs = 5 if args.quick else 20
    n_tasks = 500 if args.quick else 3000
    with c.workdir("agent") as tmp:
        started, first_line = latency(tmp, runs)
        c.report("agent_enqueue_to_child_started_p50_ms", statistics.median(started) * 1000,
                 None, higher_is_better=False, note="ClearML polls every 5 s")
        c.info(f"p90 {pct(started, 0.9) * 1000:.0f} ms over {len(started)} runs; "
               "target p50 < 200 ms")
        c.report("agent_warm_enqueue_to_first_output_line_p50_s", statistics.median(first_line),
                 None, higher_is_better=False, note="ClearML polls every 5 s")
        c.info(f"p90 {pct(first_line, 0.9):.2f} s over {len(first_line)} runs (venv from the "
               "cache, line read back through the console API); target < 1.5 s")
        rate, count, seconds = throughput(tmp, n_tasks, 8)
        c.report("dequeue_tasks_per_s_8_agents_postgresql", rate, None, higher_is_better=True,
                 note="peer n/a")
        c.info(f"{count} tasks handed out once each in {seconds:.2f} s by one server process; "
               "target >= 500 tasks/s")


if __name__ == "__main__":
    main()
