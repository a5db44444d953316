"""Many tasks: creating 10k tasks (5 parameters and 1 metric each), then listing the first page
of 100k tasks sorted by a metric.

Create, ours: the REST API with httpx, 4 client threads (as a sweep launcher would), each task
``POST /tasks`` with its 5 hyperparameters inline, then ``POST /tasks/{id}/events`` with one
scalar. Peer: MLflow, 4 threads, each run ``create_run`` + ``log_batch(params, metrics)`` +
``set_terminated``. Either side stops at its time budget (90 s, 45 s for the peer) and its rate
is then over the tasks it made in it.

Batch create, ours: 10k tasks (5 parameters each) through ``POST /tasks/batch`` in batches of
100, from 4 client threads, as an HPO or pipeline controller makes its trials or steps. Peer:
n/a, MLflow has no call that creates more than one run (its best is the per-run create above).

List: the 10k tasks made above plus bulk rows up to 100k, inserted straight into the same
database (SQLAlchemy Core on Arno's own table models, copying the shape of an API-made task: its
5 parameters and its metric's series and point), because making 90k more through the API would
take minutes. Then ``GET /api/v1/tasks?sort=-metric:loss/val&limit=50`` (the answer is checked:
100k in total, the largest loss first). Peer: its runs topped up the same way (rows into its own
tables: runs, tags, params, metrics, latest_metrics), then
``search_runs(order_by=["metrics.loss DESC"], max_results=50)``, over 10k runs only: the same
query over 100k runs did not finish in 10 minutes here (8.2 s at 10k, measured in-process on
its SQLite store), so its figure is over ten times fewer runs than ours.

``--postgres``: our server on a fresh PostgreSQL database (``$ARNO_TEST_POSTGRES_URL``, default
the local server) instead of SQLite; the names get a ``_postgresql`` suffix.
"""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

THREADS = 4
BATCH = 100

CLIENT_PRELUDE = """
import json, sys, threading, time, uuid
from concurrent.futures import ThreadPoolExecutor
import httpx
from arno.client import load_config

args = json.loads(sys.argv[1])
cfg = load_config()
local = threading.local()

def http():  # one client per thread
    if not hasattr(local, "c"):
        local.c = httpx.Client(base_url=cfg.host, auth=(cfg.access_key, cfg.secret_key),
                               timeout=args["http_timeout"])
    return local.c
"""

OURS_CREATE = CLIENT_PRELUDE + """
deadline = time.perf_counter() + args["budget"]
done = []

def one(i):
    if time.perf_counter() > deadline:
        return
    c = http()
    r = c.post("/api/v1/tasks", json={
        "project": "bench/tasks", "name": f"task-{i}",
        "hyperparams": [{"section": "General", "name": f"p{j}", "value": str(i * 10 + j)}
                        for j in range(5)],
    })
    r.raise_for_status()
    tid = r.json()["id"]
    r = c.post(f"/api/v1/tasks/{tid}/events", json={
        "batch_id": uuid.uuid4().hex,
        "scalars": [{"metric": "loss", "variant": "val", "iterations": [0],
                     "values": [(i * 7919 % 10007) / 10007], "timestamps": [time.time()]}],
    })
    r.raise_for_status()
    done.append(i)

t0 = time.perf_counter()
with ThreadPoolExecutor(args["threads"]) as pool:
    list(pool.map(one, range(args["tasks"])))
seconds = time.perf_counter() - t0
total = http().get("/api/v1/tasks", params={"project": "bench/tasks", "limit": 1}).json()["total"]
json.dump({"seconds": seconds, "created": len(done), "total": total}, open(sys.argv[2], "w"))
"""

OURS_BATCH = CLIENT_PRELUDE + """
def one(b):
    first = b * args["size"]
    r = http().post("/api/v1/tasks/batch", json={"tasks": [
        {"project": "bench/batch", "name": f"trial-{i}",
         "hyperparams": [{"section": "General", "name": f"p{j}", "value": str(i * 10 + j)}
                         for j in range(5)]}
        for i in range(first, first + args["size"])]})
    r.raise_for_status()
    return len(r.json()["tasks"])

t0 = time.perf_counter()
with ThreadPoolExecutor(args["threads"]) as pool:
    made = sum(pool.map(one, range(args["tasks"] // args["size"])))
seconds = time.perf_counter() - t0
total = http().get("/api/v1/tasks", params={"project": "bench/batch", "limit": 1}).json()["total"]
json.dump({"seconds": seconds, "created": made, "total": total}, open(sys.argv[2], "w"))
"""

OURS_LIST = """
import json, sys, time
import httpx
from arno.client import load_config

args = json.loads(sys.argv[1])
cfg = load_config()
times = []
with httpx.Client(base_url=cfg.host, auth=(cfg.access_key, cfg.secret_key), timeout=60) as c:
    for _ in range(args["repeat"]):
        t0 = time.perf_counter()
        r = c.get("/api/v1/tasks", params={"sort": "-metric:loss/val", "limit": 50})
        page = r.json()
        times.append(time.perf_counter() - t0)
    assert r.status_code == 200, r.text
    top = c.get(f"/api/v1/tasks/{page['items'][0]['id']}/metrics").json()
json.dump({"times": times, "total": page["total"], "items": len(page["items"]),
           "top_loss": top[0]["last"]}, open(sys.argv[2], "w"))
"""

PEER_CREATE = """
import json, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

args = json.loads(sys.argv[1])
exp = MlflowClient().create_experiment("bench-tasks")
local = threading.local()
deadline = time.perf_counter() + args["budget"]
done = []

def one(i):
    if time.perf_counter() > deadline:
        return
    if not hasattr(local, "c"):
        local.c = MlflowClient()
    c = local.c
    run = c.create_run(exp, run_name=f"task-{i}")
    rid = run.info.run_id
    c.log_batch(rid, metrics=[Metric("loss", (i * 7919 % 10007) / 10007,
                                     int(time.time() * 1000), 0)],
                params=[Param(f"p{j}", str(i * 10 + j)) for j in range(5)])
    c.set_terminated(rid)
    done.append(i)

t0 = time.perf_counter()
with ThreadPoolExecutor(args["threads"]) as pool:
    list(pool.map(one, range(args["tasks"])))
seconds = time.perf_counter() - t0
json.dump({"seconds": seconds, "created": len(done), "experiment_id": exp},
          open(sys.argv[2], "w"))
"""

PEER_LIST = """
import json, sys, time, uuid
from mlflow import MlflowClient
import sqlalchemy as sa

args = json.loads(sys.argv[1])
exp = args["experiment_id"]
engine = sa.create_engine(args["db_uri"])
md = sa.MetaData()
runs, tags, params, metrics, latest = (sa.Table(n, md, autoload_with=engine) for n in
                                       ("runs", "tags", "params", "metrics", "latest_metrics"))
with engine.begin() as conn:
    have = conn.execute(sa.select(sa.func.count()).select_from(runs)
                        .where(runs.c.experiment_id == int(exp))).scalar()
    model = conn.execute(sa.select(runs).where(runs.c.experiment_id == int(exp))
                         .limit(1)).mappings().one()
    model_tags = conn.execute(sa.select(tags).where(tags.c.run_uuid == model["run_uuid"])
                              ).mappings().all()
    need = args["target"] - have
    t0 = time.perf_counter()
    for start in range(0, need, 10000):
        batch = range(start, min(need, start + 10000))
        ids = [uuid.uuid4().hex for _ in batch]
        conn.execute(runs.insert(), [
            {**model, "run_uuid": rid, "name": f"bulk-{i}",
             "artifact_uri": model["artifact_uri"].replace(model["run_uuid"], rid)}
            for i, rid in zip(batch, ids)])
        conn.execute(tags.insert(), [
            {**t, "run_uuid": rid, "value": f"bulk-{i}" if t["key"] == "mlflow.runName"
             else t["value"]} for i, rid in zip(batch, ids) for t in model_tags])
        conn.execute(params.insert(), [
            {"key": f"p{j}", "value": str(i * 10 + j), "run_uuid": rid}
            for i, rid in zip(batch, ids) for j in range(5)])
        rows = [{"key": "loss", "value": ((i + 10**6) * 7919 % 10007) / 10007,
                 "timestamp": 1, "step": 0, "is_nan": False, "run_uuid": rid}
                for i, rid in zip(batch, ids)]
        conn.execute(metrics.insert(), rows)
        conn.execute(latest.insert(), rows)
    fill = time.perf_counter() - t0
client = MlflowClient()
times = []
for _ in range(args["repeat"]):
    t0 = time.perf_counter()
    page = client.search_runs([exp], order_by=["metrics.loss DESC"], max_results=50)
    times.append(time.perf_counter() - t0)
assert len(page) == 50
json.dump({"times": times, "runs": have + max(need, 0), "fill": fill},
          open(sys.argv[2], "w"))
"""


def bulk_fill(home: Path, target: int, database_url: str | None = None) -> tuple[int, float]:
    """Copy the shape of one API-made task into new rows until the database holds ``target``
    tasks; returns (rows added, seconds)."""
    import sqlalchemy as sa

    from arno.db.engine import normalize_url
    from arno.db.models import HyperParamRow, ScalarRow, SeriesRow, TaskRow

    engine = sa.create_engine(normalize_url(database_url or f"sqlite:///{home / 'arno.db'}"))
    t0 = time.perf_counter()
    with engine.begin() as conn:
        have = conn.execute(sa.select(sa.func.count()).select_from(TaskRow)).scalar() or 0
        model = dict(conn.execute(sa.select(TaskRow.__table__).limit(1)).mappings().one())
        series = dict(conn.execute(sa.select(SeriesRow.__table__)
                                   .where(SeriesRow.task_id == model["id"])).mappings().one())
        point = dict(conn.execute(sa.select(ScalarRow.__table__)
                                  .where(ScalarRow.series_id == series["id"])).mappings().one())
        next_sid = (conn.execute(sa.select(sa.func.max(SeriesRow.id))).scalar() or 0) + 1
        need = target - have
        for start in range(0, need, 10_000):
            batch = range(start, min(need, start + 10_000))
            ids = [uuid.uuid4().hex for _ in batch]
            sids = [next_sid + i for i in batch]
            loss = [((i + 10**6) * 7919 % 10007) / 10007 for i in batch]
            conn.execute(sa.insert(TaskRow.__table__), [
                {**model, "id": tid, "name": f"bulk-{i}",
                 "created_at": model["created_at"] - timedelta(seconds=i + 1)}
                for i, tid in zip(batch, ids, strict=True)])
            conn.execute(sa.insert(HyperParamRow.__table__), [
                {"task_id": tid, "section": "General", "name": f"p{j}",
                 "value": str(i * 10 + j), "type": "", "description": ""}
                for i, tid in zip(batch, ids, strict=True) for j in range(5)])
            conn.execute(sa.insert(SeriesRow.__table__), [
                {**series, "id": sid, "task_id": tid, "last_value": v, "min_value": v,
                 "max_value": v}
                for tid, sid, v in zip(ids, sids, loss, strict=True)])
            conn.execute(sa.insert(ScalarRow.__table__), [
                {**point, "series_id": sid, "value": v}
                for sid, v in zip(sids, loss, strict=True)])
    engine.dispose()
    return max(need, 0), time.perf_counter() - t0


def main() -> None:
    import statistics

    p = c.parser(__doc__.splitlines()[0])
    p.add_argument("--postgres", action="store_true", help="our server on PostgreSQL")
    args = p.parse_args()
    suffix = "_postgresql" if args.postgres else ""
    n_create, n_list = (500, 5_000) if args.quick else (10_000, 100_000)
    n_peer_list = min(n_list, 10_000)
    repeat = 3 if args.quick else 7
    peer_py = c.peer_or_none(args)
    c.machine_note()
    with c.workdir("tasks") as tmp:
        db = c.postgres_database() if args.postgres else nullcontext(None)
        with db as database_url, c.arno_server(tmp, database_url=database_url) as srv:
            env = srv.client_env(tmp / "client")
            cpu0 = c.cpu_seconds(srv.proc.pid)
            r = c.run_client(sys.executable, OURS_CREATE, env,
                             {"tasks": n_create, "threads": THREADS,
                              "budget": 30 if args.quick else 90, "http_timeout": 60}, cwd=tmp)
            server_cpu = c.cpu_seconds(srv.proc.pid) - cpu0
            if r["total"] != r["created"]:
                raise SystemExit(f"ours: {r['total']} tasks listed, {r['created']} made")
            added, fill_s = bulk_fill(srv.home, n_list, database_url)
            lst = c.run_client(sys.executable, OURS_LIST, env, {"repeat": repeat}, cwd=tmp)
            if lst["total"] != n_list or lst["items"] != 50:
                raise SystemExit(f"ours: listed {lst['items']} of {lst['total']} tasks")
            top = max([(i * 7919 % 10007) / 10007 for i in range(r["created"])]
                      + [((i + 10**6) * 7919 % 10007) / 10007 for i in range(added)])
            if lst["top_loss"] != top:
                raise SystemExit(f"ours: first task's loss {lst['top_loss']}, largest is {top}")
            # after the listing, which counts on every task having a metric
            cpu0 = c.cpu_seconds(srv.proc.pid)
            b = c.run_client(sys.executable, OURS_BATCH, env,
                             {"tasks": n_create, "threads": THREADS, "size": BATCH,
                              "http_timeout": 120}, cwd=tmp)
            batch_cpu = c.cpu_seconds(srv.proc.pid) - cpu0
            if b["total"] != b["created"] or b["created"] != n_create:
                raise SystemExit(f"ours: {b['total']} batch tasks listed, {b['created']} made")
        p = pl = None
        if peer_py:
            with c.mlflow_server(tmp, peer_py) as ml:
                p = c.run_client(peer_py, PEER_CREATE, ml.client_env(),
                                 {"tasks": n_create, "threads": THREADS,
                                  "budget": 15 if args.quick else 45}, cwd=tmp)
                env = {**ml.client_env(), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                       "MLFLOW_HTTP_REQUEST_TIMEOUT": "600"}
                pl = c.run_client(peer_py, PEER_LIST, env,
                                  {"experiment_id": p["experiment_id"], "target": n_peer_list,
                                   "db_uri": f"sqlite:///{ml.root / 'mlflow.db'}",
                                   "repeat": 3}, cwd=tmp)
    ours_rate = r["created"] / r["seconds"]
    peer_rate = p["created"] / p["seconds"] if p else None
    notes = [f"{who} rate over the {x['created']:,} it made in {x['seconds']:.0f} s"
             for who, x in (("ours", r), ("peer", p)) if x and x["created"] < n_create]
    c.report(f"create_tasks_per_s{suffix}", ours_rate, peer_rate, higher_is_better=True,
             note="; ".join(notes))
    c.report(f"create_tasks_batch_per_s{suffix}", b["created"] / b["seconds"], None,
             higher_is_better=True, note="peer n/a: MLflow creates one run per request")
    ours_ms = statistics.median(lst["times"]) * 1000
    peer_ms = statistics.median(pl["times"]) * 1000 if pl else None
    c.report(f"list_{n_list // 1000}k_sorted_by_metric_ms{suffix}", ours_ms, peer_ms,
             higher_is_better=False,
             note=f"peer over {pl['runs']:,} runs" if pl and pl["runs"] < n_list else "")
    c.info(f"ours: {r['created']:,} tasks in {r['seconds']:.1f} s with {THREADS} client "
           f"threads (2 requests per task; server CPU {server_cpu / r['created'] * 1000:.1f} ms "
           "per task); target >= 500 tasks/s")
    c.info(f"ours: {b['created']:,} tasks in batches of {BATCH} in {b['seconds']:.1f} s with "
           f"{THREADS} client threads (server CPU {batch_cpu / b['created'] * 1000:.2f} ms per "
           "task); target >= 500 tasks/s")
    c.info(f"ours: {added:,} tasks bulk-inserted in {fill_s:.1f} s; list median of {repeat} "
           f"(first {lst['times'][0] * 1000:.0f} ms), largest loss first "
           f"({lst['top_loss']}); target < 100 ms")
    if pl:
        c.info(f"peer: 3 requests per run; search_runs over {pl['runs']:,} runs, median of "
               f"{len(pl['times'])} (first {pl['times'][0] * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
