"""Load: 200 training scripts reporting scalars, 50 agents long-polling for work and the web
UI's experiment table, all at once against one real ``arno server``.

- Scalar clients: each has a task of its own and sends batches the way the SDK's reporter does
  (``POST /api/v1/tasks/{id}/events``, one batch id each, 2 series x 250 points), the next as
  soon as the last is answered (a script reporting faster than the reporter's flush interval).
  Figures: points stored per second over the run, p50/p99 of a batch request.
- Agents: 50 workers, registered, each calling ``POST /workers/{id}/dequeue`` with ``wait`` (a
  long poll) in a loop; a feeder enqueues 10 tasks a second; an agent given a task reports it
  done at once. Figure: enqueue request sent -> task in an agent's hands, p50/p99. Each task
  is checked to be handed out once.
- Web UI: two users loading the experiment table of the scalar clients' tasks, sorted by a
  metric with that metric as a column, one page after the other. Figure: p50/p99 of a page.

No request may fail: any non-2xx answer or transport error ends the run with an error, and
every point sent must be stored. The clients are coroutines on one asyncio loop (httpx) in
this process, each with a connection of its own. Runs on SQLite, and on a fresh PostgreSQL
database with ``--postgres`` or when ``ARNO_TEST_POSTGRES_URL`` is set (names ``load_pg_``).

Peer: MLflow's server (its defaults: 4 uvicorn workers, SQLite) under the same scalar load:
200 clients, one run each, ``POST /api/2.0/mlflow/runs/log-batch`` of the same 500 points
(its limit is 1000 metrics per request). MLflow has no agents or queues to compare (n/a), and
its UI is not measured (n/a).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import httpx  # noqa: E402

SERIES = (("loss", "train"), ("acc", "val"))
POINTS_PER_SERIES = 250  # a batch: 2 x 250 = 500 points


@dataclass
class Sizes:
    clients: int
    agents: int
    seconds: float
    feed_per_s: float
    poll_wait: float


FULL = Sizes(clients=200, agents=50, seconds=30.0, feed_per_s=10.0, poll_wait=10.0)
QUICK = Sizes(clients=20, agents=5, seconds=3.0, feed_per_s=5.0, poll_wait=2.0)


@dataclass
class Kind:
    """Latencies (s) of one kind of request, and what went wrong."""

    name: str
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(what)
        else:
            self.errors.append("...")

    def pct(self, q: float) -> float | None:
        if not self.latencies:
            return None
        values = sorted(self.latencies)
        return values[min(len(values) - 1, int(q * len(values)))] * 1000


def pool(n: int, base_url: str, auth: tuple[str, str] | None,
         headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    return httpx.AsyncClient(base_url=base_url, auth=auth, limits=limits, timeout=120,
                             headers=headers)


async def checked(kind: Kind, call: Any) -> httpx.Response | None:
    t0 = time.perf_counter()
    try:
        resp: httpx.Response = await call
    except httpx.HTTPError as exc:
        kind.fail(f"{type(exc).__name__}: {exc}")
        return None
    elapsed = time.perf_counter() - t0
    if resp.status_code >= 300:
        kind.fail(f"{resp.status_code} {resp.text[:200]}")
        return None
    kind.latencies.append(elapsed)
    return resp


# ---- the scalar clients (ours) ------------------------------------------------------------


def batch_body(iteration: int) -> bytes:
    its = list(range(iteration, iteration + POINTS_PER_SERIES))
    now = time.time()
    return json.dumps({
        "batch_id": uuid.uuid4().hex,
        "last_iteration": its[-1],
        "scalars": [{"metric": m, "variant": v, "iterations": its,
                     "values": [1.0 / (i + 1) for i in its], "timestamps": [now] * len(its)}
                    for m, v in SERIES],
    }, separators=(",", ":")).encode()


async def scalar_client(http: httpx.AsyncClient, tid: str, stop: asyncio.Event, kind: Kind,
                        sent: dict[str, int]) -> None:
    iteration = 0
    headers = {"content-type": "application/json"}
    while not stop.is_set():
        resp = await checked(kind, http.post(f"/api/v1/tasks/{tid}/events",
                                             content=batch_body(iteration), headers=headers))
        if resp is None:
            return
        iteration += POINTS_PER_SERIES
        sent[tid] = iteration * len(SERIES)


# ---- the agents ---------------------------------------------------------------------------


async def agent(http: httpx.AsyncClient, wid: str, queue: str, wait: float,
                stop: asyncio.Event, kind: Kind, enqueued_at: dict[str, float],
                handed: list[tuple[str, str, float]]) -> None:
    while not stop.is_set():
        resp = await checked(kind, http.post(f"/api/v1/workers/{wid}/dequeue",
                                             json={"queues": [queue], "wait": wait}))
        if resp is None:
            return
        task = resp.json()["task"]
        if task is None:
            continue
        got = time.perf_counter()
        handed.append((task["id"], wid, got - enqueued_at.get(task["id"], got)))
        done = await checked(kind, http.post(f"/api/v1/workers/{wid}/tasks/{task['id']}/done",
                                             json={"exit_code": 0, "message": "load"}))
        if done is None:
            return


async def feeder(http: httpx.AsyncClient, ids: list[str], queue: str, per_s: float,
                 stop: asyncio.Event, kind: Kind, enqueued_at: dict[str, float]) -> int:
    """Enqueue ``per_s`` tasks a second, each on its tick, whatever the answers take."""

    async def one(tid: str) -> bool:
        enqueued_at[tid] = time.perf_counter()
        return await checked(kind, http.post(f"/api/v1/tasks/{tid}/enqueue",
                                             json={"queue": queue})) is not None

    sending: list[asyncio.Task[bool]] = []
    start = time.perf_counter()
    for n, tid in enumerate(ids):
        delay = start + n / per_s - time.perf_counter()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        if stop.is_set():
            break
        sending.append(asyncio.create_task(one(tid)))
    return sum(await asyncio.gather(*sending))


# ---- the web UI ---------------------------------------------------------------------------


async def ui_user(http: httpx.AsyncClient, path: str, stop: asyncio.Event, kind: Kind) -> None:
    while not stop.is_set():
        resp = await checked(kind, http.get(path))
        if resp is None:
            return
        if "<table" not in resp.text:
            kind.fail(f"no table in the page: {resp.text[:200]}")
            return
        await asyncio.sleep(0.05)


# ---- one run against our server -----------------------------------------------------------


@dataclass
class Outcome:
    seconds: float
    points: int
    scalars: Kind
    dequeue: Kind
    wakeups: Kind
    ui: Kind
    fed: int
    server_cpu: float
    client_cpu: float


async def drive(srv: c.ArnoServer, sizes: Sizes) -> Outcome:
    _, key, secret = srv.credentials()
    auth = (key, secret)
    project = f"load/{uuid.uuid4().hex[:6]}"
    queue = "load"
    n_feed = int(sizes.feed_per_s * sizes.seconds) + 10
    setup = Kind("setup")
    async with pool(32, srv.url, auth) as http:
        await checked(setup, http.post("/api/v1/queues", json={"name": queue}))
        sem = asyncio.Semaphore(16)

        async def task(name: str, proj: str) -> str:
            async with sem:
                r = await checked(setup, http.post("/api/v1/tasks", json={
                    "project": proj, "name": name,
                    "script": {"entry_point": "t.py", "source": "pass\n"}}))
            return str(r.json()["id"]) if r is not None else ""

        scalar_ids = await asyncio.gather(*(task(f"client {i}", project)
                                            for i in range(sizes.clients)))
        feed_ids = await asyncio.gather(*(task(f"queued {i}", project + "-queued")
                                          for i in range(n_feed)))
        workers = [f"load-agent-{i}" for i in range(sizes.agents)]
        await asyncio.gather(*(checked(setup, http.post("/api/v1/workers", json={
            "id": w, "queues": [queue], "info": {"bench": "load"}})) for w in workers))
    if setup.errors:
        raise SystemExit(f"setting up the load failed: {setup.errors[:5]}")

    web_user, web_password = web_login(srv)
    table = (f"/tasks?project={project}&sort=metric:loss/train&col=metric:loss/train"
             "&limit=50")
    scalars, dequeue, wakeups, ui = Kind("scalars"), Kind("dequeue"), Kind("enqueue"), Kind("ui")
    sent: dict[str, int] = {}
    enqueued_at: dict[str, float] = {}
    handed: list[tuple[str, str, float]] = []
    stop, stop_agents = asyncio.Event(), asyncio.Event()
    pid = srv.proc.pid if srv.proc else 0
    cpu0, my0 = c.cpu_seconds(pid), time.process_time()
    async with pool(sizes.clients, srv.url, auth) as s_http, \
            pool(sizes.agents + 1, srv.url, auth) as a_http, \
            pool(2, srv.url, (web_user, web_password), {"Accept": "text/html"}) as u_http:
        t0 = time.perf_counter()
        clients = [asyncio.create_task(scalar_client(s_http, tid, stop, scalars, sent))
                   for tid in scalar_ids]
        agents = [asyncio.create_task(agent(a_http, w, queue, sizes.poll_wait, stop_agents,
                                            dequeue, enqueued_at, handed)) for w in workers]
        feed = asyncio.create_task(feeder(a_http, feed_ids, queue, sizes.feed_per_s, stop,
                                          wakeups, enqueued_at))
        users = [asyncio.create_task(ui_user(u_http, table, stop, ui)) for _ in range(2)]
        await asyncio.sleep(sizes.seconds)
        stop.set()
        fed = await feed
        await asyncio.gather(*clients, *users)
        seconds = time.perf_counter() - t0
        # every task fed must reach an agent; then the agents' polls end within their wait
        deadline = time.perf_counter() + 60
        while len(handed) < fed and time.perf_counter() < deadline \
                and not any(t.done() for t in agents):
            await asyncio.sleep(0.05)
        stop_agents.set()
        await asyncio.gather(*agents)
    server_cpu, client_cpu = c.cpu_seconds(pid) - cpu0, time.process_time() - my0
    wakeups.latencies = [lat for _, _, lat in handed]
    ids = [tid for tid, _, _ in handed]
    if len(ids) != len(set(ids)) or set(ids) != set(feed_ids[:fed]):
        dequeue.fail(f"{fed} tasks queued, {len(ids)} handed out ({len(set(ids))} distinct)")

    # every point sent is stored
    async with pool(16, srv.url, auth) as http:
        check = Kind("check")
        sem = asyncio.Semaphore(16)

        async def stored(tid: str) -> int:
            async with sem:
                r = await checked(check, http.get(f"/api/v1/tasks/{tid}/metrics"))
            return sum(int(m["count"]) for m in r.json()) if r is not None else -1

        counts = await asyncio.gather(*(stored(t) for t in scalar_ids))
    lost = {tid: (sent.get(tid, 0), n) for tid, n in zip(scalar_ids, counts, strict=True)
            if n != sent.get(tid, 0)}
    if lost:
        scalars.fail(f"{len(lost)} tasks do not hold the points sent: "
                     f"{list(lost.items())[:3]} (sent, stored)")
    return Outcome(seconds, sum(sent.values()), scalars, dequeue, wakeups, ui, fed, server_cpu,
                   client_cpu)


def web_login(srv: c.ArnoServer) -> tuple[str, str]:
    """The web login ``arno server`` wrote to its config.toml on first start."""
    import tomllib

    web = tomllib.loads((srv.home / "config.toml").read_text())["web"]
    return str(web["username"]), str(web["password"])


# ---- the peer -----------------------------------------------------------------------------


async def mlflow_load(url: str, clients: int, seconds: float) -> tuple[float, Kind, float]:
    """Points per second, batch latencies and server CPU seconds of MLflow under the same
    scalar load."""
    kind = Kind("mlflow")
    setup = Kind("mlflow setup")
    async with pool(clients, url, None) as http:
        sem = asyncio.Semaphore(8)

        async def run(i: int) -> str:
            async with sem:
                r = await checked(setup, http.post("/api/2.0/mlflow/runs/create", json={
                    "experiment_id": "0", "run_name": f"client {i}",
                    "start_time": int(time.time() * 1000)}))
            return str(r.json()["run"]["info"]["run_id"]) if r is not None else ""

        runs = await asyncio.gather(*(run(i) for i in range(clients)))
        if setup.errors:
            raise RuntimeError(f"MLflow runs could not be created: {setup.errors[:3]}")
        sent: dict[str, int] = {}
        stop = asyncio.Event()

        async def client(run_id: str) -> None:
            step = 0
            while not stop.is_set():
                now = int(time.time() * 1000)
                metrics = [{"key": f"{m}/{v}", "value": 1.0 / (s + 1), "timestamp": now,
                            "step": s} for m, v in SERIES
                           for s in range(step, step + POINTS_PER_SERIES)]
                if await checked(kind, http.post("/api/2.0/mlflow/runs/log-batch", json={
                        "run_id": run_id, "metrics": metrics})) is None:
                    continue  # the peer's failures are counted, not fatal
                step += POINTS_PER_SERIES
                sent[run_id] = step * len(SERIES)

        t0 = time.perf_counter()
        tasks = [asyncio.create_task(client(r)) for r in runs]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - t0
    return sum(sent.values()) / elapsed, kind, elapsed


def peer(tmp: Path, python: str, sizes: Sizes) -> tuple[float, Kind, float] | None:
    try:
        with c.mlflow_server(tmp, python) as srv:
            cpu0 = c.cpu_seconds(srv.proc.pid) if srv.proc else 0.0
            rate, kind, _ = asyncio.run(mlflow_load(srv.url, sizes.clients, sizes.seconds))
            cpu = (c.cpu_seconds(srv.proc.pid) if srv.proc else 0.0) - cpu0
            return rate, kind, cpu
    except (RuntimeError, OSError) as exc:
        c.info(f"MLflow peer failed: {exc}")
        return None


# ---- report -------------------------------------------------------------------------------


def report(prefix: str, out: Outcome, sizes: Sizes,
           mlflow: tuple[float, Kind, float] | None) -> None:
    failed = [k for k in (out.scalars, out.dequeue, out.wakeups, out.ui) if k.errors]
    if failed:
        raise SystemExit("requests failed under load: " + "; ".join(
            f"{k.name}: {len(k.errors)} errors, first {k.errors[:3]}" for k in failed))
    peer_kind = mlflow[1] if mlflow else None
    c.report(f"{prefix}scalar_points_per_s",
             out.points / out.seconds, mlflow[0] if mlflow else None, higher_is_better=True,
             note=f"{sizes.clients} clients; {out.points:,} points in "
                  f"{len(out.scalars.latencies):,} batches, all stored")
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        c.report(f"{prefix}scalar_batch_{label}_ms", out.scalars.pct(q),
                 peer_kind.pct(q) if peer_kind else None, higher_is_better=False,
                 note="500 points a batch")
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        c.report(f"{prefix}enqueue_to_agent_{label}_ms",
                 out.wakeups.pct(q), None, higher_is_better=False,
                 note=f"{sizes.agents} agents; peer n/a: MLflow has no queues")
    for q, label in ((0.5, "p50"), (0.99, "p99")):
        c.report(f"{prefix}ui_table_{label}_ms", out.ui.pct(q), None, higher_is_better=False,
                 note="peer n/a: MLflow's UI not measured")
    c.info(f"{sizes.clients} scalar clients, {sizes.agents} agents long-polling "
           f"(wait {sizes.poll_wait:.0f} s), {out.fed} tasks fed at {sizes.feed_per_s:.0f}/s "
           f"and handed out once each, {len(out.ui.latencies)} table pages, for "
           f"{out.seconds:.1f} s; no request failed")
    c.info(f"server CPU {out.server_cpu:.1f} s, load generator CPU {out.client_cpu:.1f} s "
           f"over {out.seconds:.1f} s wall (2 cores shared by both)")
    if mlflow:
        errors = len(mlflow[1].errors)
        c.info(f"MLflow: {mlflow[1].pct(0.5) or 0:.0f}/{mlflow[1].pct(0.99) or 0:.0f} ms "
               f"p50/p99 a batch, server CPU {mlflow[2]:.1f} s, {errors} failed requests"
               + (f" (first: {mlflow[1].errors[0]})" if errors else ""))


def main() -> None:
    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--postgres", action="store_true",
                   help="also run against a fresh PostgreSQL database (ARNO_TEST_POSTGRES_URL)")
    p.add_argument("--seconds", type=float, default=None, help="length of each run")
    args = p.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.seconds:
        sizes.seconds = args.seconds
    postgres = args.postgres or bool(os.environ.get("ARNO_TEST_POSTGRES_URL"))
    c.machine_note()
    python = c.peer_or_none(args)
    with c.workdir("load") as tmp:
        mlflow = peer(tmp, python, sizes) if python else None
        with c.arno_server(tmp / "sqlite") as srv:
            out = asyncio.run(drive(srv, sizes))
        report("load_", out, sizes, mlflow)
        if postgres:
            with c.postgres_database() as db_url, \
                    c.arno_server(tmp / "pg", database_url=db_url) as srv:
                out = asyncio.run(drive(srv, sizes))
            report("load_pg_", out, sizes, mlflow)


if __name__ == "__main__":
    main()
